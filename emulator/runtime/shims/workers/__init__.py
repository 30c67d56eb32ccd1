"""cf-emulator's stand-in for Cloudflare's Python Workers SDK (the ``workers`` module).

The real SDK (PyPI ``workers-runtime-sdk``) only runs inside Pyodide; apps hosted by
cf-emulator import this module instead, with the same public names
(python-ecosystem.md §1.1-1.4). ``env`` and ``wait_until`` / ``waitUntil`` are looked up
lazily for the event being handled (module ``__getattr__``), as in the real SDK.
"""

from __future__ import annotations

from typing import Any

from emulator.jsobject import JsObject
from emulator.runtime.entrypoints import WorkerEntrypoint, handler
from emulator.runtime.http import Blob, File, FormData, Headers, Request, Response, fetch

__all__ = [
    "Blob",
    "DurableObject",
    "File",
    "FormData",
    "Headers",
    "JsObject",
    "Request",
    "Response",
    "WorkerEntrypoint",
    "WorkflowEntrypoint",
    "fetch",
    "handler",
    "import_from_javascript",
    "python_from_rpc",
    "python_to_rpc",
]


def import_from_javascript(module_name: str) -> Any:
    raise ImportError(
        f"import_from_javascript({module_name!r}) is not available in cf-emulator: apps run on "
        "CPython, not Pyodide, so there is no JavaScript module to import. Use the `workers` "
        "module API (Request, Response, fetch, self.env bindings) instead."
    )


def python_to_rpc(value: Any) -> Any:
    """Identity: bindings already take Python values here."""
    return value


def python_from_rpc(value: Any) -> Any:
    """Identity: binding results are already Python (``JsObject`` dicts)."""
    return value


def __getattr__(name: str) -> Any:
    if name == "WorkflowEntrypoint":
        from emulator.bindings.workflows.entrypoint import WorkflowEntrypoint

        return WorkflowEntrypoint
    if name == "DurableObject":
        from emulator.bindings.durable_objects.entrypoint import DurableObject

        return DurableObject
    if name in ("env", "wait_until", "waitUntil"):
        from emulator.runtime.invocation import current

        inv = current.get()
        if inv is None:
            raise RuntimeError(
                f"workers.{name} is only available while app code runs (inside a handler or "
                "while the app's modules are imported)"
            )
        return inv.env if name == "env" else inv.ctx.waitUntil
    raise AttributeError(f"module 'workers' has no attribute {name!r}")
