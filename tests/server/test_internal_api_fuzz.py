"""Fuzz target: every route of the internal API (``/_emulator/*``) under random requests.

The routes come from the running server's route table (``EmulatorServer.internal_routes``), so
a route added tomorrow is fuzzed too. Path parameters are filled with names that exist (the
app's queue, bucket, database, workflow and instances), names that do not, and random or
broken segments (undecodable escapes, over-long names); query strings with the parameters the
routes read, at random values (negative, huge, not numbers, undecodable); bodies with random
JSON objects made of the fields the routes read, random bytes and deeply nested JSON. Every
answer must be a 2xx/3xx or a JSON 4xx (``{"error": ...}``), never a 5xx, and a 4xx must leave
the queues' depths, the R2 objects, the D1 row counts and files, and the workflow instances as
they were. Skipped: the log stream (an SSE connection held open a minute by design); ``wait``
is never sent (a long-poll holds real seconds). Run longer with ``HYPOTHESIS_PROFILE=fuzz``.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any
from collections.abc import AsyncIterator
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator import Emulator, FakeClock
from emulator.bindings.d1.config import d1_config
from tests.helpers.fuzz import fuzz_settings
from tests.helpers.rawhttp import raw_request

CONFIG = """
name = "fuzz"
main = "src/entry.py"
compatibility_date = "2025-08-14"
compatibility_flags = ["python_workers", "python_workflows"]

[[queues.producers]]
binding = "JOBS"
queue = "jobs"

[[r2_buckets]]
binding = "FILES"
bucket_name = "files"

[[d1_databases]]
binding = "DB"
database_name = "fuzz-db"
database_id = "00000000-0000-0000-0000-0000000f0f0f"

[[workflows]]
name = "flow"
binding = "FLOW"
class_name = "Flow"
"""

ENTRY = """
from workers import Response, WorkerEntrypoint, WorkflowEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response("fuzz")


class Flow(WorkflowEntrypoint):
    async def run(self, event, step):
        return None
"""


class Target:
    """The running emulator, the names that exist in it, and a snapshot of its state."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.port = int(emu.internal_url.rsplit(":", 1)[1])
        self.database = d1_config(emu.apps[0]).databases[0].local_id
        self.instance = "wf-1"
        self.message = ""

    def snapshot(self) -> dict[str, Any]:
        platform = self.emu.platform
        broker = platform.plugin("queues").broker  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)
        store = platform.plugin("r2").store  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)
        d1 = platform.plugin("d1")
        counts: dict[str, dict[str, int]] = {}
        for database in d1.database_ids():  # type: ignore[attr-defined]  # the d1 plugin's own methods
            with sqlite3.connect(f"file:{d1.database_path(database)}?mode=ro", uri=True) as conn:  # type: ignore[attr-defined]  # the d1 plugin's own methods
                tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
                counts[database] = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
        engine = platform.plugin("workflows").engine  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)
        return {
            "queues": {q["name"]: q["depth"] for q in broker.list_stats()},
            "r2": {b: [(o.key, o.etag) for o in store.list(b)] for b in store.bucket_names()},
            "d1": counts,
            "d1_files": sorted(p.name for p in platform.state.binding_dir("d1").glob("*.sqlite3")),
            "workflows": {w["name"]: w["total"] for w in engine.list_workflows()},
        }


@pytest.fixture
async def target(tmp_path: Path) -> AsyncIterator[Target]:
    app = tmp_path / "app"
    (app / "src").mkdir(parents=True)
    (app / "wrangler.toml").write_text(CONFIG)
    (app / "src" / "entry.py").write_text(ENTRY)
    async with Emulator([app / "wrangler.toml"], clock=FakeClock(), port=0, s3_port=None) as emu:
        t = Target(emu)
        for method, path, body in (
                ("POST", "/_emulator/queues/jobs/messages", {"body": {"n": 1}}),
                ("PUT", "/_emulator/r2/buckets/files/object?key=a", None),
                ("POST", f"/_emulator/d1/databases/{t.database}/execute",
                 {"sql": "CREATE TABLE t(x); INSERT INTO t VALUES (1)"}),
                ("POST", "/_emulator/workflows/flow/instances", {"id": t.instance})):
            response = await raw_request(t.port, method, path, {"content-type": "application/json"},
                                         json.dumps(body).encode() if body is not None else b"v")
            assert response.status in (200, 201), response.body
        peeked = await raw_request(t.port, "GET", "/_emulator/queues/jobs/messages")
        t.message = json.loads(peeked.body)["messages"][0]["id"]
        yield t


