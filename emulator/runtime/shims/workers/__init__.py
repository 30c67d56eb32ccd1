"""cf-emulator's ``workers`` module: the public API of Cloudflare's Python Workers SDK.

The real SDK (PyPI ``workers-runtime-sdk``, 1.9.5 mirrored here) calls into JavaScript and
only runs inside Pyodide; apps hosted by cf-emulator import this package instead, which
has the same public names and signatures (``tests/runtime/test_sdk_parity.py`` compares
them with the published package) on top of the emulator's runtime. See
docs/python-workers.md for what each name does locally and what differs from production.

``env``, ``wait_until`` and ``waitUntil`` are looked up when read (module ``__getattr__``),
for the event being handled, as in the SDK.
"""

from __future__ import annotations

from typing import Any

from emulator.bindings.workflows.entrypoint import WorkflowEntrypoint
from emulator.runtime.entrypoints import DurableObject, WorkerEntrypoint, handler
from emulator.runtime.http import (
    Blob,
    BlobEnding,
    FetchResponse,
    File,
    FormData,
    Request,
    Response,
    fetch,
)

from .rpc import python_from_rpc, python_to_rpc
from .types import Body, Context, FetchKwargs, Headers, JSBody, RequestInitCfProperties
from .utils import import_from_javascript, patch_env

# The SDK's aliases for values Blob and FormData accept (strings: they name JS types).
BlobValue = "str | bytes | js.ArrayBuffer | js.TypedArray | js.DataView | js.Blob | Blob | File"
FormDataValue = "str | js.Blob | Blob"

__all__ = [
    "Blob",
    "BlobEnding",
    "BlobValue",
    "Body",
    "Context",
    "DurableObject",
    "FetchKwargs",
    "FetchResponse",
    "File",
    "FormData",
    "FormDataValue",
    "Headers",
    "JSBody",
    "Request",
    "RequestInitCfProperties",
    "Response",
    "WorkerEntrypoint",
    "WorkflowEntrypoint",
    "env",
    "fetch",
    "handler",
    "import_from_javascript",
    "patch_env",
    "python_from_rpc",
    "python_to_rpc",
    "waitUntil",
    "wait_until",
]


def __getattr__(name: str) -> Any:
    if name == "env":
        from .utils import current_env

        return current_env()
    if name in ("wait_until", "waitUntil"):
        from emulator.runtime.invocation import current

        inv = current.get()
        if inv is None:
            raise RuntimeError(
                f"workers.{name} is only available while app code runs (inside a handler or "
                "while the app's modules are imported)")
        return inv.ctx.waitUntil
    raise AttributeError(f"module 'workers' has no attribute {name!r}")
