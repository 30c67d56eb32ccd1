"""cf-emulator: a local, durable emulator of Cloudflare Pages, Workers, Queues, R2, D1 and Workflows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulator.clock import FakeClock, RealClock
    from emulator.emulator import Emulator

__version__ = "0.1.0"

__all__ = ["__version__", "Emulator", "FakeClock", "RealClock"]


def __getattr__(name: str) -> Any:
    # Imported on first use so that `cf-emulator check` and `--help` start fast: `Emulator`
    # pulls in aiohttp and the runtime, the clocks asyncio (bench/startup.py measures it).
    if name == "Emulator":
        from emulator.emulator import Emulator

        return Emulator
    if name in ("FakeClock", "RealClock"):
        from emulator import clock

        return getattr(clock, name)
    raise AttributeError(f"module 'emulator' has no attribute {name!r}")
