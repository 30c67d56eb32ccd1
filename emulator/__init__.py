"""cf-emulator: a local, durable emulator of Cloudflare Pages, Workers, Queues, R2, D1 and Workflows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emulator.clock import FakeClock, RealClock

if TYPE_CHECKING:
    from emulator.emulator import Emulator

__version__ = "0.1.0"

__all__ = ["__version__", "Emulator", "FakeClock", "RealClock"]


def __getattr__(name: str) -> Any:
    # `Emulator` pulls in aiohttp and the runtime; imported lazily so `check` stays fast.
    if name == "Emulator":
        from emulator.emulator import Emulator

        return Emulator
    raise AttributeError(f"module 'emulator' has no attribute {name!r}")
