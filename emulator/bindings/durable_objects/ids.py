"""Durable Object ids: ``DurableObjectId`` and the per-namespace factory that makes them.

The scheme is workerd's local one (docs/durable_objects.md, "Namespace and stubs"), so an id is the same
64 hex digits ``wrangler dev`` would give for the same Worker and class:

- the namespace key is SHA-256 of its unique key, ``"<script>-<ClassName>"``;
- ``idFromName(name)``: the first 16 bytes of HMAC-SHA256(key, name), then the first 16
  bytes of HMAC-SHA256(key, those 16 bytes);
- ``newUniqueId()``: 16 random bytes, then the same MAC;
- ``idFromString(hex)`` checks the MAC: an id of another namespace is refused.

Production ids are also 64 hex digits but derived differently: never compare the two.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any

from emulator.bindings.durable_objects.errors import DurableObjectError
from emulator.bindings.durable_objects.serialize import js_string

BASE_LENGTH = 16
_HEX = frozenset("0123456789abcdefABCDEF")
_JURISDICTION = "Jurisdiction restrictions are not implemented in workerd."


class DurableObjectId:
    """An object's identity: ``toString()`` (64 lowercase hex digits), ``equals()``, ``name``.

    ``str(id)`` is the hex too, and ids compare and hash by value (conveniences of ours:
    in production ``==`` compares the JS proxies).
    """

    __slots__ = ("_hex", "name", "_namespace")

    def __init__(self, hex_id: str, name: str | None, namespace: str) -> None:
        self._hex = hex_id
        self.name = name
        self._namespace = namespace

    @property
    def jurisdiction(self) -> None:
        return None

    def toString(self) -> str:  # noqa: N802 - JS spelling
        return self._hex


    def equals(self, other: Any) -> bool:
        return isinstance(other, DurableObjectId) and other._hex == self._hex

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DurableObjectId) and other._hex == self._hex

    def __hash__(self) -> int:
        return hash(self._hex)

    def __str__(self) -> str:
        return self._hex

    def __repr__(self) -> str:
        return f"DurableObjectId({self._hex}{f', name={self.name!r}' if self.name is not None else ''})"


def _name_text(name: Any) -> str:
    """A name as the runtime converts it to a string (numbers and booleans are coerced)."""
    if isinstance(name, str):
        return name
    if isinstance(name, bool):
        return "true" if name else "false"
    if isinstance(name, (int, float)):
        return js_string(name)
    raise DurableObjectError(f"Durable Object name must be a string, got {type(name).__name__}.", "TypeError")


class IdFactory:
    """The ids of one namespace (its unique key is ``"<script>-<ClassName>"``)."""

    def __init__(self, unique_key: str) -> None:
        self.unique_key = unique_key
        self._key = hashlib.sha256(unique_key.encode("utf-8")).digest()

    def _mac(self, base: bytes) -> bytes:
        return hmac.new(self._key, base, hashlib.sha256).digest()[:BASE_LENGTH]

    def from_name(self, name: Any) -> DurableObjectId:
        text = _name_text(name)
        base = hmac.new(self._key, text.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()[:BASE_LENGTH]
        return DurableObjectId((base + self._mac(base)).hex(), text, self.unique_key)

    def new_unique(self, options: Any = None) -> DurableObjectId:
        if isinstance(options, dict) and options.get("jurisdiction") is not None:
            raise DurableObjectError(_JURISDICTION)
        base = os.urandom(BASE_LENGTH)
        return DurableObjectId((base + self._mac(base)).hex(), None, self.unique_key)

    def from_string(self, text: Any) -> DurableObjectId:
        if not isinstance(text, str) or len(text) != 64 or not _HEX.issuperset(text):
            raise DurableObjectError("Invalid Durable Object ID: must be 64 hex digits", "TypeError")
        raw = bytes.fromhex(text)
        if not hmac.compare_digest(self._mac(raw[:BASE_LENGTH]), raw[BASE_LENGTH:]):
            raise DurableObjectError("Durable Object ID is not valid for this namespace.", "TypeError")
        return DurableObjectId(raw.hex(), None, self.unique_key)

    def owns(self, object_id: DurableObjectId) -> bool:
        return object_id._namespace == self.unique_key

    def stored(self, hex_id: str, name: str | None) -> DurableObjectId:
        """An id read back from the state directory (already validated when it was made)."""
        return DurableObjectId(hex_id, name, self.unique_key)


JURISDICTION_ERROR = _JURISDICTION
