"""KV's errors, with the platform's texts (docs/kv.md, "Limits and errors").

Key checks happen in the runtime before any I/O (``TypeError``: empty key, ``.``/``..``);
everything else comes back from the KV service as ``KV <OP> failed: <status> <text>``.
"""

from __future__ import annotations

from emulator.runtime.jsproxy import JsException


class KVError(JsException):
    """A KV call failed; ``name`` is the JS error's (``TypeError`` or ``Error``).

    A ``pyodide.ffi.JsException``, as production raises KV's errors into Python.
    """

    def __init__(self, message: str, name: str = "Error") -> None:
        super().__init__(name, message)


def service_error(op: str, status: int, text: str) -> KVError:
    """``KV <OP> failed: <status> <text>`` (OP: GET, GET_BULK, PUT, DELETE)."""
    return KVError(f"KV {op} failed: {status} {text}")
