"""``/_emulator/d1``: execute over HTTP, and what it refuses."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from emulator.bindings.d1.routes import routes
from emulator.platform import Platform


async def client_for(platform: Platform, aiohttp_client: Any) -> Any:
    app = web.Application()
    app.add_routes(routes(platform.plugin("d1")))  # type: ignore[arg-type]  # the plugin's own routes() takes it (typed BindingPlugin)
    return await aiohttp_client(app)


async def test_execute_and_its_refusals(platform: Platform, aiohttp_client: Any) -> None:
    client = await client_for(platform, aiohttp_client)
    [known] = (await (await client.get("/databases")).json())
    url = f"/databases/{known['id']}/execute"
    resp = await client.post(url, json={"sql": "CREATE TABLE t(x); INSERT INTO t VALUES (1)"})
    assert resp.status == 200
    for body in (b"", b"{", b'{"sql": 1}', b'["SELECT 1"]', b'{"sql": "SELECT 1", "x": ' + b"[" * 10_000 + b"}"):
        resp = await client.post(url, data=body)
        assert resp.status == 400 and "error" in await resp.json(), body[:20]
    resp = await client.post(url, json={"sql": "INSERT INTO t VALUES (2); INSERT INTO nope VALUES (3)"})
    assert resp.status == 400  # one transaction: the first insert is rolled back
    rows = await (await client.post(url, json={"sql": "SELECT count(*) AS n FROM t"})).json()
    assert rows[0]["results"] == [{"n": 1}]


async def test_databases_no_app_binds_are_not_created(platform: Platform, aiohttp_client: Any) -> None:
    client = await client_for(platform, aiohttp_client)
    d1_dir = platform.state.binding_dir("d1")
    before = sorted(p.name for p in d1_dir.iterdir())
    for name in ("other-db", "a%2Fb", "x" * 300):
        resp = await client.post(f"/databases/{name}/execute", json={"sql": "CREATE TABLE t(x)"})
        assert resp.status in (400, 404) and "error" in await resp.json(), name
    assert sorted(p.name for p in d1_dir.iterdir()) == before
