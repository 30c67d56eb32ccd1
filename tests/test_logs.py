"""EventLog: numbered records in a ring, subscribers, reading after a number; ConsolePrinter."""

from __future__ import annotations

import io
import json
import threading

from emulator.logs import ConsolePrinter, EventLog, LogRecord


def test_records_are_numbered_in_order_and_read_after_a_number() -> None:
    log = EventLog(capacity=3)
    records = [log.info("x", f"m{i}", i=i) for i in range(5)]
    assert [r.seq for r in records] == [1, 2, 3, 4, 5]
    assert log.last_seq == 5
    # The ring keeps the newest three; `after` reads only what it still holds.
    assert [r.message for r in log.after(0)] == ["m2", "m3", "m4"]
    assert [r.message for r in log.after(3)] == ["m3", "m4"]
    assert [r.message for r in log.after(3, upto=4)] == ["m3"]
    assert log.after(5) == []


def test_subscribers_get_every_record_until_they_unsubscribe() -> None:
    log = EventLog()
    seen: list[str] = []
    other: list[str] = []
    unsubscribe = log.subscribe(lambda r: seen.append(r.message))
    log.subscribe(lambda r: other.append(r.message))
    log.warn("x", "one")
    unsubscribe()
    unsubscribe()  # a second call is harmless
    log.error("x", "two")
    assert seen == ["one"]
    assert other == ["one", "two"]
    assert log.messages(level="error") == ["two"]


def test_a_subscriber_may_unsubscribe_while_a_record_is_delivered() -> None:
    log = EventLog()
    seen: list[str] = []

    def once(record: LogRecord) -> None:
        seen.append(record.message)
        unsubscribe()

    unsubscribe = log.subscribe(once)
    log.subscribe(lambda r: seen.append("second:" + r.message))
    log.info("x", "a")
    log.info("x", "b")
    assert seen == ["a", "second:a", "second:b"]


def test_numbers_stay_in_ring_order_across_threads() -> None:
    log = EventLog(capacity=10_000)

    def emit_many() -> None:
        for i in range(500):
            log.info("t", str(i))

    threads = [threading.Thread(target=emit_many) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.seq for r in log.recent] == list(range(1, 2001))


def test_json_lines_do_not_carry_the_internal_number() -> None:
    out = io.StringIO()
    log = EventLog()
    log.subscribe(ConsolePrinter("json", stream=out))
    log.info("http", "GET / 200", status=200)
    line = json.loads(out.getvalue())
    assert set(line) == {"level", "source", "message", "time", "fields"}
    assert line["fields"] == {"status": 200}


def test_emit_fields_is_emit_with_a_dict() -> None:
    log = EventLog()
    seen: list[LogRecord] = []
    log.subscribe(seen.append)
    fields = {"app": "web", "status": 200}
    record = log.emit_fields("info", "http", "GET / 200", fields)
    assert record.fields == {"app": "web", "status": 200} and record.seq == 1
    assert seen == [record] and list(log.recent) == [record]
    assert log.emit("warn", "x", "y", a=1).fields == {"a": 1}


def test_the_ring_is_bounded_in_characters_as_well_as_in_records() -> None:
    log = EventLog(capacity=100, max_chars=3_000)
    for n in range(10):
        log.info("app:x", str(n) * 1_000)  # an app printing long lines
    assert [r.message[0] for r in log.recent] == ["7", "8", "9"]
    assert [r.seq for r in log.after(0)] == [8, 9, 10]
    log.info("app:x", "y" * 10_000)  # larger than the whole budget: still the newest record
    assert [r.message[0] for r in log.recent] == ["y"]
    for _ in range(200):  # short lines: the record count is the bound, and the size follows
        log.info("http", "GET /")
    assert len(log.recent) == 100 and log._chars == 500
