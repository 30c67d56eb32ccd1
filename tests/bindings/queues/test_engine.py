"""The broker through its public API: Miniflare's queue scenarios (docs/queues.md,
"Miniflare's scenarios", numbered as there) on production rules."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import tempfile
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from emulator.bindings.queues.binding import MessageBatch
from emulator.bindings.queues.config import QueueConsumer
from emulator.bindings.queues.engine import QueueBroker
from emulator.bindings.queues.errors import QueueNotFound, QueuesError, QueueSendError
from emulator.clock import FakeClock
from emulator.logs import EventLog
from tests.helpers.fuzz import fuzz_settings
from tests.helpers.queues import START, Harness

HEX32 = re.compile(r"^[0-9a-f]{32}$")


# --- scenario 2: partial and full batches ------------------------------------------------

async def test_flushes_partial_and_full_batches(harness: Harness) -> None:
    h = harness
    consumer = h.consume("queue", max_batch_size=5, max_batch_timeout=1)
    q = h.broker.producer("queue")

    await q.send("a")
    await h.advance(0.5)
    assert consumer.sizes() == []
    await h.advance(0.5)
    assert consumer.sizes() == [1]
    assert HEX32.match(consumer.batches[0][0]["id"])

    await q.sendBatch([{"body": "b"}, {"body": "c"}])
    await h.advance(0.25)
    assert consumer.sizes() == [1]
    await h.advance(1.0)
    assert consumer.sizes() == [1, 2]

    await q.send("d")
    await q.sendBatch([{"body": "e"}, {"body": "f"}])
    await q.send("g")
    await h.advance(0.1)
    assert consumer.sizes() == [1, 2]
    await h.advance(0.9)
    assert consumer.sizes() == [1, 2, 4]
    assert [m["body"] for m in consumer.batches[-1]] == ["d", "e", "f", "g"]

    await q.sendBatch([{"body": i} for i in range(5)])
    await h.settle()
    assert consumer.sizes() == [1, 2, 4, 5]

    await q.sendBatch([{"body": i} for i in range(7)])
    await h.settle()
    assert consumer.sizes() == [1, 2, 4, 5, 5]
    await h.advance(0.5)
    assert consumer.sizes() == [1, 2, 4, 5, 5]
    await h.advance(0.5)
    assert consumer.sizes() == [1, 2, 4, 5, 5, 2]

    await q.sendBatch([{"body": i} for i in range(6)])
    await h.settle()
    assert consumer.sizes()[6:] == [5]
    await q.sendBatch([{"body": i} for i in range(5)])
    await h.settle()
    assert consumer.sizes()[6:] == [5, 5]
    await h.advance(1.0)
    assert consumer.sizes()[6:] == [5, 5, 1]


async def test_production_defaults_batch_of_10_after_5_seconds(harness: Harness) -> None:
    h = harness
    consumer = h.consume("queue")  # QueueConsumer defaults: 10 messages, 5 s, 3 retries
    q = h.broker.producer("queue")
    await q.sendBatch([{"body": i} for i in range(9)])
    await h.advance(4.9)
    assert consumer.sizes() == []
    await h.advance(0.1)
    assert consumer.sizes() == [9]
    await q.sendBatch([{"body": i} for i in range(12)])
    await h.settle()
    assert consumer.sizes() == [9, 10]
    await h.advance(5)
    assert consumer.sizes() == [9, 10, 2]


async def test_batch_timeout_runs_from_first_message(harness: Harness) -> None:
    h = harness
    consumer = h.consume("queue", max_batch_size=10, max_batch_timeout=2)
    q = h.broker.producer("queue")
    await q.send(1)
    await h.advance(1.5)
    await q.send(2)  # does not extend the timeout
    await h.advance(0.5)
    assert consumer.sizes() == [2]


# --- scenarios 3, 9, 10: shapes, names, content types ------------------------------------

async def test_message_shape_and_batch_queue_name(harness: Harness) -> None:
    h = harness
    consumer = h.consume("my/ Queue", max_batch_size=5, max_batch_timeout=1)
    q = h.broker.producer("my/ Queue")
    await q.send("Hello world!")
    await q.sendBatch([{"body": "Hola mundo!"}])
    await h.advance(1)
    [batch] = consumer.batches
    assert [(m["queue"], m["body"], m["attempts"]) for m in batch] == [
        ("my/ Queue", "Hello world!", 1), ("my/ Queue", "Hola mundo!", 1)]
    stamp = batch[0]["timestamp"]
    assert stamp == dt.datetime.fromtimestamp(START, tz=dt.UTC)
    assert stamp.tzinfo is not None
    assert batch[0]["id"] != batch[1]["id"]


async def test_content_types_in_send_order(harness: Harness) -> None:
    h = harness
    consumer = h.consume("queue", max_batch_size=10, max_batch_timeout=1)
    q = h.broker.producer("queue")
    await q.send("msg1", contentType="text")
    await q.send([{"message": "msg2"}], {"contentType": "json"})
    await q.send(bytes(range(8)), contentType="bytes")
    when = dt.datetime.fromtimestamp(1_600_000_000, tz=dt.UTC)
    await q.send(when, contentType="V8")  # case-insensitive, like workerd
    await h.advance(1)
    assert [m["body"] for m in consumer.batches[0]] == ["msg1", [{"message": "msg2"}], bytes(range(8)), when]


async def test_v8_round_trips_python_values(harness: Harness) -> None:
    """Scenario 6 adapted: structured clone of Python values (cycles, sets, datetimes, Decimal)."""
    import decimal

    h = harness
    consumer = h.consume("queue", max_batch_size=100, max_batch_timeout=0, max_retries=0)
    cyclic: dict[str, Any] = {"name": "cycle"}
    cyclic["self"] = cyclic
    values: list[Any] = [
        2**100, cyclic, [[1, [2, [3]]]], dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        dt.date(2021, 5, 6), {"a", "b"}, frozenset({1}), (1, "two"), b"\x00\x01", bytearray(b"xy"),
        decimal.Decimal("3.14"), dt.timedelta(seconds=90), 1 + 2j, None, True, {1: "int key"},
    ]
    await h.broker.producer("queue").sendBatch([{"body": v, "contentType": "v8"} for v in values])
    await h.settle()
    bodies = [m["body"] for batch in consumer.batches for m in batch]
    assert bodies[0] == 2**100
    assert bodies[1]["self"] is bodies[1] and bodies[1]["name"] == "cycle"
    assert bodies[2:] == values[2:]


async def test_v8_refuses_values_that_cannot_be_cloned(harness: Harness) -> None:
    q = harness.broker.producer("queue")
    with pytest.raises(TypeError, match="could not be cloned"):
        await q.send(lambda: 1, contentType="v8")
    with pytest.raises(TypeError, match="could not be cloned"):
        await q.send({"obj": object()}, contentType="v8")


# --- scenario 7: retries -----------------------------------------------------------------

def _retry_ids(ids: set[str]) -> Any:
    def behaviour(batch: MessageBatch) -> None:
        for msg in batch.messages:
            if msg.body in ids:
                msg.retry()
    return behaviour


async def test_retry_one_message(harness: Harness) -> None:
    h = harness
    consumer = h.consume("queue", _retry_ids({"msg2"}), max_batch_size=5, max_batch_timeout=1, max_retries=2)
    q = h.broker.producer("queue")
    await q.sendBatch([{"body": "msg1"}, {"body": "msg2"}, {"body": "msg3"}])
    await h.advance(1)
    assert consumer.sizes() == [3]
    id2 = consumer.batches[0][1]["id"]
    assert h.logs()[-2:] == [f'Retrying message "{id2}" on queue "queue"...', "QUEUE queue 2/3 (0ms)"]
    consumer.behaviour = None
    await h.advance(1)
    assert [(m["id"], m["attempts"]) for m in consumer.batches[1]] == [(id2, 2)]
    assert h.logs()[-1] == "QUEUE queue 1/1 (0ms)"
    await h.advance(1)
    assert consumer.sizes() == [3, 1]


@pytest.mark.parametrize("how", ["retryAll", "raise"])
async def test_retry_all_and_handler_errors_retry_whole_batch(harness: Harness, how: str) -> None:
    h = harness

    def behaviour(batch: MessageBatch) -> None:
        if how == "retryAll":
            batch.retryAll()
        else:
            raise RuntimeError("boom")

    consumer = h.consume("queue", behaviour, max_batch_size=5, max_batch_timeout=1, max_retries=2)
    await h.broker.producer("queue").sendBatch([{"body": f"msg{i}"} for i in (1, 2, 3)])
    await h.advance(1)
    ids = [m["id"] for m in consumer.batches[0]]
    retry_lines = [f'Retrying message "{i}" on queue "queue"...' for i in ids]
    assert h.logs("debug")[-3:] == retry_lines
    assert h.logs("info")[-1] == "QUEUE queue 0/3 (0ms)"
    if how == "raise":
        assert any("threw: RuntimeError: boom" in m for m in h.logs("error"))
    consumer.behaviour = None
    await h.advance(1)
    assert [(m["id"], m["attempts"]) for m in consumer.batches[1]] == [(i, 2) for i in ids]
    assert h.logs("info")[-1] == "QUEUE queue 3/3 (0ms)"


async def test_retry_then_drop_after_max_retries(harness: Harness) -> None:
    h = harness
    deliveries = 0

    def behaviour(batch: MessageBatch) -> None:
        nonlocal deliveries
        deliveries += 1
        if deliveries == 1:
            batch.retryAll()
        else:
            for msg in batch.messages:
                if msg.body == "msg3":
                    msg.retry()

    consumer = h.consume("queue", behaviour, max_batch_size=5, max_batch_timeout=1, max_retries=2)
    await h.broker.producer("queue").sendBatch([{"body": f"msg{i}"} for i in (1, 2, 3)])
    await h.advance(1)
    assert h.logs("info")[-1] == "QUEUE queue 0/3 (0ms)"
    await h.advance(1)
    assert h.logs("info")[-1] == "QUEUE queue 2/3 (0ms)"
    id3 = consumer.batches[0][2]["id"]
    await h.advance(1)
    assert h.logs()[-2:] == [f'Dropped message "{id3}" on queue "queue" after 3 failed attempts!',
                             "QUEUE queue 0/1 (0ms)"]
    assert [[m["attempts"] for m in b] for b in consumer.batches] == [[1, 1, 1], [2, 2, 2], [3]]
    await h.advance(5)
    assert consumer.sizes() == [3, 3, 1]
    assert h.broker.stats("queue")["dropped"] == 1
    assert h.broker.stats("queue")["depth"] == 0


# --- scenario 8: dead-letter queues ------------------------------------------------------

async def test_moves_to_dead_letter_queue_and_back(harness: Harness) -> None:
    h = harness
    step = {"bad": 0, "dlq": 0}

    def on_bad(batch: MessageBatch) -> None:
        step["bad"] += 1
        if step["bad"] == 1:
            for msg in batch.messages[1:]:
                msg.retry()

    def on_dlq(batch: MessageBatch) -> None:
        step["dlq"] += 1
        batch.messages[0].retry()

    bad = h.consume("bad", on_bad, max_batch_size=5, max_batch_timeout=1, max_retries=0, dead_letter_queue="dlq")
    dlq = h.consume("dlq", on_dlq, max_batch_size=5, max_batch_timeout=1, max_retries=0, dead_letter_queue="bad")
    await h.broker.producer("bad").sendBatch([{"body": f"msg{i}"} for i in (1, 2, 3)])
    await h.advance(1)
    first = bad.batches[0]
    id2, id3 = first[1]["id"], first[2]["id"]
    assert h.logs()[-3:] == [
        f'Moving message "{id2}" on queue "bad" to dead letter queue "dlq" after 1 failed attempt...',
        f'Moving message "{id3}" on queue "bad" to dead letter queue "dlq" after 1 failed attempt...',
        "QUEUE bad 1/3 (0ms)",
    ]
    await h.advance(1)
    assert [(m["id"], m["attempts"], m["timestamp"]) for m in dlq.batches[0]] == [
        (id2, 1, first[1]["timestamp"]), (id3, 1, first[2]["timestamp"])]
    assert h.logs()[-2:] == [
        f'Moving message "{id2}" on queue "dlq" to dead letter queue "bad" after 1 failed attempt...',
        "QUEUE dlq 1/2 (0ms)",
    ]
    await h.advance(1)
    assert [(m["id"], m["attempts"]) for m in bad.batches[1]] == [(id2, 1)]
    assert h.logs()[-1] == "QUEUE bad 1/1 (0ms)"
    assert h.broker.stats("bad")["dlq"] == 2 and h.broker.stats("dlq")["dlq"] == 1


async def test_dead_letter_queue_without_consumer_keeps_messages(harness: Harness) -> None:
    h = harness
    h.consume("work", lambda b: b.retryAll(), max_batch_size=5, max_batch_timeout=0, max_retries=1,
              dead_letter_queue="parking")
    await h.broker.producer("work").send({"job": 1})
    await h.settle()
    await h.settle()
    stats = h.broker.stats("work")
    assert stats["dead_letter_count"] == 1 and stats["dlq"] == 1 and stats["retried"] == 1
    [parked] = h.broker.peek("parking")
    assert parked["body"] == {"job": 1} and parked["attempts"] == 1 and parked["state"] == "visible"


async def test_dead_letter_queue_cannot_be_itself(harness: Harness) -> None:
    with pytest.raises(QueuesError) as info:
        harness.consume("bad", dead_letter_queue="bad")
    assert info.value.code == "ERR_DEAD_LETTER_QUEUE_CYCLE"
    assert str(info.value) == 'Dead letter queue for queue "bad" cannot be itself'


async def test_one_consumer_per_queue(harness: Harness) -> None:
    harness.consume("q", owner="worker-a")
    with pytest.raises(QueuesError) as info:
        harness.consume("q", owner="worker-b")
    assert info.value.code == "ERR_MULTIPLE_CONSUMERS"
    assert str(info.value) == 'Multiple consumers defined for queue "q": "worker-a" and "worker-b"'


async def test_consumer_ranges_are_validated(harness: Harness) -> None:
    with pytest.raises(QueuesError, match='"max_batch_size" must be between 1 and 100'):
        harness.consume("q", max_batch_size=101)
    with pytest.raises(QueuesError, match='"max_batch_timeout" must be between 0 and 60'):
        harness.consume("q", max_batch_timeout=61)
    # Production's limits: 12 hours of retry delay, 250 concurrent invocations (as `check` says).
    with pytest.raises(QueuesError, match='"retry_delay" must be between 0 and 43200, got 43201'):
        harness.consume("q", retry_delay=43201)
    with pytest.raises(QueuesError, match='"max_concurrency" must be between 1 and 250, got 251'):
        harness.consume("q", max_concurrency=251)
    harness.consume("q", retry_delay=43200, max_concurrency=250)


# --- production ack semantics and first-call-wins ---------------------------------------

async def test_explicit_acks_survive_a_handler_error(harness: Harness) -> None:
    h = harness

    def behaviour(batch: MessageBatch) -> None:
        if batch.messages[0].attempts == 1:
            batch.messages[0].ack()
            raise ValueError("after one ack")

    consumer = h.consume("q", behaviour, max_batch_size=3, max_batch_timeout=0, retry_delay=0)
    await h.broker.producer("q").sendBatch([{"body": i} for i in range(3)])
    await h.settle()
    # Production: the acked message is never redelivered (Miniflare would retry all three).
    assert [[m["body"] for m in b] for b in consumer.batches] == [[0, 1, 2], [1, 2]]
    assert h.logs("info")[:2] == ["QUEUE q 1/3 (0ms)", "QUEUE q 2/2 (0ms)"]


async def test_ack_all_then_raise_acks_everything(harness: Harness) -> None:
    h = harness

    def behaviour(batch: MessageBatch) -> None:
        batch.ackAll()
        raise ValueError("late failure")

    consumer = h.consume("q", behaviour, max_batch_size=3, max_batch_timeout=0)
    await h.broker.producer("q").sendBatch([{"body": i} for i in range(3)])
    await h.settle()
    assert consumer.sizes() == [3]
    assert h.broker.stats("q")["acked"] == 3


async def test_first_call_wins_warnings(harness: Harness) -> None:
    h = harness
    seen: list[str] = []

    def behaviour(batch: MessageBatch) -> None:
        if seen:
            return  # redeliveries are acked
        a, b, c, d = batch.messages
        seen.extend([a.id, b.id, c.id, d.id])
        a.ack()
        a.retry()      # after ack(): warning, ignored
        b.retry()
        b.ack()        # after retry(): warning, ignored
        batch.retryAll()
        c.ack()        # after retryAll(): warning, ignored
        batch.ackAll()  # after retryAll(): warning, ignored
        d.retry(delaySeconds=7)  # not blocked by retryAll(); its own delay wins

    h.consume("q", behaviour, max_batch_size=4, max_batch_timeout=0, max_retries=5, retry_delay=10)
    await h.broker.producer("q").sendBatch([{"body": i} for i in range(4)])
    await h.settle()
    a, b, c, d = seen[:4]
    assert h.logs("warn") == [
        f"Received a call to retry() on message {a} after ack() was already called. "
        "Calling retry() on a message after calling ack() has no effect.",
        f"Received a call to ack() on message {b} after retry() was already called. "
        "Calling ack() on a message after calling retry() has no effect.",
        f"Received a call to ack() on message {c} after retryAll() was already called. "
        "Calling ack() on a message after calling retryAll() has no effect.",
        "Received a call to ackAll() after retryAll() was already called. "
        "Calling ackAll() after calling retryAll() has no effect.",
    ]
    assert h.logs("info")[0] == "QUEUE q 1/4 (0ms)"
    peeked = {m["id"]: m for m in h.broker.peek("q")}
    assert set(peeked) == {b, c, d}
    assert [peeked[x]["visible_at"] - START for x in (b, c, d)] == [10, 10, 7]


async def test_ack_all_warnings(harness: Harness) -> None:
    h = harness
    ids: list[str] = []

    def behaviour(batch: MessageBatch) -> None:
        ids.append(batch.messages[0].id)
        batch.ackAll()
        batch.messages[0].ack()    # silently ignored
        batch.messages[0].retry()  # warning
        batch.retryAll()           # warning

    h.consume("q", behaviour, max_batch_size=1, max_batch_timeout=0)
    await h.broker.producer("q").send("x")
    await h.settle()
    assert h.logs("warn") == [
        f"Received a call to retry() on message {ids[0]} after ackAll() was already called. "
        "Calling retry() on a message after calling ackAll() has no effect.",
        "Received a call to retryAll() after ackAll() was already called. "
        "Calling retryAll() after calling ackAll() has no effect.",
    ]
    assert h.broker.stats("q")["acked"] == 1


# --- scenarios 14-15: retry delays and max retries ---------------------------------------

async def test_retry_delay_and_max_retries(harness: Harness) -> None:
    h = harness
    consumer = h.consume("q", lambda b: b.retryAll(), retry_delay=5, max_retries=2, max_batch_timeout=0)
    await h.broker.producer("q").send("again")
    await h.advance(1)
    assert consumer.sizes() == [1]
    await h.advance(1)   # t = 2 s
    assert consumer.sizes() == [1]
    await h.advance(5)   # t = 7 s (redelivery at 5 s)
    assert consumer.sizes() == [1, 1]
    await h.advance(5)   # t = 12 s (redelivery at 10 s)
    assert consumer.sizes() == [1, 1, 1]
    await h.advance(30)
    assert consumer.sizes() == [1, 1, 1]
    assert h.broker.stats("q")["depth"] == 0


async def test_retry_delay_precedence(harness: Harness) -> None:
    """message retry(delaySeconds) ?? retryAll(delaySeconds) ?? consumer retry_delay."""
    h = harness

    def behaviour(batch: MessageBatch) -> None:
        if batch.messages[0].attempts > 1:
            return
        batch.retryAll(delaySeconds=4)
        batch.messages[0].retry(delaySeconds=2)
        batch.messages[1].retry()

    consumer = h.consume("q", behaviour, max_batch_size=3, max_batch_timeout=0, retry_delay=9)
    await h.broker.producer("q").sendBatch([{"body": i} for i in range(3)])
    await h.settle()
    delays = sorted(m["visible_at"] - START for m in h.broker.peek("q"))
    assert delays == [2, 4, 4]
    await h.advance(4)
    assert sorted(m["body"] for b in consumer.batches[1:] for m in b) == [0, 1, 2]


# --- scenarios 16-20: delivery delays -----------------------------------------------------

async def test_delivery_delay_of_producer(harness: Harness) -> None:
    h = harness
    consumer = h.consume("q", max_batch_size=100, max_batch_timeout=0)
    h.broker.set_delivery_delay("q", 2)
    q = h.broker.producer("q")
    await q.send("late")
    await h.advance(1)
    assert consumer.sizes() == []
    await h.advance(1)
    assert consumer.sizes() == [1]


async def test_per_message_delays(harness: Harness) -> None:
    h = harness
    consumer = h.consume("q", max_batch_size=100, max_batch_timeout=0)
    q = h.broker.producer("q", delivery_delay=2)
    for i in range(1, 11):
        await q.send(i, delaySeconds=i)
    await h.settle()
    assert consumer.sizes() == []
    for k in range(1, 11):
        await h.advance(1)
        assert len(consumer.batches) == k
    assert [b[0]["body"] for b in consumer.batches] == list(range(1, 11))


async def test_send_batch_default_delay(harness: Harness) -> None:
    h = harness
    consumer = h.consume("q", max_batch_size=100, max_batch_timeout=0)
    q = h.broker.producer("q", delivery_delay=2)
    await q.sendBatch([{"body": 1}, {"body": 2}])
    await h.advance(1)
    assert consumer.sizes() == []
    await h.advance(1)
    # Each message becoming visible on its own is dispatched on its own with timeout 0.
    assert consumer.sizes() == [1, 1]


async def test_send_batch_option_delay(harness: Harness) -> None:
    h = harness
    consumer = h.consume("q", max_batch_size=100, max_batch_timeout=0)
    q = h.broker.producer("q", delivery_delay=2)
    await q.sendBatch([{"body": 1}, {"body": 2}], delaySeconds=3)
    await h.advance(1)
    await h.advance(1)
    assert consumer.sizes() == []
    await h.advance(1)
    assert consumer.sizes() == [1, 1]


async def test_send_batch_per_message_delay_wins(harness: Harness) -> None:
    h = harness
    consumer = h.consume("q", max_batch_size=100, max_batch_timeout=0)
    q = h.broker.producer("q", delivery_delay=2)
    await q.sendBatch([{"body": i, "delaySeconds": i} for i in (2, 3, 4)], {"delaySeconds": 1})
    await h.advance(1)
    assert consumer.sizes() == []
    for k in (1, 2, 3):
        await h.advance(1)
        assert len(consumer.batches) == k


# --- scenarios 11-13: metrics and limits -------------------------------------------------

async def test_send_metrics_are_taken_before_enqueue(harness: Harness) -> None:
    q = harness.broker.producer("q")  # no consumer: messages stay visible
    first = await q.send("one")
    assert first.metadata.metrics.backlogCount == 0
    assert first["metadata"]["metrics"]["oldestMessageTimestamp"] is None
    second = await q.send("two")
    metrics = second.metadata.metrics
    assert metrics.backlogCount == 1 and metrics.backlogBytes == len(b'"one"')
    assert metrics.oldestMessageTimestamp == dt.datetime.fromtimestamp(START, tz=dt.UTC)
    third = await q.sendBatch([{"body": 1}, {"body": 2}])
    assert third.metadata.metrics.backlogCount == 2


async def test_message_size_limit(harness: Harness) -> None:
    harness.consume("q")
    q = harness.broker.producer("q")
    with pytest.raises(QueueSendError) as info:
        await q.send(bytes(128 * 1000 + 1), contentType="bytes")
    assert str(info.value) == "Queue send failed: message length of 128001 bytes exceeds limit of 128000"
    await q.send(bytes(128 * 1000), contentType="bytes")  # exactly the limit is fine


async def test_limits_apply_without_a_consumer(harness: Harness) -> None:
    # Production validates whether or not a consumer exists (Miniflare would silently drop).
    q = harness.broker.producer("nobody-listens")
    with pytest.raises(QueueSendError, match="exceeds limit of 128000"):
        await q.send("x" * 128_001, contentType="text")


async def test_batch_limits(harness: Harness) -> None:
    q = harness.broker.producer("q")
    with pytest.raises(QueueSendError) as info:
        await q.sendBatch([{"body": i} for i in range(101)])
    assert str(info.value) == "Queue sendBatch failed: batch message count of 101 exceeds limit of 100"
    with pytest.raises(QueueSendError) as info:
        await q.sendBatch([{"body": "a", "contentType": "text"}, {"body": "b" * 128_001, "contentType": "text"}])
    assert str(info.value) == ("Queue sendBatch failed: message in batch has length 128001 bytes which exceeds "
                               "single message size limit of 128000")
    with pytest.raises(QueueSendError) as info:
        await q.sendBatch([{"body": "c" * 100_000, "contentType": "text"} for _ in range(3)])
    assert str(info.value) == "Queue sendBatch failed: batch size of 300000 bytes exceeds limit of 288000"
    assert harness.broker.stats("q")["depth"] == 0


# --- concurrency, idleness, administration ----------------------------------------------

async def test_max_concurrency_bounds_batches_in_flight(harness: Harness) -> None:
    h = harness
    gate = asyncio.Event()
    running = 0
    peak = 0

    async def slow(batch: MessageBatch) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await gate.wait()
        running -= 1

    consumer = h.consume("q", slow, max_batch_size=2, max_batch_timeout=0, max_concurrency=3)
    await h.broker.producer("q").sendBatch([{"body": i} for i in range(10)])
    await h.clock.settle()
    assert h.broker.stats("q")["in_flight_batches"] == 3
    assert not h.broker.is_idle()
    gate.set()
    await h.settle()
    assert peak == 3 and sum(consumer.sizes()) == 10


async def test_default_concurrency_is_one_batch(harness: Harness) -> None:
    h = harness
    gate = asyncio.Event()

    async def slow(batch: MessageBatch) -> None:
        await gate.wait()

    h.consume("q", slow, max_batch_size=2, max_batch_timeout=0)
    await h.broker.producer("q").sendBatch([{"body": i} for i in range(6)])
    await h.clock.settle()
    stats = h.broker.stats("q")
    assert (stats["in_flight_batches"], stats["in_flight"], stats["visible"]) == (1, 2, 4)
    gate.set()
    await h.settle()
    assert h.broker.stats("q")["acked"] == 6


async def test_idle_ignores_future_work(harness: Harness) -> None:
    h = harness
    h.consume("q", max_batch_size=10, max_batch_timeout=5)
    await h.broker.producer("q").send("waits for the timeout")
    await h.broker.producer("q").send("delayed", delaySeconds=60)
    await h.settle()
    assert h.broker.is_idle()
    stats = h.broker.stats("q")
    assert (stats["visible"], stats["delayed"]) == (1, 1)


async def test_peek_purge_and_redrive(harness: Harness) -> None:
    h = harness
    h.consume("jobs", lambda b: b.retryAll(), max_batch_size=10, max_batch_timeout=0, max_retries=0,
              dead_letter_queue="jobs-dlq")
    q = h.broker.producer("jobs")
    await q.sendBatch([{"body": {"n": i}} for i in range(3)])
    await h.settle()
    parked = h.broker.peek("jobs-dlq")
    assert [m["body"] for m in parked] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert h.broker.peek("jobs-dlq", limit=1) == parked[:1]
    assert h.broker.dead_letter_sources("jobs-dlq") == ["jobs"]
    h.broker.unregister_consumer("jobs")  # so the redriven message stays visible
    assert h.broker.redrive("jobs-dlq", parked[0]["id"]) == "jobs"
    [back] = h.broker.peek("jobs")
    assert (back["id"], back["attempts"], back["timestamp_ms"]) == (parked[0]["id"], 1, parked[0]["timestamp_ms"])
    with pytest.raises(QueueNotFound):
        h.broker.redrive("jobs-dlq", "0" * 32)
    assert h.broker.purge("jobs-dlq") == 2
    assert h.broker.stats("jobs-dlq")["depth"] == 0
    with pytest.raises(QueueNotFound):
        h.broker.peek("no-such-queue")


async def test_redrive_all_moves_every_dead_letter_back_in_order(harness: Harness, db_path: Path) -> None:
    h = harness
    h.broker.set_delivery_delay("jobs-dlq", 30)  # so the later dead letters wait in the DLQ, delayed
    h.consume("jobs", lambda b: b.retryAll(), max_batch_size=100, max_batch_timeout=0, max_retries=0,
              dead_letter_queue="jobs-dlq")
    q = h.broker.producer("jobs")
    await q.sendBatch([{"body": {"n": i}} for i in range(3)])
    await h.settle()
    await h.advance(30)  # those three are visible in the DLQ now
    for start in range(3, 154, 50):
        await q.sendBatch([{"body": {"n": i}} for i in range(start, min(start + 50, 154))])
    await h.settle()
    parked = h.broker.peek("jobs-dlq", limit=1000)
    assert [m["state"] for m in parked] == ["visible"] * 3 + ["delayed"] * 151
    h.broker.unregister_consumer("jobs")  # so the redriven messages stay to be looked at
    commits = h.broker._store.commits
    result = h.broker.redrive_all("jobs-dlq")
    await h.broker.flush()
    assert result == {"from": "jobs-dlq", "to": "jobs", "moved": 154, "in_flight": 0}
    assert h.broker._store.commits == commits + 1  # one transaction
    back = h.broker.peek("jobs", limit=1000)
    assert [(m["id"], m["timestamp_ms"], m["body"]) for m in back] == [
        (m["id"], m["timestamp_ms"], m["body"]) for m in parked]
    assert {(m["attempts"], m["state"]) for m in back} == {(1, "visible")}
    dlq = h.broker.stats("jobs-dlq")
    assert (dlq["depth"], dlq["visible"], dlq["delayed"]) == (0, 0, 0)
    await h.advance(60)  # the moved messages' old delay timers fire: nothing comes back
    assert h.broker.stats("jobs-dlq")["depth"] == 0 and h.broker.stats("jobs")["visible"] == 154
    # Durable: a broker opened on the same file sees them in jobs, in order.
    again = QueueBroker(db_path, h.clock, EventLog())
    await again.open()
    try:
        assert [m["id"] for m in again.peek("jobs", limit=1000)] == [m["id"] for m in parked]
        assert again.peek("jobs-dlq") == []
    finally:
        await again.close()


async def test_redrive_all_moves_a_dead_letter_queue_bigger_than_a_page(
        harness: Harness, db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A DLQ without a consumer holds nothing in memory: every message is moved from disk,
    # a page at a time (pages of 100 here, so 350 messages take four).
    from emulator.bindings.queues import engine as engine_module

    monkeypatch.setattr(engine_module, "REDRIVE_PAGE", 100)
    h = harness
    h.consume("jobs", lambda b: b.retryAll(), max_batch_size=100, max_batch_timeout=0, max_retries=0,
              dead_letter_queue="jobs-dlq")
    q = h.broker.producer("jobs")
    for start in range(0, 350, 50):
        await q.sendBatch([{"body": {"n": i}} for i in range(start, start + 50)])
        await h.settle()
    h.broker.unregister_consumer("jobs")
    parked = h.broker.peek("jobs-dlq", limit=1000)
    assert len(parked) == 350 and h.broker.health()["messages_in_memory"] < 350
    result = h.broker.redrive_all("jobs-dlq")
    await h.broker.flush()
    assert result == {"from": "jobs-dlq", "to": "jobs", "moved": 350, "in_flight": 0}
    assert h.broker.stats("jobs-dlq")["depth"] == 0 and h.broker.stats("jobs")["depth"] == 350
    assert [m["id"] for m in h.broker.peek("jobs", limit=1000)] == [m["id"] for m in parked]
    again = QueueBroker(db_path, h.clock, EventLog())
    await again.open()
    try:
        assert [m["id"] for m in again.peek("jobs", limit=1000)] == [m["id"] for m in parked]
        assert again.stats("jobs-dlq")["depth"] == 0
    finally:
        await again.close()


async def test_redrive_all_leaves_messages_being_delivered(harness: Harness) -> None:
    h = harness
    gate = asyncio.Event()

    async def slow(batch: MessageBatch) -> None:
        await gate.wait()

    h.consume("jobs", lambda b: b.retryAll(), max_batch_timeout=0, max_retries=0, dead_letter_queue="dlq")
    await h.broker.producer("jobs").sendBatch([{"body": i} for i in range(4)])
    await h.settle()
    h.broker.unregister_consumer("jobs")
    h.consume("dlq", slow, owner="auditor", max_batch_size=3, max_batch_timeout=0)
    await h.clock.settle()
    assert h.broker.stats("dlq")["in_flight"] == 3
    assert h.broker.redrive_all("dlq", to="jobs") == {"from": "dlq", "to": "jobs", "moved": 1, "in_flight": 3}
    assert [m["body"] for m in h.broker.peek("jobs")] == [3]
    gate.set()
    await h.settle()


async def test_redrive_all_refusals_change_nothing(harness: Harness) -> None:
    h = harness
    h.consume("a", max_batch_timeout=5, dead_letter_queue="shared")
    h.consume("b", max_batch_timeout=5, dead_letter_queue="shared", owner="other")
    await h.broker.producer("shared").send("parked")
    with pytest.raises(ValueError, match=r'^Queues a, b all use "shared" as dead letter queue; pass'):
        h.broker.redrive_all("shared")
    with pytest.raises(ValueError, match=r"^Messages cannot be redriven to the queue they are in$"):
        h.broker.redrive_all("shared", to="shared")
    with pytest.raises(QueueNotFound, match=r'^Queue "typo" does not exist$'):
        h.broker.redrive_all("shared", to="typo")
    with pytest.raises(QueueNotFound):
        h.broker.redrive_all("nosuch")
    with pytest.raises(ValueError, match=r'^No queue uses "a" as its dead letter queue'):
        h.broker.redrive_all("a")
    assert not h.broker.has_queue("typo")
    assert [m["body"] for m in h.broker.peek("shared")] == ["parked"]
    assert h.broker.redrive_all("shared", to="b")["moved"] == 1
    assert h.broker.redrive_all("shared", to="b")["moved"] == 0  # empty: nothing to do


async def test_purge_of_in_flight_messages_drops_their_outcome(harness: Harness) -> None:
    h = harness
    gate = asyncio.Event()

    async def slow(batch: MessageBatch) -> None:
        await gate.wait()
        batch.retryAll()

    h.consume("q", slow, max_batch_size=5, max_batch_timeout=0)
    await h.broker.producer("q").sendBatch([{"body": i} for i in range(3)])
    await h.clock.settle()
    assert h.broker.purge("q") == 3
    gate.set()
    await h.settle()
    assert h.broker.stats("q")["depth"] == 0 and h.broker.stats("q")["retried"] == 0


async def test_burst_of_concurrent_sends_never_fails(harness: Harness) -> None:
    """Miniflare's producer fails under an unpaced burst of 20,000 sends; ours waits instead."""
    h = harness
    consumer = h.consume("q", max_batch_size=100, max_batch_timeout=0)
    q = h.broker.producer("q")
    results = await asyncio.gather(*(q.send({"n": i}) for i in range(20_000)))
    assert len(results) == 20_000
    await h.settle()
    assert sum(consumer.sizes()) == 20_000
    assert h.broker.stats("q")["acked"] == 20_000


