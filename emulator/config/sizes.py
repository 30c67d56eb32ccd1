"""Byte sizes as command-line flags and config files spell them (``200MB``, ``1GiB``, ``4096``)."""

from __future__ import annotations

import re
from typing import Any

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}


def parse_size(value: Any) -> int:
    """A byte count: an integer, or a string such as ``"200MB"``, ``"1.5 GiB"``, ``"4096"``.

    MB/GB are decimal (as Cloudflare writes its limits), MiB/GiB binary. Raises
    ``ValueError`` for anything else, or for a size below one byte.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a size in bytes, got {value!r}")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str):
        match = _SIZE.fullmatch(value)
        if match is None:
            raise ValueError(f"expected a size such as 200MB, 1GiB or 104857600, got {value!r}")
        number, unit = match.groups()
        scale = _UNITS[(unit or "b").lower()]
        whole, _, fraction = number.partition(".")
        # Integer arithmetic: a float would round (or overflow on a long string of digits).
        size = int(whole) * scale + (int(fraction) * scale // 10 ** len(fraction) if fraction else 0)
    else:
        raise ValueError(f"expected a size in bytes, got {value!r}")
    if size < 1:
        raise ValueError(f"a size must be at least 1 byte, got {value!r}")
    return size
