"""The ``cf_emulator`` fixture used directly, as an app's own test suite would use it.

The app (``app/``) queues orders over HTTP; its consumer writes D1 and R2 and starts a
``FulfilOrder`` workflow that sleeps an hour before shipping. Every wait in these tests is
fake time moved by the test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from emulator.clock import FakeClock
from emulator.pytest_plugin import EmulatorHandle, LookupFailed

APP = Path(__file__).parent / "app"


async def start(cf_emulator: Any, **options: Any) -> EmulatorHandle:
    emu: EmulatorHandle = await cf_emulator(APP / "wrangler.toml", apply_migrations=True, **options)
    return emu


async def test_starts_on_free_ports_with_state_in_tmp_path(cf_emulator: Any, tmp_path: Path) -> None:
    emu = await start(cf_emulator)
    assert isinstance(emu.clock, FakeClock)
    assert emu.state_dir == (tmp_path / "cf-emulator-state").resolve()
    assert emu.url("orders").startswith("http://127.0.0.1:")
    assert not emu.url("orders").endswith(":8787")
    resp = await emu.fetch("orders", "/")
    assert resp.status == 200 and resp.text == "hello" and resp.ok
    assert resp.headers["content-type"].startswith("text/plain")  # case-insensitive
    with pytest.raises(ValueError, match="must start with '/'"):
        await emu.fetch("orders", "orders")
    assert emu.apps == ["orders"]


async def test_http_send_drain_and_bindings(cf_emulator: Any) -> None:
    emu = await start(cf_emulator)
    resp = await emu.fetch("orders", "/orders", method="POST", json={"id": "a1", "item": "tea", "qty": 2})
    assert resp.status == 202 and resp.json() == {"queued": "a1"}
    await emu.queue("jobs").send({"id": "a2", "item": "cake", "qty": 1})
    # Below max_batch_size: nothing is delivered before the 2 s batch timeout.
    await emu.drain()
    assert (await emu.fetch("orders", "/orders")).json() == []
    await emu.advance(2)
    assert [o["id"] for o in (await emu.fetch("orders", "/orders")).json()] == ["a1", "a2"]
    row = await emu.d1("orders-db").prepare("SELECT qty FROM orders WHERE id = ?").bind("a1").first()
    assert row["qty"] == 2
    receipt = await emu.r2("receipts").get("receipts/a2.json")
    assert receipt is not None and await receipt.json() == {"id": "a2", "item": "cake", "qty": 1}
    # Binding names work as well as resource names.
    assert await emu.d1("DB").prepare("SELECT count(*) AS n FROM orders").first() == {"n": 2}
    assert "QUEUE jobs 2/2" in " ".join(emu.log_messages(source="queues"))


async def test_workflow_sleep_waits_for_fake_time(cf_emulator: Any) -> None:
    emu = await start(cf_emulator)
    await emu.queue("JOBS").send({"id": "w1", "item": "pen", "qty": 3, "flaky": True})
    await emu.advance(2)
    instance = await emu.workflow("fulfil-order").get("order-w1")
    # Asleep for an hour of fake time: drained, but not finished.
    assert (await instance.status())["status"] == "waiting"
    await emu.advance(3599)
    assert (await instance.status())["status"] == "waiting"
    await emu.advance(1)
    # The first "ship" attempt failed; the retry is 30 s away.
    assert (await instance.status())["status"] == "running"
    await emu.advance(30)
    status = await instance.status()
    assert status["status"] == "complete" and status["output"] == {"shipped": "w1"}


async def test_retries_and_dead_letter_queue_with_app_logs(cf_emulator: Any) -> None:
    emu = await start(cf_emulator)
    await emu.queue("jobs").sendBatch([{"body": {"id": "bad", "fail": True}},
                                       {"body": {"id": "ok", "item": "ink", "qty": 1}}])
    await emu.advance(2)
    assert [o["id"] for o in (await emu.fetch("orders", "/orders")).json()] == ["ok"]
    stats = emu.platform.plugins["queues"].broker.stats("jobs")  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)
    assert stats["delayed"] == 1 and stats["dead_letter_count"] == 0
    await emu.advance(10)  # retry_delay: visible again, waiting for the 2 s batch timeout
    assert emu.log_messages(source="app:orders") == ["[orders] cannot take order bad (attempt 1)"]
    await emu.advance(2)  # the second (last) attempt fails too
    stats = emu.platform.plugins["queues"].broker.stats("jobs")  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)
    assert stats["depth"] == 0 and stats["dead_letter_count"] == 1
    printed = emu.log_messages(source="app:orders")
    assert printed == ["[orders] cannot take order bad (attempt 1)", "[orders] cannot take order bad (attempt 2)"]
    assert emu.log_messages(level="error", source="app:orders") == []


async def test_client_session_per_app(cf_emulator: Any) -> None:
    emu = await start(cf_emulator)
    client = emu.client("orders")
    async with client.get("/receipts/nope") as resp:
        assert resp.status == 404
        assert await resp.text() == "no such receipt"
    async with client.get("/_emulator/health") as resp:
        assert (await resp.json())["apps"]["orders"]["kind"] == "worker"


async def test_unknown_names_say_what_exists(cf_emulator: Any) -> None:
    emu = await start(cf_emulator)
    with pytest.raises(LookupFailed, match=r"no queue named 'nope'.*'jobs'"):
        emu.queue("nope")
    with pytest.raises(LookupFailed, match=r"no R2 bucket named 'x'.*'receipts'"):
        emu.r2("x")
    with pytest.raises(KeyError, match="no hosted app named 'web'"):
        emu.url("web")


async def test_dead_letter_queue_without_producer_is_reachable(cf_emulator: Any) -> None:
    emu = await start(cf_emulator)
    await emu.queue("jobs-dlq").send({"id": "parked"})
    await emu.drain()
    peek = emu.platform.plugins["queues"].broker.peek("jobs-dlq")  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)
    assert [m["body"] for m in peek] == [{"id": "parked"}]


async def test_restart_keeps_state_and_clock(cf_emulator: Any) -> None:
    emu = await start(cf_emulator)
    await emu.queue("jobs").send({"id": "r1", "item": "mug", "qty": 1})
    await emu.drain()
    clock = emu.clock
    await emu.restart()
    assert emu.clock is clock
    await emu.advance(2)
    assert [o["id"] for o in (await emu.fetch("orders", "/orders")).json()] == ["r1"]


async def test_two_emulators_in_one_test_get_separate_state(cf_emulator: Any, tmp_path: Path) -> None:
    first = await start(cf_emulator)
    second = await start(cf_emulator)
    assert first.state_dir != second.state_dir
    assert first.url("orders") != second.url("orders")
    await first.queue("jobs").send({"id": "only-first", "item": "x", "qty": 1})
    await first.advance(2)
    await second.advance(2)
    assert (await second.fetch("orders", "/orders")).json() == []


async def test_relative_paths_resolve_against_the_test_folder(cf_emulator: Any) -> None:
    emu = await cf_emulator("app", apply_migrations=True)
    assert emu.apps == ["orders"]
    with pytest.raises(FileNotFoundError, match="not found"):
        await cf_emulator("no/such/wrangler.toml")


async def test_real_time_option(cf_emulator: Any) -> None:
    from emulator.clock import RealClock

    emu = await cf_emulator(APP / "wrangler.toml", real_time=True, s3_port=None)
    assert isinstance(emu.clock, RealClock)
    assert emu.emulator.s3_endpoint is None
    with pytest.raises(TypeError, match="real clock"):
        await emu.advance(1)


async def test_a_state_dir_another_process_holds_is_refused(cf_emulator: Any, tmp_path: Path) -> None:
    from emulator.emulator import StateDirInUse
    from tests.helpers.processes import LockHolder

    held = tmp_path / "held-state"
    other = LockHolder(held, "emulator", "cf-emulator dev", server_info={
        "internal_url": "http://127.0.0.1:8787", "apps": {"orders": {"url": "http://127.0.0.1:8787", "port": 8787}}})
    try:
        with pytest.raises(StateDirInUse, match=rf"pid {other.pid} \(cf-emulator dev\), serving orders "
                                                r"http://127.0.0.1:8787"):
            await start(cf_emulator, state_dir=held)
    finally:
        other.release()
    emu = await start(cf_emulator, state_dir=held)  # free again
    assert emu.state_dir == held.resolve()


async def test_the_request_body_limit_is_an_option(cf_emulator: Any) -> None:
    emu = await start(cf_emulator, request_body_limit="1KB")
    order = {"id": "big", "item": "x" * 2000, "qty": 1}
    resp = await emu.fetch("orders", "/orders", method="POST", json=order)
    assert resp.status == 413 and "413 Request Entity Too Large" in resp.text
    assert emu.platform.request_bodies.limit == 1000
    small = await emu.fetch("orders", "/orders", method="POST", json={"id": "s", "item": "tea", "qty": 1})
    assert small.status == 202
    await emu.advance(2)  # the batch timeout: only the small order was ever queued
    assert [o["id"] for o in (await emu.fetch("orders", "/orders")).json()] == ["s"]


async def test_an_app_of_a_workspace_gets_its_migration_setting(cf_emulator: Any, workspace: Path,
                                                                 tmp_path: Path) -> None:
    # The state-directory rule (docs/state.md): the test's own directory stays the state
    # directory, but the workspace's apply_migrations applies to its app named alone.
    ws = workspace / "wrangler.toml"
    ws.write_text(ws.read_text() + "apply_migrations = true\n")
    emu = await cf_emulator(workspace / "backend")
    assert emu.state_dir == (tmp_path / "cf-emulator-state").resolve()
    resp = await emu.fetch("dev-backend", "/notes")
    assert (resp.status, resp.json()) == (200, ["migrated"])
    assert not (workspace / ".emulator").exists()