# --- durability (in process; the SIGKILL tests are in test_crash.py) ---------------------

async def test_reopen_restores_unacked_and_in_flight_messages(db_path: Path) -> None:
    clock = FakeClock(START)
    broker = QueueBroker(db_path, clock, EventLog())
    await broker.open()
    gate = asyncio.Event()

    async def stuck(batch: MessageBatch) -> None:
        await gate.wait()

    broker.register_consumer(QueueConsumer("q", max_batch_size=2, max_batch_timeout=0), stuck, "w")
    q = broker.producer("q")
    await q.sendBatch([{"body": i} for i in range(4)])
    await q.send("later", delaySeconds=30)
    await clock.settle()
    assert broker.stats("q")["in_flight"] == 2
    await broker.close()  # the in-flight batch is abandoned, like a crash

    log = EventLog()
    again = QueueBroker(db_path, clock, log)
    await again.open()
    stats = again.stats("q")
    assert (stats["visible"], stats["delayed"], stats["in_flight"]) == (4, 1, 0)
    got: list[Any] = []

    async def record(batch: MessageBatch) -> None:
        got.extend(m.body for m in batch.messages)

    again.register_consumer(QueueConsumer("q", max_batch_size=10, max_batch_timeout=0), record, "w")
    await again.drain()
    assert got == [0, 1, 2, 3]
    await clock.advance(30)
    await again.drain()
    assert got[-1] == "later"
    await again.close()

    third = QueueBroker(db_path, clock, EventLog())
    await third.open()
    assert third.stats("q")["depth"] == 0 and third.stats("q")["acked"] == 5
    await third.close()


