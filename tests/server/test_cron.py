"""Cron expressions (UTC, Cloudflare's field syntax) and the clock-driven scheduler."""

from __future__ import annotations

import datetime as dt

import pytest

from emulator.clock import FakeClock
from emulator.cron import CronError, CronExpression, CronScheduler


def ts(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


def iso(value: float) -> str:
    return dt.datetime.fromtimestamp(value, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")


def runs(expr: str, start: str, n: int = 3) -> list[str]:
    cron = CronExpression.parse(expr)
    out, t = [], ts(start)
    for _ in range(n):
        t = cron.next_after(t)
        out.append(iso(t))
    return out


@pytest.mark.parametrize(
    ("expr", "start", "expected"),
    [
        ("* * * * *", "2026-01-01 00:00:30", ["2026-01-01 00:01", "2026-01-01 00:02", "2026-01-01 00:03"]),
        ("*/5 * * * *", "2026-01-01 00:03", ["2026-01-01 00:05", "2026-01-01 00:10", "2026-01-01 00:15"]),
        ("0 * * * *", "2026-01-01 00:00", ["2026-01-01 01:00", "2026-01-01 02:00", "2026-01-01 03:00"]),
        ("30 9-10 * * *", "2026-03-01 10:45", ["2026-03-02 09:30", "2026-03-02 10:30", "2026-03-03 09:30"]),
        ("0 0,12 1 * *", "2026-01-01 06:00", ["2026-01-01 12:00", "2026-02-01 00:00", "2026-02-01 12:00"]),
        ("0 0 1 jan,JUL *", "2026-02-01 00:00", ["2026-07-01 00:00", "2027-01-01 00:00", "2027-07-01 00:00"]),
        # Cloudflare numbers weekdays 1 = Sunday: `mon-fri` is `2-6`.
        ("10 7 * * mon-fri", "2026-11-27 08:00", ["2026-11-30 07:10", "2026-12-01 07:10", "2026-12-02 07:10"]),
        ("10 7 * * 2-6", "2026-11-27 08:00", ["2026-11-30 07:10", "2026-12-01 07:10", "2026-12-02 07:10"]),
        ("0 17 * * sun", "2026-11-28 00:00", ["2026-11-29 17:00", "2026-12-06 17:00", "2026-12-13 17:00"]),
        ("0 17 * * 1", "2026-11-28 00:00", ["2026-11-29 17:00", "2026-12-06 17:00", "2026-12-13 17:00"]),
        ("0 0 L * *", "2026-01-15 00:00", ["2026-01-31 00:00", "2026-02-28 00:00", "2026-03-31 00:00"]),
        ("0 0 LW * *", "2026-01-01 00:00", ["2026-01-30 00:00", "2026-02-27 00:00", "2026-03-31 00:00"]),
        # 2026-02-15 is a Sunday: nearest weekday is Monday the 16th.
        ("0 0 15W * *", "2026-02-01 00:00", ["2026-02-16 00:00", "2026-03-16 00:00", "2026-04-15 00:00"]),
        # The first Monday (2#1) and the last Friday (6L) of the month.
        ("0 0 * * 2#1", "2026-01-01 00:00", ["2026-01-05 00:00", "2026-02-02 00:00", "2026-03-02 00:00"]),
        ("0 0 * * 6L", "2026-01-01 00:00", ["2026-01-30 00:00", "2026-02-27 00:00", "2026-03-27 00:00"]),
        ("@daily", "2026-01-01 00:00", ["2026-01-02 00:00", "2026-01-03 00:00", "2026-01-04 00:00"]),
        ("@hourly", "2026-01-01 00:59", ["2026-01-01 01:00", "2026-01-01 02:00", "2026-01-01 03:00"]),
        ("0 0 29 2 *", "2026-01-01 00:00", ["2028-02-29 00:00", "2032-02-29 00:00", "2036-02-29 00:00"]),
        ("5/20 * * * *", "2026-01-01 00:00", ["2026-01-01 00:05", "2026-01-01 00:25", "2026-01-01 00:45"]),
    ],
)
def test_next_fire_times_in_utc(expr: str, start: str, expected: list[str]) -> None:
    assert runs(expr, start) == expected


def test_both_day_fields_restricted_match_either() -> None:
    # Vixie cron: day-of-month 1 OR Sundays.
    assert runs("0 0 1 * sun", "2026-11-27 00:00", 3) == ["2026-11-29 00:00", "2026-12-01 00:00", "2026-12-06 00:00"]


@pytest.mark.parametrize(
    "expr",
    ["", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8",
     "*/0 * * * *", "5-1 * * * *", "a * * * *", "* * * foo *", "1,,2 * * * *", "* * * * 2#6"],
)
def test_invalid_expressions_are_refused(expr: str) -> None:
    with pytest.raises(CronError):
        CronExpression.parse(expr)


def test_impossible_expression_never_fires() -> None:
    with pytest.raises(CronError, match="never fires"):
        CronExpression.parse("0 0 31 2 *").next_after(ts("2026-01-01 00:00"))


async def test_scheduler_fires_on_the_fake_clock() -> None:
    clock = FakeClock(start=ts("2026-01-01 00:00:30"))
    fired: list[tuple[str, str, int]] = []

    async def handler(cron: str, when_ms: int) -> None:
        fired.append(("a", cron, when_ms))

    scheduler = CronScheduler(clock)
    scheduler.add("a", "*/5 * * * *", handler)
    scheduler.start()
    await clock.advance(60)
    assert fired == []
    await clock.advance(4 * 60)  # now 00:05:30
    assert [iso(ms / 1000) for _, _, ms in fired] == ["2026-01-01 00:05"]
    await clock.advance(3600)
    assert len(fired) == 1 + 12
    assert all(ms % 300_000 == 0 for _, _, ms in fired)
    await scheduler.stop()
    await clock.advance(3600)
    assert len(fired) == 13


async def test_a_failing_handler_keeps_the_schedule() -> None:
    clock = FakeClock(start=ts("2026-01-01 00:00"))
    errors: list[str] = []
    calls = 0

    async def boom(cron: str, when_ms: int) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("nope")

    scheduler = CronScheduler(clock, on_error=lambda owner, cron, exc: errors.append(f"{owner} {cron} {exc}"))
    scheduler.add("w", "* * * * *", boom)
    scheduler.start()
    await clock.advance(180)
    assert calls == 3
    assert errors == ["w * * * * * nope"] * 3
    scheduler.remove_owner("w")
    await clock.advance(180)
    assert calls == 3
    await scheduler.stop()
