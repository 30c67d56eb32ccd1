"""One clock for every timer in the emulator.

Every batch timeout, retry delay, delivery delay, workflow sleep and cron goes through a
``Clock`` so that tests can drive time with ``FakeClock.advance()`` instead of sleeping
(the same idea as Miniflare's injected ``Timers``).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Any, Protocol
from collections.abc import Callable


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """Wall-clock time in seconds since the epoch, plus timers on that time line."""

    def now(self) -> float: ...

    def now_ms(self) -> int: ...

    async def sleep(self, seconds: float) -> None: ...

    def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle: ...

    def call_at(self, when: float, callback: Callable[[], object]) -> TimerHandle: ...


class RealClock:
    """The machine's clock; timers are asyncio timers on the running loop."""

    def now(self) -> float:
        return time.time()

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle:
        return asyncio.get_running_loop().call_later(max(0.0, delay), callback)

    def call_at(self, when: float, callback: Callable[[], object]) -> TimerHandle:
        return self.call_later(when - self.now(), callback)


class Deadline:
    """Cancels ``task`` (the running task by default) once ``seconds`` have passed on ``clock``,
    unless ``cancel()`` came first. ``expired`` tells the ``CancelledError`` it causes from
    any other cancellation (a critical section's or an alarm's wall-time limit, a step's
    timeout)."""

    __slots__ = ("expired", "_task", "_timer")

    def __init__(self, clock: Clock, seconds: float, task: asyncio.Future[Any] | None = None) -> None:
        self.expired = False
        self._task = task if task is not None else asyncio.current_task()
        self._timer = clock.call_later(seconds, self._expire)

    def _expire(self) -> None:
        if self._task is not None and not self._task.done():
            self.expired = True
            self._task.cancel()

    def cancel(self) -> None:
        """Disarm (the work finished, or failed otherwise)."""
        self._timer.cancel()


class _FakeTimer:
    __slots__ = ("when", "seq", "callback", "cancelled")

    def __init__(self, when: float, seq: int, callback: Callable[[], object]) -> None:
        self.when = when
        self.seq = seq
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: _FakeTimer) -> bool:
        return (self.when, self.seq) < (other.when, other.seq)


class FakeClock:
    """A clock that only moves when told to.

    ``await clock.advance(s)`` fires every timer due within the next ``s`` seconds, in
    order, letting the event loop run the work each timer starts before moving on, so a
    test reads like Miniflare's: "send 3 → advance 0.5 → assert nothing → advance 0.5 →
    assert one batch".
    """

    def __init__(self, start: float = 1_000.0) -> None:
        self._now = float(start)
        self._timers: list[_FakeTimer] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def now_ms(self) -> int:
        return round(self._now * 1000)

    def call_at(self, when: float, callback: Callable[[], object]) -> TimerHandle:
        timer = _FakeTimer(max(when, self._now), next(self._seq), callback)
        heapq.heappush(self._timers, timer)
        return timer

    def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle:
        return self.call_at(self._now + max(0.0, delay), callback)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not fut.done():
                fut.set_result(None)

        handle = self.call_later(seconds, wake)
        try:
            await fut
        finally:
            handle.cancel()

    def pending(self) -> int:
        """Timers still waiting to fire."""
        return sum(1 for t in self._timers if not t.cancelled)

    def next_deadline(self) -> float | None:
        for t in sorted(self._timers):
            if not t.cancelled:
                return t.when
        return None

    async def settle(self, rounds: int = 50) -> None:
        """Let the loop run the work already started (no time passes)."""
        for _ in range(rounds):
            await asyncio.sleep(0)
        # Work that went to a thread (SQLite off the loop) needs real time to come back.
        await asyncio.sleep(0.001)
        for _ in range(rounds):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        target = self._now + max(0.0, seconds)
        await self.settle()
        while True:
            while self._timers and self._timers[0].cancelled:
                heapq.heappop(self._timers)
            if not self._timers or self._timers[0].when > target:
                break
            timer = heapq.heappop(self._timers)
            self._now = max(self._now, timer.when)
            timer.callback()
            await self.settle()
        self._now = target
        await self.settle()
