"""Reading internal API requests: every bad input is a JSON 4xx with a message."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from emulator.internal_api import MAX_JSON_DEPTH, checked, json_body, path_name, query_int
from tests.helpers.rawhttp import raw_request


@pytest.fixture
async def client(aiohttp_client: Any) -> TestClient:
    async def echo(request: web.Request) -> web.Response:
        name = path_name(request, "name", "queue")
        limit = query_int(request, "limit", 5, 0, 100)
        body = await json_body(request, '{"x": ...}', optional=request.query.get("optional") == "1") \
            if request.method == "POST" else None
        return web.json_response({"name": name, "limit": limit, "body": body})

    app = web.Application()
    app.router.add_route("*", "/q/{name}", checked(echo))
    return await aiohttp_client(app)


async def error(client: TestClient, method: str, target: str, body: bytes = b"") -> tuple[int, str]:
    response = await raw_request(client.port, method, target, {"content-type": "application/json"}, body)  # type: ignore[arg-type]  # the test client is started: its port is set
    payload = json.loads(response.body)
    assert response.headers["content-type"].startswith("application/json")
    assert payload["status"] == response.status and payload["error"] == payload["message"]
    return response.status, payload["message"]


async def test_good_requests_pass(client: TestClient) -> None:
    response = await client.post("/q/a%20b?limit=7", data=b'{"x": [1, {"y": "[[["}]}')
    assert await response.json() == {"name": "a b", "limit": 7, "body": {"x": [1, {"y": "[[["}]}}
    response = await client.post("/q/j?optional=1", data=b"")
    assert (await response.json())["body"] == {}


@pytest.mark.parametrize(("target", "message"), [
    ("/q/a%FFz", "URL path is not valid UTF-8"),
    ("/q/ok?limit=%FE", "query string is not valid UTF-8"),
    ("/q/" + "%2F" * 100, "queue name is too long"),
    ("/q/ok?limit=-1", "limit must be between 0 and 100, got -1"),
    ("/q/ok?limit=101", "limit must be between 0 and 100"),
    ("/q/ok?limit=" + "9" * 5000, "limit must be an integer"),
    ("/q/ok?limit=1.5", "limit must be an integer"),
    ("/q/ok?limit=--5", "limit must be an integer"),
    ("/q/ok?limit=1_0", "limit must be an integer"),
    ("/q/ok?limit=%EF%BC%91", "limit must be an integer"),  # a full-width digit: int() would take it
])
async def test_bad_urls(client: TestClient, target: str, message: str) -> None:
    status, text = await error(client, "GET", target)
    assert status == 400 and message in text


@pytest.mark.parametrize(("body", "message"), [
    (b"", "must be JSON"),
    (b"{", "must be JSON"),
    (b"\xff\xfe{}", "must be UTF-8 JSON"),
    (b'{"x": NaN}', "must be JSON"),
    (b'{"x": Infinity}', "must be JSON"),
    (b"[1]", "must be a JSON object"),
    (b"null", "must be a JSON object"),
    (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), f"nested more than {MAX_JSON_DEPTH} levels"),
    (b"[" * 100_000, "nested more than"),
])
async def test_bad_json_bodies(client: TestClient, body: bytes, message: str) -> None:
    status, text = await error(client, "POST", "/q/ok", body)
    assert status == 400 and message in text
    if "nested" not in message:
        assert '{"x": ...}' in text  # the message says what to send


async def test_depth_counts_brackets_outside_strings_only(client: TestClient) -> None:
    inside = json.dumps({"x": "[" * 10_000 + '\\"{'})
    response = await client.post("/q/ok", data=inside.encode())
    assert response.status == 200
