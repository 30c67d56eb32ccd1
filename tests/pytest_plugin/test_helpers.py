"""The pytest handle's test helpers: stats(), peek(), moving the fake clock deadline by
deadline (advance_to_next, run_until_idle), and unit-testing a consumer's decisions
(create_message_batch + run_queue_handler), on the orders app (tests/pytest_plugin/app)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

APP = Path(__file__).parent / "app" / "wrangler.toml"


async def test_peek_and_stats(cf_emulator: Any) -> None:
    emu = await cf_emulator(APP, apply_migrations=True)
    await emu.queue("jobs").send({"id": "a", "item": "tea", "qty": 1})
    await emu.queue("jobs").send({"id": "b", "item": "ink", "qty": 2})
    peeked = emu.peek("jobs")
    assert [m["body"]["id"] for m in peeked] == ["a", "b"]
    stats = emu.stats()
    assert stats["queues"]["jobs"]["depth"] == 2
    assert stats["queues"]["jobs-dlq"]["depth"] == 0
    assert set(stats) >= {"queues", "d1", "r2", "kv", "workflows"}


async def test_advance_to_next_walks_the_retry_schedule(cf_emulator: Any) -> None:
    emu = await cf_emulator(APP, apply_migrations=True)
    await emu.queue("jobs").send({"id": "bad", "fail": True})
    # The batch timeout (2 s), then the retry delay (10 s), then the DLQ move.
    assert await emu.advance_to_next() == pytest.approx(2)
    assert emu.peek("jobs")[0]["attempts"] == 2
    assert await emu.advance_to_next() == pytest.approx(10)
    assert await emu.advance_to_next() == pytest.approx(2)
    assert emu.stats()["queues"]["jobs-dlq"]["depth"] == 1 and emu.stats()["queues"]["jobs"]["depth"] == 0


async def test_run_until_idle_plays_out_sleeps(cf_emulator: Any) -> None:
    emu = await cf_emulator(APP, apply_migrations=True)
    await emu.queue("jobs").send({"id": "g1", "item": "tea", "qty": 2})
    moved = await emu.run_until_idle(max_time=2 * 3600)
    # Batch timeout, then the workflow's one-hour sleep: the order is shipped.
    assert moved >= 3600
    status = await (await emu.workflow("fulfil-order").get("order-g1")).status()
    assert status["status"] == "complete" and status["output"] == {"shipped": "g1"}
    assert emu.clock.next_deadline() is None  # nothing else is scheduled: idle
    assert await emu.advance_to_next() is None


async def test_run_until_idle_waits_for_a_batch_already_in_flight(cf_emulator: Any) -> None:
    emu = await cf_emulator(APP, apply_migrations=True)
    # A full batch (max_batch_size 5) is dispatched at once, without a timer: its retry delay
    # is only scheduled when it ends, so run_until_idle must not stop before that.
    await emu.queue("jobs").sendBatch([{"body": {"id": f"bad{i}", "fail": True}} for i in range(5)])
    moved = await emu.run_until_idle(max_time=60)
    assert moved >= 10  # the retry delay, then the second (last) delivery
    assert emu.stats()["queues"]["jobs-dlq"]["depth"] == 5


async def test_consumer_decisions_without_the_broker(cf_emulator: Any) -> None:
    emu = await cf_emulator(APP, apply_migrations=True)
    batch = emu.create_message_batch("jobs", [
        {"id": "m-ok", "body": {"id": "ok1", "item": "tea", "qty": 1}},
        {"id": "m-bad", "body": {"id": "bad", "fail": True}, "attempts": 2},
    ])
    result = await emu.run_queue_handler("orders", batch)
    assert result.outcome == "ok" and result.error is None
    assert result.explicit_acks == ["m-ok"]
    assert result.retry_messages == [{"id": "m-bad", "delay_seconds": None}]
    assert result.acked == ["m-ok"] and result.retried == [("m-bad", None)]
    assert result.ack_all is False and result.retry_batch == {"retry": False, "delay_seconds": None}
    # The handler really ran: the acked order is in D1, and nothing went through the broker.
    rows = await emu.d1("orders-db").prepare("SELECT id FROM orders").all()
    assert [r["id"] for r in rows.results] == ["ok1"]
    assert emu.stats()["queues"]["jobs"]["depth"] == 0


async def test_a_raising_handler_retries_what_it_did_not_ack(cf_emulator: Any) -> None:
    emu = await cf_emulator(APP, apply_migrations=True)
    # A body without "item" makes the handler raise (KeyError) after the first ack.
    batch = emu.create_message_batch("jobs", [{"id": "m1", "body": {"id": "x1", "item": "tea", "qty": 1}},
                                              {"id": "m2", "body": {"id": "x2"}},
                                              {"id": "m3", "body": {"id": "x3", "item": "pie", "qty": 1}}])
    result = await emu.run_queue_handler("orders", batch)
    assert result.outcome == "exception" and isinstance(result.error, KeyError)
    assert result.acked == ["m1"] and result.retried == [("m2", None), ("m3", None)]