texts = st.text(st.characters(codec="utf-8"), max_size=10)
segments = st.one_of(
    texts.map(lambda s: quote(s, safe="")),
    st.sampled_from(["%FF", "%C3", "%ED%A0%80", "%zz", "%2F", "%00", "%0A", "..", "%2E%2E", "-1", "x" * 300, "%20"]))
KNOWN = {"queue": ["jobs", "nope"], "bucket": ["files", "nope"], "database": ["DATABASE", "fuzz-db", "nope"],
         "name": ["flow", "nope", "dashboard.js"], "id": ["INSTANCE", "MESSAGE", "nope"],
         "action": ["terminate", "pause", "resume", "restart", "events", "bogus"], "tail": ["", "x/y"]}
numbers = st.one_of(st.integers(-3, 2000).map(str), st.sampled_from(["9" * 25, "abc", "", "1.5", "%EF%BC%91"]))
QUERY = {"limit": numbers, "after": numbers, "key": st.one_of(st.sampled_from(["a", "x" * 1100, "%FF"]), segments),
         "prefix": segments, "delimiter": st.sampled_from(["/", "", "%FF"]), "cursor": segments,
         "startAfter": segments, "include": st.sampled_from(["1", ""]), "status": st.sampled_from(
             ["queued", "running", "complete", "bogus", "%FF"]), "to": st.sampled_from(["jobs", "other", "%FF"]),
         "other": segments}
json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-2, 10**6), st.floats(allow_nan=False),
                                     texts), lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                                     st.dictionaries(texts, inner, max_size=3)),
                           max_leaves=8)
FIELDS = ["body", "messages", "contentType", "delaySeconds", "sql", "params", "id", "type", "payload"]
SQL = st.sampled_from(["SELECT 1", "SELECT * FROM t", "INSERT INTO t VALUES (2); SELEC", "INSERT INTO nope VALUES (1)",
                       "ATTACH 'other.db' AS o", "PRAGMA journal_mode=DELETE", "", ";", "DROP TABLE nope"])
objects = st.fixed_dictionaries({}, optional={
    "body": json_values, "messages": st.one_of(st.lists(st.fixed_dictionaries(
        {"body": json_values}, optional={"contentType": st.sampled_from(["json", "text", "bytes", "v8", "x"])}),
        max_size=3), json_values),
    "contentType": st.sampled_from(["json", "text", "bytes", "v8", "xml"]),
    "delaySeconds": st.one_of(st.integers(-5, 100_000), json_values), "sql": st.one_of(SQL, json_values),
    "params": json_values, "id": st.one_of(texts, json_values), "type": st.one_of(texts, json_values),
    "payload": json_values})
bodies = st.one_of(objects.map(lambda o: json.dumps(o).encode()), st.binary(max_size=40),
                   st.integers(1, 3000).map(lambda n: b'{"body": ' + b"[" * n + b"]" * n + b"}"),
                   st.sampled_from([b"", b"null", b"[]", b'{"body": NaN}', b"\xff{}"]))


