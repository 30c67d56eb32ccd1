"""JavaScript value semantics over parsed config values, for porting wrangler's checks.

Wrangler's rules are written against JS values: ``typeof`` (where ``null`` is an
``"object"`` and a missing key is ``undefined``), ``JSON.stringify`` in messages, and ``??``
treating ``null`` like ``undefined``. These helpers give the same answers for values parsed
from TOML (``tomllib``) and JSON(C).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from emulator.config.jsonc import dumps_js


class _Undefined:
    """JavaScript's ``undefined``: a key that is not there."""

    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "undefined"

    def __bool__(self) -> bool:
        return False


UNDEF: Any = _Undefined()


def typeof(value: Any) -> str:
    """What JavaScript's ``typeof`` says of ``value`` once converted to JS: for parsed config
    values (a missing key is ``UNDEF``), and for what apps hand to bindings (messages, bound
    parameters), which quote it in their errors."""
    if value is UNDEF:
        return "undefined"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if callable(value):
        return "function"
    return "object"  # dict, list, None (null), bytes, TOML dates


def get(target: Any, key: str) -> Any:
    """``target[key]`` with JS semantics for records (missing → undefined)."""
    if isinstance(target, dict):
        return target.get(key, UNDEF)
    return UNDEF


def has(target: Any, key: str) -> bool:
    """``key in target`` for records."""
    return isinstance(target, dict) and key in target


def nullish(value: Any) -> bool:
    return value is UNDEF or value is None


def coalesce(*values: Any) -> Any:
    """``a ?? b ?? c``."""
    for v in values:
        if not nullish(v):
            return v
    return values[-1] if values else UNDEF


def is_record(value: Any) -> bool:
    return isinstance(value, dict)


def is_date(value: Any) -> bool:
    return isinstance(value, (_dt.date, _dt.datetime, _dt.time))


def truthy(value: Any) -> bool:
    """JS truthiness (objects and arrays are truthy even when empty)."""
    if value is UNDEF or value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0 and value == value
    if isinstance(value, str):
        return value != ""
    return True


def stringify(value: Any) -> str:
    """``JSON.stringify(value)``; ``undefined`` yields the text ``undefined`` as in a template."""
    if value is UNDEF:
        return "undefined"
    return dumps_js(value, undefined=UNDEF)


def keys(value: Any) -> list[str]:
    """``Object.keys`` for records (and indexes for arrays/strings, as JS does)."""
    if isinstance(value, dict):
        return [str(k) for k in value]
    if isinstance(value, (list, str)):
        return [str(i) for i in range(len(value))]
    return []


def english_list(items: list[str]) -> str:
    """``Intl.ListFormat("en", {type: "conjunction"})``: "A and B", "A, B, and C"."""
    if len(items) <= 1:
        return "".join(items)
    if len(items) == 2:
        return f"{items[0]} and {items[1]}"
    return ", ".join(items[:-1]) + ", and " + items[-1]
