"""KV's errors, with the platform's texts (docs/kv.md, "Errors").

Key checks happen in the runtime before any I/O (``TypeError``: empty key, ``.``/``..``);
everything else comes back from the KV service as ``KV <OP> failed: <status> <text>``.
"""

from __future__ import annotations

from emulator.errors import JsError


class KVError(JsError):
    """A KV call failed; ``name`` is the JS error's (``TypeError`` or ``Error``)."""


def service_error(op: str, status: int, text: str) -> KVError:
    """``KV <OP> failed: <status> <text>`` (OP: GET, GET_BULK, PUT, DELETE)."""
    return KVError(f"KV {op} failed: {status} {text}")