@fuzz_settings(200)
@given(data=st.data())
async def test_internal_routes_answer_random_requests_cleanly(target: Target, data: st.DataObject) -> None:
    routes = [r for r in target.emu.server.internal_routes() if not r[1].endswith("/stream")]
    assert len(routes) > 20
    method, pattern = data.draw(st.sampled_from(routes))
    if data.draw(st.integers(0, 9)) == 0:
        method = data.draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]))
    elif method == "*":
        method = data.draw(st.sampled_from(["GET", "POST"]))

    def fill(m: re.Match[str]) -> str:
        name = m.group(1)
        value = data.draw(st.one_of(st.sampled_from(KNOWN.get(name, ["x"])), segments))
        return value.replace("DATABASE", target.database).replace("INSTANCE", target.instance).replace(
            "MESSAGE", target.message)

    path = re.sub(r"\{(\w+)(?::[^}]*)?\}", fill, pattern)
    query = data.draw(st.dictionaries(st.sampled_from(sorted(QUERY)), st.just(""), max_size=3))
    if query:
        path += "?" + "&".join(f"{k}={data.draw(QUERY[k])}" for k in query)
    body = data.draw(bodies) if method in ("POST", "PUT", "PATCH", "DELETE") else b""
    content_type = data.draw(st.sampled_from(["application/json", "text/plain", "application/octet-stream"]))
    before = target.snapshot()
    response = await raw_request(target.port, method, path, {"content-type": content_type}, body)
    assert response.status < 500, (method, path, body[:80], response.status, response.body[:300])
    if response.status >= 400:
        if method != "HEAD":
            assert response.headers.get("content-type", "").startswith("application/json"), response.body[:200]
            assert "error" in json.loads(response.body)
        assert target.snapshot() == before, (method, path, body[:80], response.status, response.body[:200])


SWEEP_SEGMENTS = ["%FF", "x" * 300, "%2E%2E", "%00", "%0A", "nope"]
SWEEP_QUERIES = ["limit=-1", "limit=" + "9" * 25, "limit=abc", "key=" + "x" * 1100, "key=%FF", "status=%FF", "to=%FF"]
SWEEP_BODIES = [b"", b"{", b"[]", b'{"body": NaN, "sql": NaN}', b"\xff", b"[" * 5000,
                b'{"body": ' + b"[" * 300 + b"]" * 300
                + b', "sql": "SELECT 1", "id": "' + b"i" * 300 + b'", "type": 1}']


async def test_every_route_refuses_broken_input_cleanly(target: Target) -> None:
    """The systematic half of the fuzzing: every route × every broken path parameter, query
    parameter and body (random search rarely lands one exact combination on one route)."""
    routes = [r for r in target.emu.server.internal_routes() if not r[1].endswith("/stream")]
    known = {name: values[0].replace("DATABASE", target.database).replace("INSTANCE", target.instance)
             for name, values in KNOWN.items()}
    checked = 0

    async def check(method: str, path: str, body: bytes = b"") -> None:
        nonlocal checked
        before = target.snapshot()
        response = await raw_request(target.port, method, path, {"content-type": "application/json"}, body)
        assert response.status < 500, (method, path[:80], body[:40], response.status, response.body[:300])
        if "%FF" in path:  # never read as some other name: refused before the handler runs
            assert response.status == 400, (method, path[:80], response.status)
        if response.status >= 400:
            if method != "HEAD":
                assert "error" in json.loads(response.body), (method, path[:80])
            assert target.snapshot() == before, (method, path[:80], body[:40], response.body[:200])
        checked += 1

    for method, pattern in routes:
        if method == "*":
            method = "POST"
        params = re.findall(r"\{(\w+)(?::[^}]*)?\}", pattern)

        def path_with(broken: str | None = None, value: str = "") -> str:
            return re.sub(r"\{(\w+)(?::[^}]*)?\}",
                          lambda m: value if m.group(1) == broken else known.get(m.group(1), "x"), pattern)  # noqa: B023 - called before the loop moves on

        for param in params:
            for segment in SWEEP_SEGMENTS:  # with inputs good enough to get past other checks
                await check(method, path_with(param, segment) + "?key=a", b'{"body": 1, "sql": "SELECT 1"}')
        for query in SWEEP_QUERIES:
            await check(method, path_with() + "?" + query)
        if method in ("POST", "PUT"):
            for body in SWEEP_BODIES:
                await check(method, path_with(), body)
    assert checked > 500
