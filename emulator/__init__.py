"""cf-emulator: a local, durable emulator of Cloudflare Pages, Workers, Queues, R2, D1 and Workflows."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
