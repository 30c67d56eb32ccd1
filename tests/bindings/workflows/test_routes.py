"""``/_emulator/workflows`` over HTTP (aiohttp test client)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from emulator.bindings.workflows.entrypoint import WorkflowEntrypoint
from emulator.bindings.workflows.routes import build_routes
from tests.helpers.workflows import Harness


class Gated(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        first = await step.do("first", lambda: "one")
        await step.sleep("nap", "1 minute")
        ev = await step.wait_for_event("ev", type="go")
        return [first, ev.payload]


@pytest.fixture
async def client(wf: Harness, aiohttp_client: Any) -> Any:
    """A test client of the routes over ``wf``'s started engine, ``Gated`` registered as "gated"."""
    wf.register("gated", Gated)
    await wf.engine.start()
    app = web.Application()
    app.add_routes(build_routes(wf.engine))
    return await aiohttp_client(app)


async def test_list_describe_actions_and_events(wf: Harness, client: Any) -> None:

    resp = await client.post("/_emulator/workflows/gated/instances", json={"id": "a", "params": {"x": 1}})
    assert resp.status == 201 and await resp.json() == {"id": "a"}
    resp = await client.post("/_emulator/workflows/gated/instances", json={"id": "a"})
    assert resp.status == 409
    await client.post("/_emulator/workflows/gated/instances", json={"id": "b"})
    await wf.settle()

    listed = await (await client.get("/_emulator/workflows")).json()
    assert listed["workflows"][0]["name"] == "gated"
    assert listed["workflows"][0]["instances"] == {"waiting": 2} and listed["workflows"][0]["total"] == 2

    resp = await client.post("/_emulator/workflows/gated/instances/b/terminate")
    assert await resp.json() == {"id": "b", "status": "terminated"}
    resp = await client.post("/_emulator/workflows/gated/instances/b/terminate")
    assert resp.status == 409 and "cannot_terminate" in (await resp.json())["error"]

    only = await (await client.get("/_emulator/workflows/gated/instances?status=terminated")).json()
    assert [i["id"] for i in only["instances"]] == ["b"]
    assert (await client.get("/_emulator/workflows/gated/instances?status=bogus")).status == 400

    resp = await client.post("/_emulator/workflows/gated/instances/a/pause")
    assert (await resp.json())["status"] == "paused"
    resp = await client.post("/_emulator/workflows/gated/instances/a/resume")
    assert (await resp.json())["status"] == "running"
    await wf.advance(60)
    resp = await client.post("/_emulator/workflows/gated/instances/a/events", json={"type": "go", "payload": 7})
    assert resp.status == 200
    await wf.settle()

    described = await (await client.get("/_emulator/workflows/gated/instances/a")).json()
    assert described["status"] == "complete" and described["output"] == ["one", 7]
    assert [(s["name"], s["type"], s["status"], s["attempts"]) for s in described["steps"]] == [
        ("first", "do", "complete", 1), ("nap", "sleep", "complete", 0), ("ev", "waitForEvent", "complete", 0)]
    assert described["steps"][0]["output"] == "one" and described["steps"][1]["duration_ms"] == 60_000
    assert described["params"] == {"x": 1}

    assert (await client.get("/_emulator/workflows/gated/instances/nope")).status == 404
    assert (await client.post("/_emulator/workflows/gated/instances/nope/pause")).status == 404
    assert (await client.post("/_emulator/workflows/gated/instances/a/explode")).status == 404
    restarted = await (await client.post("/_emulator/workflows/gated/instances/a/restart")).json()
    assert restarted["status"] in ("queued", "running")


async def test_bad_requests_are_json_4xx(client: Any) -> None:
    for body in (b"{", b"[1]", b'{"id": NaN}', b"[" * 10_000, b"\xff"):
        resp = await client.post("/_emulator/workflows/gated/instances", data=body)
        assert resp.status == 400 and "error" in await resp.json(), body[:10]
    resp = await client.post("/_emulator/workflows/gated/instances", json={"id": 5})
    assert resp.status == 400
    resp = await client.get("/_emulator/workflows/nope/instances")
    assert resp.status == 404 and "not_found" in (await resp.json())["error"]
    resp = await client.post("/_emulator/workflows/nope/instances", json={})
    assert resp.status == 404
    resp = await client.post("/_emulator/workflows/gated/instances/none/events", data=b"{")
    assert resp.status == 400
    listed = await (await client.get("/_emulator/workflows")).json()
    assert listed["workflows"][0]["total"] == 0  # nothing rejected was created


async def test_instances_come_in_pages(wf: Harness, client: Any) -> None:
    for n in range(5):
        wf.clock._now += 1
        await client.post("/_emulator/workflows/gated/instances", json={"id": f"i{n}"})
    ids: list[str] = []
    url = "/_emulator/workflows/gated/instances?limit=2"
    while True:
        page = await (await client.get(url)).json()
        ids += [i["id"] for i in page["instances"]]
        if "cursor" not in page:
            break
        url = f"/_emulator/workflows/gated/instances?limit=2&cursor={page['cursor']}"
    assert ids == ["i4", "i3", "i2", "i1", "i0"]  # newest first, each once
    for bad in ("limit=0", "limit=x", "limit=10001", "cursor=nonsense"):
        assert (await client.get(f"/_emulator/workflows/gated/instances?{bad}")).status == 400
