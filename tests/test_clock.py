"""The clock: FakeClock fires timers in order only when advanced; RealClock is the machine's;
Deadline cancels a task on the clock's time line."""

from __future__ import annotations

import asyncio

import pytest

from emulator.clock import Deadline, FakeClock, RealClock


async def test_fake_clock_fires_due_timers_in_order_and_only_when_advanced() -> None:
    clock = FakeClock(start=100.0)
    fired: list[tuple[str, float]] = []
    clock.call_later(2.0, lambda: fired.append(("b", clock.now())))
    clock.call_later(1.0, lambda: fired.append(("a", clock.now())))
    late = clock.call_later(5.0, lambda: fired.append(("late", clock.now())))
    assert clock.pending() == 3 and clock.next_deadline() == 101.0
    await clock.advance(0.5)
    assert fired == [] and clock.now() == 100.5
    await clock.advance(2.0)
    assert fired == [("a", 101.0), ("b", 102.0)]
    assert clock.now() == 102.5 and clock.now_ms() == 102_500
    late.cancel()
    await clock.advance(10)
    assert [name for name, _ in fired] == ["a", "b"]
    assert clock.pending() == 0


async def test_fake_sleep_wakes_after_advance_and_work_started_by_a_timer_runs() -> None:
    clock = FakeClock()
    events: list[str] = []

    async def sleeper() -> None:
        await clock.sleep(3)
        events.append("woke")
        await clock.sleep(1)  # scheduled while advance() is running: fires within the same advance
        events.append("woke again")

    task = asyncio.create_task(sleeper())
    await clock.advance(2.9)
    assert events == []
    await clock.advance(2)
    assert events == ["woke", "woke again"]
    await task


async def test_call_at_in_the_past_fires_at_the_next_advance() -> None:
    clock = FakeClock(start=50.0)
    fired: list[float] = []
    clock.call_at(10.0, lambda: fired.append(clock.now()))
    await clock.advance(0)
    assert fired == [50.0]


async def test_real_clock_timers_run_on_the_loop() -> None:
    clock = RealClock()
    done = asyncio.Event()
    clock.call_later(0.001, done.set)
    await asyncio.wait_for(done.wait(), 2)
    assert abs(clock.now() * 1000 - clock.now_ms()) < 1000


async def test_deadline_cancels_the_running_task_once_the_clock_passes_it() -> None:
    clock = FakeClock()
    outcome: list[bool] = []

    async def work() -> None:
        deadline = Deadline(clock, 5.0)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            outcome.append(deadline.expired)
            raise
        finally:
            deadline.cancel()

    task = asyncio.ensure_future(work())
    await clock.settle()
    await clock.advance(4.9)
    assert not task.done()
    await clock.advance(0.2)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert outcome == [True]


async def test_deadline_tells_other_cancellations_apart_and_disarms() -> None:
    clock = FakeClock()
    never = asyncio.ensure_future(asyncio.Event().wait())
    deadline = Deadline(clock, 5.0, never)
    never.cancel()
    await clock.advance(10)
    assert not deadline.expired  # cancelled by someone else first

    done = asyncio.ensure_future(asyncio.sleep(0))
    disarmed = Deadline(clock, 5.0, done)
    await done
    disarmed.cancel()
    assert clock.pending() == 0 and not disarmed.expired
