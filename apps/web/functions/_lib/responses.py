"""JSON answers with the error shape every endpoint uses: ``{"error": "..."}``."""

from __future__ import annotations

from typing import Any

from workers import Response


def json_response(data: Any, status: int = 200) -> Response:
    return Response.json(data, status=status)


def error(status: int, message: str, **extra: Any) -> Response:
    return Response.json({"error": message, **extra}, status=status)


def setting(env: Any, name: str, default: str | None = None) -> str | None:
    """A var or secret from ``env``; empty strings count as unset."""
    value = getattr(env, name, None)
    if value is None or value == "":
        return default
    return str(value)
