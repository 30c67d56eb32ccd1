"""Workflows: durable multi-step instances (Cloudflare Workflows) for hosted apps.

``api`` is what workflow code imports (through the ``workers`` shim) and stays light;
``engine`` owns the state (SQLite under ``<state>/workflows/``); ``binding`` is what apps
see on ``env``; ``routes`` is the ``/_emulator/workflows`` inspection API; ``plugin`` wires
them into the platform. ``Plugin`` is imported lazily so ``from
emulator.bindings.workflows.api import WorkflowEntrypoint`` pulls in nothing heavy.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Plugin"]


def __getattr__(name: str) -> Any:
    if name == "Plugin":
        from emulator.bindings.workflows.plugin import Plugin
        return Plugin
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
