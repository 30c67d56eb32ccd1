"""The /_emulator/queues inspection API, as the CLI and the dashboard call it."""

from __future__ import annotations

import base64
from typing import Any
from collections.abc import AsyncIterator
from urllib.parse import quote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from emulator.bindings.queues.routes import MAX_PEEK, routes
from tests.helpers.queues import Harness


@pytest.fixture
async def client(harness: Harness, aiohttp_client: Any) -> AsyncIterator[TestClient]:
    app = web.Application()
    app.add_routes(routes(harness.broker))
    yield await aiohttp_client(app)


async def test_list_and_get(harness: Harness, client: TestClient) -> None:
    harness.consume("jobs", dead_letter_queue="jobs-dlq", max_batch_timeout=5)
    await harness.broker.producer("jobs").sendBatch([{"body": 1}, {"body": 2}])
    await harness.broker.producer("jobs").send(3, delaySeconds=60)
    resp = await client.get("/_emulator/queues")
    assert resp.status == 200
    listed = {q["name"]: q for q in (await resp.json())["queues"]}
    assert set(listed) == {"jobs", "jobs-dlq"}
    jobs = listed["jobs"]
    assert (jobs["depth"], jobs["visible"], jobs["delayed"], jobs["in_flight"]) == (3, 2, 1, 0)
    assert jobs["dead_letter_queue"] == "jobs-dlq" and jobs["dead_letter_count"] == 0
    assert jobs["consumer"]["max_batch_timeout"] == 5
    assert {k: jobs[k] for k in ("acked", "retried", "dropped", "dlq")} == dict.fromkeys(
        ("acked", "retried", "dropped", "dlq"), 0)
    one = await (await client.get("/_emulator/queues/jobs")).json()
    assert one == jobs
    missing = await client.get("/_emulator/queues/nope")
    assert missing.status == 404
    assert (await missing.json())["message"] == 'Queue "nope" does not exist'


async def test_send_peek_and_purge(harness: Harness, client: TestClient) -> None:
    resp = await client.post("/_emulator/queues/inbox/messages", json={"body": {"hello": "world"}})
    assert resp.status == 200
    sent = await resp.json()
    assert len(sent["ids"]) == 1 and sent["metadata"]["metrics"]["backlogCount"] == 0
    await client.post("/_emulator/queues/inbox/messages",
                      json={"body": base64.b64encode(b"\x00\x01").decode(), "contentType": "bytes"})
    await client.post("/_emulator/queues/inbox/messages",
                      json={"messages": [{"body": "t", "contentType": "text"}, {"body": 2}], "delaySeconds": 9})
    peeked = await (await client.get("/_emulator/queues/inbox/messages?limit=10")).json()
    bodies = [(m["body"], m["content_type"], m["state"], m["attempts"]) for m in peeked["messages"]]
    assert bodies == [({"hello": "world"}, "json", "visible", 1), ({"base64": "AAE="}, "bytes", "visible", 1),
                      ("t", "text", "delayed", 1), (2, "json", "delayed", 1)]
    assert peeked["messages"][0]["id"] == sent["ids"][0]
    limited = await (await client.get("/_emulator/queues/inbox/messages?limit=1")).json()
    assert len(limited["messages"]) == 1
    # Peeking consumes nothing.
    assert harness.broker.stats("inbox")["depth"] == 4
    purged = await (await client.post("/_emulator/queues/inbox/purge")).json()
    assert purged == {"queue": "inbox", "purged": 4}
    await client.post("/_emulator/queues/inbox/messages", json={"body": 1})
    deleted = await (await client.delete("/_emulator/queues/inbox/messages")).json()
    assert deleted["purged"] == 1


@pytest.mark.parametrize(("payload", "message"), [
    ({"body": "x" * 128_001, "contentType": "text"},
     "Queue send failed: message length of 128001 bytes exceeds limit of 128000"),
    ({"body": 1, "delaySeconds": 90_000},
     "Queue send failed: message delay 90000 is invalid: Too big: expected number to be <=43200"),
    ({"body": 1, "contentType": "xml"}, "Unsupported queue message content type: xml"),
    ({"body": "not base64!", "contentType": "bytes"}, 'a "bytes" body must be a base64 string'),
    ({"nobody": 1}, 'each message needs a "body"'),
    ({"messages": []}, '"messages" must be a non-empty list'),
])
async def test_send_errors_are_400(client: TestClient, payload: Any, message: str) -> None:
    resp = await client.post("/_emulator/queues/q/messages", json=payload)
    assert resp.status == 400
    assert (await resp.json())["message"] == message


