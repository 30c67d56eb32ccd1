"""JSON answers with the error shape every endpoint uses: ``{"error": "..."}``."""

from __future__ import annotations

from typing import Any

from workers import Response


def json_response(data: Any, status: int = 200) -> Response:
    return Response.json(data, status=status)


def error(status: int, message: str, **extra: Any) -> Response:
    return Response.json({"error": message, **extra}, status=status)
