"""``workers.gateway``: options shared by the ASGI and WSGI adapters."""

from __future__ import annotations

from .options import BaseOptions, EncodeBody

__all__ = ["BaseOptions", "EncodeBody"]