async def test_commit_listener_reports_acked_ids(harness: Harness) -> None:
    h = harness
    committed: list[str] = []
    h.broker.add_commit_listener(committed.extend)
    consumer = h.consume("q", max_batch_size=3, max_batch_timeout=0)
    await h.broker.producer("q").sendBatch([{"body": i} for i in range(3)])
    await h.settle()
    await h.broker.flush()
    assert committed == [m["id"] for m in consumer.batches[0]]


async def test_message_ids_are_unique_32_hex(harness: Harness) -> None:
    q = harness.broker.producer("ids")
    for _ in range(50):
        await q.sendBatch([{"body": i} for i in range(100)])
    ids = [m["id"] for m in harness.broker.peek("ids", limit=10_000)]
    assert len(ids) == 5000 and len(set(ids)) == 5000
    assert all(HEX32.match(i) for i in ids)


async def test_producers_wait_while_too_much_is_unwritten(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    import emulator.bindings.queues.engine as engine

    monkeypatch.setattr(engine, "PENDING_ROWS_HIGH_WATER", 10)
    q = harness.broker.producer("q")
    commits_before = harness.broker._store.commits
    await asyncio.gather(*(q.sendBatch([{"body": i}] * 5) for i in range(200)))
    assert harness.broker.stats("q")["depth"] == 1000
    # Waiting producers joined later transactions instead of one unbounded one.
    assert harness.broker._store.commits - commits_before >= 10


async def test_a_handler_cancelled_from_inside_counts_as_failed(harness: Harness) -> None:
    h = harness

    async def cancels(batch: MessageBatch) -> None:
        if batch.messages[0].attempts == 1:
            raise asyncio.CancelledError()

    consumer = h.consume("q", cancels, max_batch_size=1, max_batch_timeout=0)
    await h.broker.producer("q").send("x")
    await h.settle()
    assert [b[0]["attempts"] for b in consumer.batches] == [1, 2]
    assert h.broker.stats("q")["depth"] == 0


# --- the in-memory window (docs/queues.md) ----------------------------------------------

def _in_memory(broker: QueueBroker) -> int:
    return broker.health()["messages_in_memory"]


def _stored_messages_alive(queue: str) -> int:
    """StoredMessage objects of a queue anywhere in the process: nothing may hide them."""
    import gc

    from emulator.bindings.queues.engine import StoredMessage

    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, StoredMessage) and o.queue == queue)


