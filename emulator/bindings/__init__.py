"""The binding registry: the one place a binding type is wired in.

Each binding type lives in its own package (``emulator.bindings.queues``, ``.r2``, ``.d1``,
``.workflows``) and exposes a ``Plugin`` class implementing ``BindingPlugin``: an *engine*
that owns state under ``<state>/<name>/`` and builds the *binding objects* apps see on
``env``. Plugins are imported lazily and started only when some hosted app uses them
(LocalStack's lazy start), so `check` and the CLI stay fast.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from aiohttp import web

    from emulator.config.model import AppConfig
    from emulator.platform import Platform

# name → module holding `Plugin`; order is start order (workflows last: its steps use the rest).
PLUGIN_MODULES: dict[str, str] = {
    "d1": "emulator.bindings.d1",
    "r2": "emulator.bindings.r2",
    "queues": "emulator.bindings.queues",
    "workflows": "emulator.bindings.workflows",
}


class BindingPlugin(ABC):
    """One binding type: engine lifecycle, env bindings, inspection API."""

    name: ClassVar[str]

    def __init__(self, platform: "Platform") -> None:
        self.platform = platform

    @staticmethod
    @abstractmethod
    def used_by(app: "AppConfig") -> bool:
        """Whether this app's config declares a binding of this type."""

    async def start(self) -> None:
        """Open state, restore persisted work, start timers."""

    async def stop(self) -> None:
        """Stop timers and close state; unfinished work stays persisted."""

    @abstractmethod
    def bindings_for(self, app: "AppConfig") -> dict[str, Any]:
        """Binding objects for this app's `env`, keyed by binding name."""

    def routes(self) -> "list[web.RouteDef]":
        """Inspection routes, mounted under ``/_emulator/<name>``."""
        return []

    def health(self) -> dict[str, Any]:
        return {"state": "running"}

    def is_idle(self) -> bool:
        """True when no work is pending, runnable or in flight (for `drain()`)."""
        return True


def load_plugin(name: str) -> type[BindingPlugin]:
    module = importlib.import_module(PLUGIN_MODULES[name])
    plugin: type[BindingPlugin] = module.Plugin
    return plugin
