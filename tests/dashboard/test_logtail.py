"""LogTail: numbered records, waiting for new ones, wake-ups from other threads, close."""

from __future__ import annotations

import asyncio
import threading

from emulator.dashboard.logtail import LogTail, record_json
from emulator.logs import EventLog


def test_numbers_records_and_includes_earlier_ones() -> None:
    log = EventLog()
    log.info("dev", "before mount")
    tail = LogTail(log)
    log.warn("queues", "after mount", queue="q")
    items = tail.since(0)
    assert [(seq, r.message) for seq, r in items] == [(1, "before mount"), (2, "after mount")]
    assert [r.message for _, r in tail.since(1)] == ["after mount"]
    wire = record_json(*items[1])
    assert wire["seq"] == 2 and wire["level"] == "warn" and wire["fields"] == {"queue": "q"}


def test_capacity_keeps_the_newest() -> None:
    log = EventLog()
    tail = LogTail(log, capacity=3)
    for i in range(5):
        log.info("x", f"m{i}")
    assert [(s, r.message) for s, r in tail.since(0)] == [(3, "m2"), (4, "m3"), (5, "m4")]
    assert tail.last_seq == 5


async def test_wait_returns_when_a_record_arrives() -> None:
    log = EventLog()
    tail = LogTail(log)
    waiter = asyncio.create_task(tail.wait(0, timeout=5))
    await asyncio.sleep(0.01)
    assert not waiter.done()
    log.info("http", "GET /")
    records = await asyncio.wait_for(waiter, 1)
    assert [r.message for _, r in records] == ["GET /"]


async def test_wait_is_woken_from_another_thread() -> None:
    log = EventLog()
    tail = LogTail(log)
    waiter = asyncio.create_task(tail.wait(0, timeout=5))
    await asyncio.sleep(0.01)
    thread = threading.Thread(target=lambda: log.info("app:web", "printed in a thread"))
    thread.start()
    records = await asyncio.wait_for(waiter, 1)
    thread.join()
    assert [r.message for _, r in records] == ["printed in a thread"]


async def test_wait_times_out_empty_and_close_ends_waiters() -> None:
    log = EventLog()
    tail = LogTail(log)
    assert await tail.wait(0, timeout=0.02) == []
    waiter = asyncio.create_task(tail.wait(0, timeout=5))
    await asyncio.sleep(0.01)
    tail.close()
    assert await asyncio.wait_for(waiter, 1) == []
    log.info("x", "after close")  # unsubscribed: not recorded
    assert tail.since(0) == []


def test_numbers_continue_from_the_mount_and_skip_what_the_log_dropped() -> None:
    log = EventLog(capacity=2)
    for i in range(3):
        log.info("x", f"early{i}")  # the log's ring keeps early1 and early2
    tail = LogTail(log)
    assert [(s, r.message) for s, r in tail.since(0)] == [(1, "early1"), (2, "early2")]
    log.info("x", "late")
    # The log's ring holds two records: what it dropped cannot be shown any more.
    assert [(s, r.message) for s, r in tail.since(0)] == [(2, "early2"), (3, "late")]
    assert [(s, r.message) for s, r in tail.since(2, limit=5)] == [(3, "late")]
    assert tail.since(3) == []
    assert tail.last_seq == 3