async def test_a_queue_without_consumer_holds_nothing_but_counts(harness: Harness) -> None:
    h = harness
    q = h.broker.producer("backlog")
    for base in range(0, 2000, 100):
        await q.sendBatch([{"body": n} for n in range(base, base + 100)])
    await q.send("later", delaySeconds=60)
    stats = h.broker.stats("backlog")
    assert (stats["visible"], stats["delayed"], stats["depth"], stats["in_memory"]) == (2000, 1, 2001, 0)
    assert _in_memory(h.broker) == 0 and _stored_messages_alive("backlog") == 0
    metrics = (await q.send("one more")).metadata.metrics
    assert metrics.backlogCount == 2000 and metrics.backlogBytes == sum(len(str(n)) for n in range(2000))
    assert metrics.oldestMessageTimestamp == dt.datetime.fromtimestamp(START, tz=dt.UTC)
    # Peek reads from disk, in delivery order, and keeps nothing.
    assert [m["body"] for m in h.broker.peek("backlog", limit=3)] == [0, 1, 2]
    assert _in_memory(h.broker) == 0
    # Time passes: the delayed message becomes visible, counted without being read into memory.
    await h.advance(60)
    stats = h.broker.stats("backlog")
    assert (stats["visible"], stats["delayed"], stats["in_memory"]) == (2002, 0, 0)


