"""The dashboard's HTTP endpoints, mounted as the server mounts them (``setup`` on the
``/_emulator`` sub-app), over a platform with real queue and D1 engines."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from emulator import dashboard
from emulator.clock import FakeClock
from emulator.config.model import AppConfig
from emulator.platform import Platform
from tests.helpers.apps import D1DatabaseBinding, QueueConsumer, QueueProducer, app_config


def _apps(root: Path) -> list[AppConfig]:
    web_app = app_config(
        config_path=root / "web" / "wrangler.toml", kind="pages", name="web",
        producers=(QueueProducer("JOBS", "jobs"),),
        d1_databases=(D1DatabaseBinding("DB", "shop-db", "id-1", root / "migrations"),),
    )
    worker = app_config(
        config_path=root / "worker" / "wrangler.toml", kind="worker", name="worker",
        consumers=(QueueConsumer("jobs", dead_letter_queue="jobs-dlq", max_retries=1),),
        d1_databases=(D1DatabaseBinding("DB", "shop-db", None, root / "migrations"),),
    )
    return [web_app, worker]


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    p = Platform(_apps(tmp_path), tmp_path / "state", clock=FakeClock())
    await p.start()
    yield p
    await p.stop()


@pytest.fixture
async def client(platform: Platform, aiohttp_client: Any) -> TestClient:
    root = web.Application()
    sub = web.Application()
    dashboard.setup(sub, platform)
    for route in platform.plugins["d1"].routes():
        sub.router.add_route(route.method, "/d1" + route.path, route.handler)
    root.add_subapp("/_emulator", sub)
    return await aiohttp_client(root)


async def test_page_and_static_files(client: TestClient) -> None:
    resp = await client.get("/_emulator/")
    assert resp.status == 200
    html = await resp.text()
    assert '<script src="dashboard/static/dashboard.js"' in html
    assert "default-src 'self'" in resp.headers["content-security-policy"]
    resp = await client.get("/_emulator", allow_redirects=False)
    assert resp.status == 302 and resp.headers["location"] == "/_emulator/"
    for name, kind in (("dashboard.js", "text/javascript"), ("dashboard.css", "text/css")):
        resp = await client.get(f"/_emulator/dashboard/static/{name}")
        assert resp.status == 200 and resp.content_type == kind
    for name in ("..%2F__init__.py", "index.html", "api.py"):
        resp = await client.get(f"/_emulator/dashboard/static/{name}")
        assert resp.status == 404
    # Each binding type's tab comes from its package, named by the registry only.
    for name in ("queues", "d1", "r2", "workflows"):
        assert f'<script src="dashboard/panels/{name}.js" defer>' in html
        resp = await client.get(f"/_emulator/dashboard/panels/{name}.js")
        assert resp.status == 200 and resp.content_type == "text/javascript"
        assert f'registerPanel("{name}"' in await resp.text()
    for name in ("..%2Fplugin.py", "services.js", "unsupported.js", "nope.js"):
        resp = await client.get(f"/_emulator/dashboard/panels/{name}")
        assert resp.status == 404, name


async def test_overview_lists_resources_and_dead_letter_relations(client: TestClient) -> None:
    data = await (await client.get("/_emulator/dashboard/api/overview")).json()
    assert [a["name"] for a in data["apps"]] == ["web", "worker"]
    assert data["apps"][0]["bindings"] == [["env.JOBS", "jobs", "Queue", "emulated"],
                                           ["env.DB", "shop-db", "D1 Database", "emulated"]] or \
        sorted(data["apps"][0]["bindings"]) == sorted([["env.DB", "shop-db", "D1 Database", "emulated"],
                                                        ["env.JOBS", "jobs", "Queue", "emulated"]])
    queues = data["bindings"]["queues"]["queues"]
    assert queues["jobs"]["producers"] == [{"app": "web", "binding": "JOBS"}]
    assert queues["jobs"]["consumers"][0]["deadLetterQueue"] == "jobs-dlq"
    assert queues["jobs-dlq"]["deadLetterFor"] == ["jobs"]
    assert len(data["bindings"]["d1"]["databases"]["shop-db"]["bindings"]) == 2
    assert data["clock"] == {"now": 1000.0, "fake": True}


async def test_log_long_poll_returns_new_records(platform: Platform, client: TestClient) -> None:
    platform.log.info("dev", "first")
    data = await (await client.get("/_emulator/dashboard/api/logs", params={"after": 0})).json()
    messages = [r["message"] for r in data["records"]]
    assert "first" in messages
    last = data["last"]
    poll = asyncio.create_task(client.get("/_emulator/dashboard/api/logs", params={"after": last, "wait": 5}))
    await asyncio.sleep(0.05)
    assert not poll.done()
    platform.log.warn("queues", "second", queue="jobs")
    data = await (await asyncio.wait_for(poll, 2)).json()
    assert [(r["message"], r["level"], r["fields"]) for r in data["records"]] == [("second", "warn", {"queue": "jobs"})]
    assert data["last"] == last + 1
    resp = await client.get("/_emulator/dashboard/api/logs", params={"after": "x"})
    assert resp.status == 400


async def test_log_stream_is_server_sent_events_resumable_by_id(platform: Platform, client: TestClient) -> None:
    platform.log.info("dev", "one")
    platform.log.info("dev", "two")
    resp = await client.get("/_emulator/dashboard/api/logs/stream", headers={"Last-Event-ID": "1"})
    assert resp.content_type == "text/event-stream"
    assert await resp.content.readline() == b"retry: 500\n"
    await resp.content.readline()
    event_id = await resp.content.readline()
    data = await resp.content.readline()
    assert event_id == b"id: 2\n"
    assert json.loads(data.removeprefix(b"data: "))["message"] == "two"
    await resp.content.readline()
    platform.log.error("app:worker", "<script>alert(1)</script>")
    assert await asyncio.wait_for(resp.content.readline(), 2) == b"id: 3\n"
    record = json.loads((await resp.content.readline()).removeprefix(b"data: "))
    assert record["message"] == "<script>alert(1)</script>" and record["level"] == "error"
    resp.close()


async def test_shutdown_ends_open_streams(platform: Platform, aiohttp_server: Any) -> None:
    root = web.Application()
    sub = web.Application()
    dashboard.setup(sub, platform)
    root.add_subapp("/_emulator", sub)
    server = await aiohttp_server(root)
    import aiohttp

    async with aiohttp.ClientSession() as session:
        resp = await session.get(server.make_url("/_emulator/dashboard/api/logs/stream"))
        await resp.content.readline()
        loop = asyncio.get_running_loop()
        started = loop.time()
        await server.close()
        # Without the on_shutdown hook this would wait for the handler's heartbeat.
        assert loop.time() - started < 2
        resp.close()


def _create_db(platform: Platform) -> None:
    path: Path = platform.plugins["d1"].database_path("shop-db")  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT);"
                       "INSERT INTO orders (item) VALUES ('tea'), ('<img src=x onerror=alert(1)>');")
    conn.close()


async def test_d1_tables_and_read_only_query(platform: Platform, client: TestClient) -> None:
    _create_db(platform)
    data = await (await client.get("/_emulator/d1/databases/shop-db/tables")).json()
    assert [(t["name"], t["rows"]) for t in data["tables"]] == [("orders", 2)]
    resp = await client.post("/_emulator/d1/databases/shop-db/query",
                             json={"sql": "SELECT item FROM orders WHERE id > ? ORDER BY id", "params": [0]})
    assert await resp.json() == {"columns": ["item"], "rows": [["tea"], ["<img src=x onerror=alert(1)>"]],
                                 "truncated": False, "rowCount": 2}
    for sql in ("DELETE FROM orders", "WITH x AS (SELECT 1) UPDATE orders SET item = 'x'",
                "SELECT 1; DROP TABLE orders"):
        resp = await client.post("/_emulator/d1/databases/shop-db/query", json={"sql": sql})
        assert resp.status == 400, sql
        assert "message" in await resp.json()
    # Through the app's own binding the data is untouched.
    db = platform.env_for(platform.app("web"))["DB"]
    result = await db.prepare("SELECT count(*) AS n FROM orders").first()
    assert result["n"] == 2


async def test_d1_errors(platform: Platform, client: TestClient) -> None:
    resp = await client.get("/_emulator/d1/databases/other-db/tables")
    assert resp.status == 404 and "shop-db" in (await resp.json())["message"]
    resp = await client.post("/_emulator/d1/databases/shop-db/query", data=b"not json")
    assert resp.status == 400
    resp = await client.post("/_emulator/d1/databases/shop-db/query", json={"sql": 1})
    assert resp.status == 400
    for body in (b"[" * 50_000, b'{"sql": "SELECT 1", "params": NaN}', b"\xff"):
        resp = await client.post("/_emulator/d1/databases/shop-db/query", data=body)
        assert resp.status == 400 and (await resp.json())["status"] == 400
