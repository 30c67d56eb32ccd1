"""``/_emulator/kv``: listing, reading and writing through the internal API, with the
platform's checks and clean JSON errors (a rejected write changes nothing)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from emulator.bindings.kv.config import KVConfig, KVNamespaceBinding
from emulator.clock import FakeClock
from emulator.platform import Platform
from tests.helpers.apps import app_config

NS = "ns-1"


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    app = app_config(config_path=tmp_path / "app" / "wrangler.toml", kind="worker", name="app",
                     bindings={"kv": KVConfig((KVNamespaceBinding("CACHE", NS),))})
    p = Platform([app], tmp_path / "state", clock=FakeClock(start=1_700_000_000.0))
    await p.start()
    yield p
    await p.stop()


@pytest.fixture
async def client(platform: Platform, aiohttp_client: Any) -> TestClient:
    app = web.Application()
    for route in platform.plugins["kv"].routes():
        app.router.add_route(route.method, "/_emulator/kv" + route.path, route.handler)
    return await aiohttp_client(app)


async def test_write_read_list_delete(client: TestClient, platform: Platform) -> None:
    base = f"/_emulator/kv/namespaces/{NS}"
    resp = await client.put(f"{base}/value", params={"key": "a/b c", "expiration_ttl": "120",
                                                     "metadata": json.dumps({"by": "cli"})}, data=b"\xff\x00")
    assert resp.status == 200
    entry = await (await client.get(f"{base}/entry", params={"key": "a/b c"})).json()
    assert entry == {"key": "a/b c", "size": 2, "expiration": 1_700_000_120, "metadata": {"by": "cli"},
                     "base64": "/wA="}
    assert await (await client.get(f"{base}/value", params={"key": "a/b c"})).read() == b"\xff\x00"
    listing = await (await client.get(f"{base}/keys", params={"prefix": "a/"})).json()
    assert listing["keys"] == [{"name": "a/b c", "expiration": 1_700_000_120, "metadata": {"by": "cli"}}]
    namespaces = await (await client.get("/_emulator/kv/namespaces")).json()
    assert namespaces == [{"id": NS, "bindings": [{"app": "app", "binding": "CACHE"}], "keys": 1}]
    assert (await client.delete(f"{base}/value", params={"key": "a/b c"})).status == 200
    assert (await client.get(f"{base}/entry", params={"key": "a/b c"})).status == 404
    # The app sees what the API wrote.
    await client.put(f"{base}/value", params={"key": "k"}, data=b"from the API")
    assert await platform.env_for(platform.app("app"))["CACHE"].get("k") == "from the API"


async def test_bulk(client: TestClient) -> None:
    base = f"/_emulator/kv/namespaces/{NS}"
    pairs = [{"key": "one", "value": "1"}, {"key": "two", "value": "Mg==", "base64": True, "metadata": {"n": 2}}]
    assert await (await client.post(f"{base}/bulk", json=pairs)).json() == {"written": 2}
    got = await (await client.post(f"{base}/bulk/get", json=["one", {"name": "two"}, "three"])).json()
    assert got == {"one": "1", "two": "2", "three": None}
    assert await (await client.post(f"{base}/bulk/delete", json=["one", "three"])).json() == {"deleted": 1}


async def test_refusals_are_json_and_change_nothing(client: TestClient) -> None:
    base = f"/_emulator/kv/namespaces/{NS}"
    cases = [
        ("PUT", f"{base}/value", {"key": "x" * 513}, b"v", 414, "KV PUT failed: 414 UTF-8 encoded length of 513"),
        ("PUT", f"{base}/value", {"key": "k", "expiration_ttl": "5"}, b"v", 400, "Expiration TTL must be at least 60"),
        ("PUT", f"{base}/value", {"key": "k", "metadata": "{bad"}, b"v", 400, "metadata must be JSON"),
        ("PUT", f"{base}/value", {}, b"v", 400, "the key goes in the query string"),
        ("GET", f"{base}/keys", {"limit": "x"}, None, 400, "limit must be an integer"),
        ("GET", f"{base}/keys", {}, None, 200, ""),
        ("PUT", "/_emulator/kv/namespaces/" + "n" * 300 + "/value", {"key": "k"}, b"v", 400, "name is too long"),
        ("POST", f"{base}/bulk", {}, b"[" * 5000, 400, "nested more than"),
        ("GET", f"{base}/keys", {"limit": "5000"}, None, 400, "Invalid key_count_limit of 5000"),
        ("GET", "/_emulator/kv/namespaces/nope/keys", {}, None, 404, "no KV namespace 'nope'; namespaces: ns-1"),
        ("POST", f"{base}/bulk", {}, b"not json", 400, "the request body must be JSON"),
        ("POST", f"{base}/bulk", {}, b"{}", 400, "send a JSON array"),
        ("POST", f"{base}/bulk/get", {}, b"[1, 2]", 400, "send a JSON array of keys"),
    ]
    for method, path, params, body, status, text in cases:
        resp = await client.request(method, path, params=params, data=body)
        payload = await resp.json()
        assert resp.status == status and text in str(payload.get("message", "")), (path, params, payload)
    # One bad pair refuses the whole bulk write.
    pairs = [{"key": "good", "value": "1"}, {"key": "", "value": "2"}]
    resp = await client.post(f"{base}/bulk", json=pairs)
    assert resp.status == 400 and (await resp.json())["message"] == "item 1: Key name cannot be empty."
    listing = await (await client.get(f"{base}/keys")).json()
    assert listing["keys"] == []