async def test_a_backlog_of_fifty_windows_is_delivered_in_order_after_a_restart(db_path: Path) -> None:
    clock = FakeClock(START)
    broker = QueueBroker(db_path, clock, EventLog())
    await broker.open()
    q = broker.producer("work")
    # Sized by the consumer registered below (batches of 10, one at a time): the window's floor.
    window = 256
    total = 50 * window
    for base in range(0, total, 100):
        await q.sendBatch([{"body": n} for n in range(base, base + 100)])
    await broker.close()

    again = QueueBroker(db_path, clock, EventLog())
    await again.open()
    assert again.stats("work")["depth"] == total
    assert _in_memory(again) == 0  # a restart reads counts, not messages
    got: list[int] = []
    peak = 0

    async def record(batch: MessageBatch) -> None:
        nonlocal peak
        got.extend(m.body for m in batch.messages)
        peak = max(peak, _in_memory(again))
        if len(got) % (10 * window) == 0:
            assert _stored_messages_alive("work") <= window + 10

    again.register_consumer(QueueConsumer("work", max_batch_size=10, max_batch_timeout=0), record, "w")
    assert again.stats("work")["window"] == window
    await again.drain(timeout=60)
    assert got == list(range(total))  # complete, in order, no duplicate
    assert peak <= window  # held + in flight never beyond the window
    await again.flush()
    assert again.stats("work")["depth"] == 0 and again.stats("work")["acked"] == total
    await again.close()


