"""The producer binding's argument handling (what Python Workers code can pass)."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.bindings.queues.binding import delay_error
from emulator.bindings.queues.errors import QueueSendError
from emulator.jsobject import JsObject
from tests.helpers.queues import Harness


async def test_send_requires_a_body(harness: Harness) -> None:
    q = harness.broker.producer("q")
    with pytest.raises(TypeError, match=r"^Message body cannot be undefined$"):
        await q.send()
    with pytest.raises(TypeError, match=r"^Message body cannot be undefined$"):
        await q.sendBatch([{"contentType": "text"}])
    await q.send(None)  # JSON null is a body


async def test_send_batch_requires_messages(harness: Harness) -> None:
    with pytest.raises(TypeError, match=r"^sendBatch\(\) requires at least one message$"):
        await harness.broker.producer("q").sendBatch([])


async def test_options_as_keywords_or_dict(harness: Harness) -> None:
    h = harness
    q = h.broker.producer("q")
    await q.send("a", contentType="text", delaySeconds=5)
    await q.send("b", {"contentType": "text", "delaySeconds": 6})
    await q.sendBatch([JsObject(body="c", contentType="text")], {"delaySeconds": 7})
    peeked = h.broker.peek("q")
    assert [(m["body"], m["content_type"], m["visible_at"] - h.clock.now()) for m in peeked] == [
        ("a", "text", 5), ("b", "text", 6), ("c", "text", 7)]


@pytest.mark.parametrize(("delay", "text"), [
    (-1, "message delay -1 is invalid: Too small: expected number to be >=0"),
    (-1.5, "message delay -1 is invalid: Too small: expected number to be >=0"),  # truncated first
    (43201, "message delay 43201 is invalid: Too big: expected number to be <=43200"),
    (86400, "message delay 86400 is invalid: Too big: expected number to be <=43200"),  # Miniflare's limit
    ("soon", "message delay soon is invalid: Invalid input: expected number, received NaN"),
])
async def test_invalid_delays(harness: Harness, delay: Any, text: str) -> None:
    q = harness.broker.producer("q")
    with pytest.raises(QueueSendError) as info:
        await q.send("x", delaySeconds=delay)
    assert str(info.value) == f"Queue send failed: {text}"
    with pytest.raises(QueueSendError) as info:
        await q.sendBatch([{"body": "x"}], delaySeconds=delay)
    assert str(info.value) == f"Queue sendBatch failed: {text}"
    assert harness.broker.stats("q")["depth"] == 0


def test_delay_bounds_are_inclusive() -> None:
    assert delay_error(0) is None and delay_error(43200) is None and delay_error(3.0) is None
    assert delay_error(43201) is not None and delay_error(-1) is not None
    assert delay_error(True) is not None


@pytest.mark.parametrize(("given", "taken"), [
    (1.9, 1), (0.5, 0), (-0.5, 0), (43200.9, 43200), (float("nan"), 0), (float("inf"), 0), (float("-inf"), 0),
    (2.0, 2), (7, 7)])
async def test_delays_convert_like_workerd_ints(harness: Harness, given: float, taken: int) -> None:
    """workerd declares delaySeconds as an `int`: fractions truncate, non-finite numbers are 0."""
    h = harness
    q = h.broker.producer("q")
    await q.send("send", delaySeconds=given)
    await q.sendBatch([{"body": "per message", "delaySeconds": given}])
    await q.sendBatch([{"body": "batch option"}], delaySeconds=given)
    delays = [m["visible_at"] - h.clock.now() for m in h.broker.peek("q")]
    assert delays == [taken] * 3


async def test_delays_beyond_32_bits_are_a_type_error(harness: Harness) -> None:
    q = harness.broker.producer("q")
    for delay in (2**31, -(2**31) - 1, 1e20):
        with pytest.raises(TypeError, match=r"^Value out of range\. Must be between -2147483648 and 2147483647"):
            await q.send("x", delaySeconds=delay)
    assert harness.broker.stats("q")["depth"] == 0


async def test_send_batch_refuses_the_whole_batch_for_one_bad_delay(harness: Harness) -> None:
    q = harness.broker.producer("q")
    with pytest.raises(QueueSendError, match="message delay 50000 is invalid"):
        await q.sendBatch([{"body": "ok", "delaySeconds": 1}, {"body": "too late", "delaySeconds": 50000.5}])
    assert harness.broker.stats("q")["depth"] == 0


async def test_unsupported_content_type(harness: Harness) -> None:
    with pytest.raises(TypeError, match=r"^Unsupported queue message content type: yaml$"):
        await harness.broker.producer("q").send("x", contentType="yaml")


async def test_retry_delay_is_validated(harness: Harness) -> None:
    h = harness
    errors: list[str] = []

    def behaviour(batch: Any) -> None:
        for call in (lambda: batch.messages[0].retry(delaySeconds=-5),
                     lambda: batch.messages[0].retry(delaySeconds=43201),
                     lambda: batch.retryAll(delaySeconds=86400)):
            try:
                call()
            except ValueError as exc:
                errors.append(str(exc))

    h.consume("q", behaviour, max_batch_timeout=0)
    await h.broker.producer("q").send("x")
    await h.settle()
    assert errors == ["delaySeconds -5 is invalid: Too small: expected number to be >=0",
                      "delaySeconds 43201 is invalid: Too big: expected number to be <=43200",
                      "delaySeconds 86400 is invalid: Too big: expected number to be <=43200"]


async def test_a_fractional_retry_delay_is_truncated_and_the_batch_settles(harness: Harness) -> None:
    """retry(delaySeconds=1.5) retries after 1 s, like workerd; it used to fail the whole batch."""
    h = harness

    def behaviour(batch: Any) -> None:
        for msg in batch.messages:
            if msg.body == "later" and msg.attempts == 1:
                msg.retry(delaySeconds=1.5)
            else:
                msg.ack()

    consumer = h.consume("q", behaviour, max_batch_size=2, max_batch_timeout=0)
    await h.broker.producer("q").sendBatch([{"body": "later"}, {"body": "now"}])
    await h.settle()
    assert consumer.sizes() == [2] and h.logs("error") == []
    stats = h.broker.stats("q")
    assert (stats["acked"], stats["retried"], stats["delayed"]) == (1, 1, 1)
    [retried] = h.broker.peek("q")
    assert retried["visible_at"] - h.clock.now() == 1
    await h.advance(1)
    assert [[m["body"] for m in b] for b in consumer.batches] == [["later", "now"], ["later"]]


async def test_retry_all_truncates_its_delay_too(harness: Harness) -> None:
    h = harness
    consumer = h.consume("q", lambda b: b.retryAll(delaySeconds=2.99) if b.messages[0].attempts == 1 else None,
                         max_batch_timeout=0)
    await h.broker.producer("q").send("x")
    await h.settle()
    assert h.broker.peek("q")[0]["visible_at"] - h.clock.now() == 2
    await h.advance(2)
    assert consumer.sizes() == [1, 1] and h.broker.stats("q")["depth"] == 0


async def test_batch_is_iterable_and_sized(harness: Harness) -> None:
    h = harness
    seen: list[Any] = []

    def behaviour(batch: Any) -> None:
        seen.append((len(batch), [m.body for m in batch], batch.queue, repr(batch)))

    h.consume("q", behaviour, max_batch_size=2, max_batch_timeout=0)
    await h.broker.producer("q").sendBatch([{"body": 1}, {"body": 2}])
    await h.settle()
    assert seen == [(2, [1, 2], "q", "<MessageBatch queue='q' messages=2>")]


async def test_type_errors_come_before_the_broker_checks(harness: Harness) -> None:
    q = harness.broker.producer("q")
    # workerd serializes on the client side before the broker validates delays and sizes.
    with pytest.raises(TypeError, match='requires a value of type string'):
        await q.send(1, contentType="text", delaySeconds=-1)
    with pytest.raises(TypeError, match="Unsupported queue message content type"):
        await q.sendBatch([{"body": 1, "contentType": "nope"}], delaySeconds=-1)
    with pytest.raises(QueueSendError, match="message delay -2 is invalid"):
        await q.sendBatch([{"body": 1, "delaySeconds": -2}])
