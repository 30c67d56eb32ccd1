"""`dev` end to end: a workspace's Pages producer and Worker consumer in one process.

Real HTTP against real ports; the apps under ``tests/e2e/apps/dev`` use only ``workers``.
"""

from __future__ import annotations

import json
from pathlib import Path
from collections.abc import AsyncIterator

import aiohttp
import pytest

from emulator import Emulator, FakeClock
from emulator.logs import EventLog


@pytest.fixture
async def emu(workspace: Path) -> AsyncIterator[Emulator]:
    emulator = Emulator([workspace / "wrangler.toml"], clock=FakeClock(), port=0, log=EventLog())
    async with emulator:
        yield emulator


async def get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as resp:
            return resp.status, resp.headers.get("content-type", ""), await resp.text()


async def test_every_app_gets_its_own_port_and_a_ready_line(emu: Emulator) -> None:
    names = [app.name for app in emu.apps]
    assert names == ["dev-shop", "dev-backend"]
    urls = [emu.url(n) for n in names]
    assert len(set(urls)) == 2 and all(u.startswith("http://127.0.0.1:") for u in urls)
    ready = [m for m in emu.log.messages(source="dev") if m.startswith("ready:")]
    assert ready == [f"ready: dev-shop {urls[0]}", f"ready: dev-backend {urls[1]}"]
    assert emu.s3_endpoint and emu.s3_endpoint.startswith("http://127.0.0.1:")
    assert f"S3 endpoint: {emu.s3_endpoint}" in emu.log.messages(source="dev")
    assert (await get(urls[0] + "/api/greeting"))[2] == "hello from shop"
    assert (await get(urls[1] + "/"))[2] == "backend"


async def test_health_on_every_port(emu: Emulator, workspace: Path) -> None:
    for name in ("dev-shop", "dev-backend"):
        status, ctype, text = await get(emu.url(name) + "/_emulator/health")
        assert status == 200 and ctype.startswith("application/json")
        health = json.loads(text)
        assert health["status"] == "ok"
        assert health["app"] == name
        assert health["state_dir"] == str((workspace / ".emulator").resolve())
        assert health["s3"]["endpoint"] == emu.s3_endpoint
        assert set(health["apps"]) == {"dev-shop", "dev-backend"}
        shop, backend = health["apps"]["dev-shop"], health["apps"]["dev-backend"]
        assert shop["kind"] == "pages" and backend["kind"] == "worker"
        assert shop["url"] == emu.url("dev-shop") and backend["url"] == emu.url("dev-backend")
        assert shop["bindings"]["queues"]["producers"] == {"ORDERS": "dev-orders"}
        assert backend["bindings"]["queues"]["consumers"] == ["dev-orders"]
        assert backend["bindings"]["r2"] == {"BUCKET": "dev-shared"}
        assert backend["crons"] == ["*/5 * * * *"]
        assert {"queues", "r2"} <= set(health["plugins"])


async def test_server_info_for_the_cli_is_written_and_cleared(workspace: Path) -> None:
    emulator = Emulator([workspace / "wrangler.toml"], clock=FakeClock(), port=0)
    async with emulator:
        info = json.loads((workspace / ".emulator" / "server.json").read_text())
        assert info["internal_url"] == emulator.internal_url == emulator.url("dev-shop")
        assert info["apps"]["dev-backend"]["url"] == emulator.url("dev-backend")
        assert info["s3_endpoint"] == emulator.s3_endpoint
    assert not (workspace / ".emulator" / "server.json").exists()


async def test_queue_produced_by_pages_is_consumed_by_the_worker(emu: Emulator) -> None:
    clock = emu.platform.clock
    assert isinstance(clock, FakeClock)
    async with aiohttp.ClientSession() as session:
        async with session.post(emu.url("dev-shop") + "/api/order", json={"id": 7, "item": "tea"}) as resp:
            assert resp.status == 200
            assert await resp.json() == {"queued": True, "id": 7}
    await emu.drain()
    # max_batch_timeout = 1: nothing is delivered before the batch times out.
    assert (await get(emu.url("dev-backend") + "/orders/7"))[0] == 404
    await clock.advance(1)
    await emu.drain()
    status, _, text = await get(emu.url("dev-backend") + "/orders/7")
    assert status == 200
    assert json.loads(text) == {"id": 7, "item": "tea", "by": "v1"}


async def test_request_log_lines_name_the_app(emu: Emulator) -> None:
    await get(emu.url("dev-backend") + "/var?x=1")
    await get(emu.url("dev-backend") + "/orders/none")
    await get(emu.url("dev-shop") + "/api/greeting")
    lines = emu.log.messages(source="http")
    assert any(line.startswith("[dev-backend] GET /var?x=1 200 OK (") and line.endswith("ms)") for line in lines)
    assert any(line.startswith("[dev-backend] GET /orders/none 404 Not Found (") for line in lines)
    assert any(line.startswith("[dev-shop] GET /api/greeting 200 OK (") for line in lines)
    record = [r for r in emu.log.recent if r.source == "http" and r.fields.get("path") == "/var?x=1"][-1]
    assert record.fields["app"] == "dev-backend" and record.fields["status"] == 200
    assert record.fields["method"] == "GET" and isinstance(record.fields["duration_ms"], int)


async def test_app_exception_is_a_500_without_traceback(emu: Emulator) -> None:
    status, _, text = await get(emu.url("dev-backend") + "/boom")
    assert status == 500
    assert "Traceback (most recent call last)" not in text and 'File "' not in text
    errors = [r for r in emu.log.recent if r.level == "error" and "exploded" in (r.message + str(r.fields))]
    assert errors, "the failure must reach the developer's log"


async def test_internal_api_errors_are_json(emu: Emulator) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(emu.url("dev-shop") + "/_emulator/no-such-thing") as resp:
            assert resp.status == 404
            body = await resp.json()
            assert body["status"] == 404 and "no-such-thing" in body["message"]
        async with session.delete(emu.url("dev-backend") + "/_emulator/health") as resp:
            assert resp.status == 405
            assert "GET" in resp.headers["Allow"]
            assert (await resp.json())["status"] == 405


async def test_service_binding_reaches_the_other_hosted_app(emu: Emulator) -> None:
    assert await get(emu.url("dev-shop") + "/api/backend") == (200, "text/plain;charset=UTF-8", "backend says v1")
    health = json.loads((await get(emu.url("dev-shop") + "/_emulator/health"))[2])
    assert health["apps"]["dev-shop"]["bindings"]["services"] == {"BACKEND": "dev-backend"}