async def _delays_retries_and_backlog(db_path: Path) -> list[tuple[float, Any, int]]:
    """A backlog beyond the window with delayed messages and retries (immediate and delayed)
    mixed in; returns (clock time, body, attempts) of every delivery."""
    clock = FakeClock(START)
    broker = QueueBroker(db_path, clock, EventLog())
    await broker.open()
    q = broker.producer("mix")
    for base in range(0, 3000, 100):
        await q.sendBatch([{"body": n} for n in range(base, base + 100)])
        await q.send(f"delayed-{base}", delaySeconds=1 + base % 7)
    await broker.close()
    broker = QueueBroker(db_path, clock, EventLog())
    await broker.open()
    q = broker.producer("mix")
    log: list[tuple[float, Any, int]] = []

    def behaviour(batch: MessageBatch) -> None:
        for m in batch.messages:
            log.append((clock.now(), m.body, m.attempts))
            if isinstance(m.body, int) and m.body % 97 == 0 and m.attempts == 1:
                m.retry()  # back of the queue at once
            elif isinstance(m.body, int) and m.body % 89 == 0 and m.attempts < 3:
                m.retry(delaySeconds=2)

    async def handler(batch: MessageBatch) -> None:
        behaviour(batch)

    broker.register_consumer(QueueConsumer("mix", max_batch_size=10, max_batch_timeout=0, max_retries=5),
                             handler, "w")
    await broker.drain(timeout=60)
    for _ in range(12):
        await clock.advance(1)
        await broker.drain(timeout=60)
        await q.send(f"late-{clock.now()}")  # arrivals while the backlog drains
    await broker.drain(timeout=60)
    assert broker.stats("mix")["depth"] == 0
    await broker.close()
    return log