async def test_bad_requests(harness: Harness, client: TestClient) -> None:
    await client.post("/_emulator/queues/q/messages", json={"body": 1})
    for data in (b"{not json", b'{"body": NaN}', b"[" * 50_000, b'["not", "an object"]', b"\xff"):
        resp = await client.post("/_emulator/queues/q/messages", data=data)
        assert resp.status == 400 and (await resp.json())["status"] == 400
    for limit in ("many", "-1", str(MAX_PEEK + 1), "9" * 400):
        resp = await client.get(f"/_emulator/queues/q/messages?limit={limit}")
        assert resp.status == 400, limit
    assert len((await (await client.get(f"/_emulator/queues/q/messages?limit={MAX_PEEK}")).json())["messages"]) == 1
    assert harness.broker.stats("q")["depth"] == 1  # nothing rejected was sent


async def test_names_with_slashes_and_spaces(harness: Harness, client: TestClient) -> None:
    name = "my/ Queue"
    resp = await client.post(f"/_emulator/queues/{quote(name, safe='')}/messages", json={"body": "odd"})
    assert resp.status == 200, await resp.text()
    peeked = await (await client.get(f"/_emulator/queues/{quote(name, safe='')}/messages")).json()
    assert peeked["queue"] == name and peeked["messages"][0]["body"] == "odd"


async def test_redrive_from_dead_letter_queue(harness: Harness, client: TestClient) -> None:
    h = harness
    h.consume("jobs", lambda b: b.retryAll(), max_batch_timeout=0, max_retries=0, dead_letter_queue="dead")
    await h.broker.producer("jobs").send({"n": 1})
    await h.settle()
    [parked] = h.broker.peek("dead")
    h.broker.unregister_consumer("jobs")
    resp = await client.post(f"/_emulator/queues/dead/messages/{parked['id']}/redrive")
    assert resp.status == 200
    assert await resp.json() == {"id": parked["id"], "from": "dead", "to": "jobs"}
    assert [m["id"] for m in h.broker.peek("jobs")] == [parked["id"]]
    # ?to= picks another queue; an unknown id is a 404; no source queue is a 409.
    resp = await client.post(f"/_emulator/queues/jobs/messages/{parked['id']}/redrive?to=elsewhere")
    assert (await resp.json())["to"] == "elsewhere"
    resp = await client.post(f"/_emulator/queues/dead/messages/{'f' * 32}/redrive")
    assert resp.status == 404
    resp = await client.post(f"/_emulator/queues/elsewhere/messages/{parked['id']}/redrive")
    assert resp.status == 409
    assert "pass ?to=<queue>" in (await resp.json())["message"]


async def test_redrive_a_whole_dead_letter_queue(harness: Harness, client: TestClient) -> None:
    h = harness
    h.consume("jobs", lambda b: b.retryAll(), max_batch_timeout=0, max_retries=0, dead_letter_queue="dead")
    await h.broker.producer("jobs").sendBatch([{"body": {"n": i}} for i in range(5)])
    await h.settle()
    parked = [m["id"] for m in h.broker.peek("dead")]
    h.broker.unregister_consumer("jobs")
    resp = await client.post("/_emulator/queues/dead/redrive")
    assert resp.status == 200
    assert await resp.json() == {"from": "dead", "to": "jobs", "moved": 5, "in_flight": 0}
    assert [m["id"] for m in h.broker.peek("jobs")] == parked
    assert not h.broker._store.pending  # on disk before the answer
    # Errors: an unknown target (nothing created), no source queue, the same queue, no such DLQ.
    resp = await client.post("/_emulator/queues/jobs/redrive?to=nowhere")
    # The internal API's one error shape (docs/internal-api.md), as every binding's routes answer.
    assert resp.status == 404 and await resp.json() == {
        "error": 'Queue "nowhere" does not exist', "status": 404, "message": 'Queue "nowhere" does not exist'}
    resp = await client.post("/_emulator/queues/jobs/redrive")
    assert resp.status == 409 and "pass ?to=<queue>" in (await resp.json())["message"]
    resp = await client.post("/_emulator/queues/jobs/redrive?to=jobs")
    assert resp.status == 409
    resp = await client.post("/_emulator/queues/nosuch/redrive")
    assert resp.status == 404
    assert [m["id"] for m in h.broker.peek("jobs")] == parked and not h.broker.has_queue("nowhere")
    resp = await client.post(f"/_emulator/queues/{quote('jobs', safe='')}/redrive?to=dead")
    assert (await resp.json())["moved"] == 5
