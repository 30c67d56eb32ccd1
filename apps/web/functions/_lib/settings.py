"""Reading vars and secrets from ``env`` (wrangler ``[vars]``, ``.dev.vars``, Pages secrets)."""

from __future__ import annotations

from typing import Any


def setting(env: Any, name: str, default: str | None = None) -> str | None:
    """A var or secret from ``env``; empty strings count as unset."""
    value = getattr(env, name, None)
    if value is None or value == "":
        return default
    return str(value)