async def test_delays_and_retries_in_a_backlog_keep_the_order_of_an_unbounded_window(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import emulator.bindings.queues.engine as engine

    paged = await _delays_retries_and_backlog(tmp_path / "paged.sqlite3")
    # The reference: a window that holds everything, as the broker did before it had one.
    monkeypatch.setattr(engine, "WINDOW_MIN", 10**9)
    whole = await _delays_retries_and_backlog(tmp_path / "whole.sqlite3")
    assert paged == whole
    bodies = [body for _, body, _ in paged]
    # Redeliveries: 30 multiples of 97 once, 33 multiples of 89 twice, and 0 twice.
    assert len(bodies) == 3000 + 30 + 12 + 30 + 66 + 2
    # Delayed messages came when due (backlog order is by visible_at, then enqueue order).
    when = {body: t for t, body, attempts in paged if attempts == 1}
    assert all(when[f"delayed-{base}"] >= START + 1 + base % 7 for base in range(0, 3000, 100))


async def test_a_burst_beyond_the_budget_waits_on_disk(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    import emulator.bindings.queues.engine as engine

    monkeypatch.setattr(engine, "BURST_BYTES", 0)  # nothing beyond the window stays in memory
    h = harness
    gate = asyncio.Event()
    got: list[int] = []

    async def slow(batch: MessageBatch) -> None:
        await gate.wait()
        got.extend(m.body for m in batch.messages)

    h.broker.register_consumer(QueueConsumer("burst", max_batch_size=50, max_batch_timeout=0, max_concurrency=2),
                               slow, "w")
    window = h.broker.stats("burst")["window"]
    assert window == 4 * 50 * 2
    q = h.broker.producer("burst")
    await asyncio.gather(*(q.sendBatch([{"body": n} for n in range(b, b + 100)]) for b in range(0, 5000, 100)))
    await h.clock.settle()
    stats = h.broker.stats("burst")
    assert stats["depth"] == 5000 and stats["in_memory"] <= window + 100  # a trim leaves the window
    gate.set()
    await h.settle()
    assert got == list(range(5000))


async def test_redrive_purge_and_peek_reach_messages_on_disk(harness: Harness) -> None:
    h = harness
    h.consume("jobs", lambda b: b.retryAll(), max_batch_size=100, max_batch_timeout=0, max_retries=0,
              dead_letter_queue="jobs-dlq")
    await h.broker.producer("jobs").sendBatch([{"body": n} for n in range(100)])
    await h.settle()
    parked = h.broker.peek("jobs-dlq", limit=1000)  # the DLQ has no consumer: all on disk
    assert [m["body"] for m in parked] == list(range(100)) and _in_memory(h.broker) == 0
    h.broker.unregister_consumer("jobs")
    assert h.broker.redrive("jobs-dlq", parked[50]["id"]) == "jobs"
    assert h.broker.redrive("jobs-dlq", parked[0]["id"]) == "jobs"
    assert [m["body"] for m in h.broker.peek("jobs")] == [50, 0]
    assert [m["body"] for m in h.broker.peek("jobs-dlq", limit=3)] == [1, 2, 3]
    dlq = h.broker.stats("jobs-dlq")
    assert (dlq["depth"], dlq["visible"]) == (98, 98)
    sent = await h.broker.producer("jobs-dlq").send("x")
    assert sent.metadata.metrics.backlogCount == 98
    assert h.broker.purge("jobs-dlq") == 99
    assert h.broker.peek("jobs-dlq") == [] and h.broker.stats("jobs-dlq")["depth"] == 0
    with pytest.raises(QueueNotFound):
        h.broker.redrive("jobs-dlq", parked[1]["id"])


# --- pause-delivery / resume-delivery (docs/queues.md) ----------------------------------

async def test_paused_delivery_accumulates_then_resumes_in_order(harness: Harness) -> None:
    h = harness
    consumer = h.consume("queue", max_batch_size=2, max_batch_timeout=1, max_retries=2, retry_delay=0)
    q = h.broker.producer("queue")
    await h.broker.set_paused("queue", True)
    await q.send("a")
    await q.send("b", delaySeconds=5)  # becomes visible while paused: accumulates too
    await q.sendBatch([{"body": "c"}, {"body": "d"}])
    await h.advance(10)
    assert consumer.sizes() == [] and h.broker.is_idle()  # nothing due while paused
    stats = h.broker.stats("queue")
    assert (stats["visible"], stats["delivery_paused"]) == (4, True)
    await h.broker.set_paused("queue", False)
    await h.advance(1)
    assert [m["body"] for batch in consumer.batches for m in batch] == ["a", "c", "d", "b"]
    assert h.broker.stats("queue")["delivery_paused"] is False


async def test_a_batch_in_flight_finishes_and_its_retries_wait_for_resume(harness: Harness) -> None:
    h = harness
    release = asyncio.Event()
    attempts: list[int] = []

    async def slow_then_retry(batch: MessageBatch) -> None:
        attempts.append(batch.messages[0].attempts)
        if len(attempts) == 1:
            await release.wait()
            batch.retryAll()

    h.consume("queue", slow_then_retry, max_batch_timeout=0, max_retries=3, retry_delay=0)
    await h.broker.producer("queue").send("x")
    await asyncio.sleep(0.01)
    assert attempts == [1]
    await h.broker.set_paused("queue", True)
    release.set()
    await h.settle()
    assert attempts == [1] and h.broker.stats("queue")["visible"] == 1  # retried, held back
    await h.broker.set_paused("queue", False)
    await h.settle()
    assert attempts == [1, 2]


async def test_a_pause_survives_a_restart(db_path: Path) -> None:
    clock = FakeClock(START)
    broker = QueueBroker(db_path, clock, EventLog())
    await broker.open()
    await broker.producer("queue").send("kept")
    await broker.set_paused("queue", True)
    await broker.close()

    got: list[Any] = []

    async def record(batch: MessageBatch) -> None:
        got.extend(m.body for m in batch.messages)

    broker = QueueBroker(db_path, clock, EventLog())
    await broker.open()
    try:
        broker.register_consumer(QueueConsumer("queue", max_batch_timeout=0), record, "worker")
        await broker.drain()
        assert got == [] and broker.stats("queue")["delivery_paused"] is True
        await broker.set_paused("queue", False)
        await broker.drain()
        assert got == ["kept"]
    finally:
        await broker.close()
    # Resumed is persisted too.
    broker = QueueBroker(db_path, clock, EventLog())
    await broker.open()
    try:
        assert broker.stats("queue")["delivery_paused"] is False
    finally:
        await broker.close()


async def test_pausing_an_unknown_queue_is_refused(harness: Harness) -> None:
    with pytest.raises(QueueNotFound):
        await harness.broker.set_paused("nope", True)
    assert not harness.broker.has_queue("nope")


# --- the bulk placement of sent messages against its plain reference ---------------------
# `_place_new` places a send's messages in bulk; `_place_new_reference` calls `_place` for
# each. Over generated sends (sizes, per-message and batch delays), consumers (batch sizes,
# retries, dead-letter queues) whose handlers ack, retry or raise per message, and windows
# small enough that sends overflow them while the consumer is held up, both brokers must
# deliver the same batches in the same order and report the same stats after every step.

_DECISIONS = ("none", "ack", "retry", "retry-later")
_step = st.one_of(
    st.tuples(st.just("send"), st.lists(st.sampled_from((None, None, 0, 1, 3)), min_size=1, max_size=40),
              st.sampled_from((None, 0, 2))),
    st.tuples(st.just("advance"), st.sampled_from((0.5, 1, 2, 4))),
    st.tuples(st.just("gate"), st.booleans()),
)


async def _run_queue_scenario(path: Path, reference: bool, consumer: QueueConsumer, decisions: list[str],
                              raise_every: int, steps: list[Any]) -> list[Any]:
    clock = FakeClock(START)
    log = EventLog()
    broker = QueueBroker(path, clock, log)
    if reference:
        broker._place_new = broker._place_new_reference  # type: ignore[method-assign]  # the reference in place of the fast path
    await broker.open()
    seen: list[Any] = []
    gate = asyncio.Event()
    gate.set()

    async def handler(batch: MessageBatch) -> None:
        await gate.wait()
        seen.append((batch.queue, [(m.body, m.attempts) for m in batch.messages], batch.metadata))
        for m in batch.messages:
            decision = decisions[m.body % len(decisions)]
            if decision == "ack":
                m.ack()
            elif decision == "retry":
                m.retry()
            elif decision == "retry-later":
                m.retry(delaySeconds=1)
        if raise_every and batch.messages[0].body % raise_every == 0:
            raise RuntimeError("the handler failed")

    async def drained() -> None:
        await clock.settle()
        if gate.is_set():
            await broker.drain()

    def snapshot() -> list[Any]:
        return [broker.stats(name) for name in broker.queue_names()]

    record: list[Any] = []
    try:
        broker.register_consumer(consumer, handler, "worker")
        producer = broker.producer(consumer.queue)
        body = 0
        for step in steps:
            if step[0] == "send":
                _, delays, batch_delay = step
                messages = [{"body": body + i, **({} if d is None else {"delaySeconds": d})}
                            for i, d in enumerate(delays)]
                body += len(delays)
                options = {} if batch_delay is None else {"delaySeconds": batch_delay}
                seen.append(("sent", await producer.sendBatch(messages, **options)))  # backlog metrics
            elif step[0] == "advance":
                await clock.advance(step[1])
            elif step[1]:
                gate.set()
            else:
                gate.clear()
            await drained()
            record.append((step, snapshot(), list(seen)))
        gate.set()
        for _ in range(12):  # every retry and delay runs out
            await clock.advance(4)
            await broker.drain()
        record.append(("end", snapshot(), list(seen)))
        record.append([m for m in log.messages(level="error", source="queues") if "counted on disk" in m])
    finally:
        await broker.close()
    return record


@fuzz_settings(25)
# A send that overflows the window with a delayed message last: the trim evicts only that
# one, and the next page-in must not read again the in-order messages already held.
@example(batch_size=1, timeout=0, retries=0, dead_letters=False, burst=0, decisions=["none"], raise_every=0,
         steps=[("send", [None, None, None, None, 1], None)])
@given(batch_size=st.integers(1, 12), timeout=st.sampled_from((0, 1)), retries=st.integers(0, 2),
       dead_letters=st.booleans(), burst=st.sampled_from((0, 600, 10**9)),
       decisions=st.lists(st.sampled_from(_DECISIONS), min_size=1, max_size=5), raise_every=st.integers(0, 4),
       steps=st.lists(_step, min_size=1, max_size=12))
def test_bulk_placement_agrees_with_its_reference(batch_size: int, timeout: int, retries: int, dead_letters: bool,
                                                  burst: int, decisions: list[str], raise_every: int,
                                                  steps: list[Any]) -> None:
    import emulator.bindings.queues.engine as engine

    consumer = QueueConsumer("jobs", max_batch_size=batch_size, max_batch_timeout=timeout, max_retries=retries,
                             dead_letter_queue="jobs-dlq" if dead_letters else None)
    # A window of a few messages (and, but for the last choice, a small burst budget): sends
    # overflow it and go to disk, the path the bulk placement treats apart.
    with patch.object(engine, "WINDOW_MIN", 4), patch.object(engine, "WINDOW_BATCHES", 1), \
            patch.object(engine, "BURST_BYTES", burst), tempfile.TemporaryDirectory() as tmp:
        outcomes = [asyncio.run(_run_queue_scenario(Path(tmp) / name / "queues.sqlite3", reference, consumer,
                                                    decisions, raise_every, steps))
                    for name, reference in (("fast", False), ("reference", True))]
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][-1] == []  # and neither lost count of what is on disk
