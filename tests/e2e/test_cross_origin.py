"""No web page can change local state: every state-changing internal route of a running
`dev`, enumerated from its router (so a route added later is covered without touching this
file), refuses a foreign ``Origin``, a request a browser sends without a preflight and a
foreign ``Host``, and nothing is written; legitimate clients still get through
(docs/security.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import boto3
from botocore.config import Config

from emulator.cli._common import call_server
from emulator.pytest_plugin import EmulatorHandle

APP = Path(__file__).parent.parent / "pytest_plugin" / "app" / "wrangler.toml"
SAFE = {"GET", "HEAD", "OPTIONS"}
EVIL = "http://evil.example"
# A body with something for every handler: a queue message, SQL, a workflow instance, rules.
BODY = json.dumps({"body": "pwned", "messages": [{"body": "pwned"}], "sql": "CREATE TABLE pwned (a)",
                   "id": "pwned", "params": {}, "type": "pwned",
                   "rules": [{"allowed": {"origins": ["*"], "methods": ["PUT"]}}]})


def state_fingerprint(state_dir: Path) -> dict[str, Any]:
    """Everything persisted: each SQLite file's content (queues, D1, R2 indexes, workflows)
    read through a separate read-only connection, and the names of the blob files."""
    out: dict[str, Any] = {}
    for path in sorted(state_dir.rglob("*.sqlite3")):
        with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
            out[str(path.relative_to(state_dir))] = list(conn.iterdump())
    out["files"] = sorted(str(p.relative_to(state_dir)) for p in state_dir.rglob("*")
                          if p.is_file() and not p.name.endswith(("-wal", "-shm", ".json", ".sqlite3")))
    return out


def state_changing_routes(emu: EmulatorHandle, app: str) -> list[tuple[str, str]]:
    application = emu.emulator.server.application(app)
    found = set()
    for route in application.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if route.method in SAFE or route.method == "*" or not path.startswith("/_emulator"):
            continue
        found.add((route.method, path))
    return sorted(found)


def concrete(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: values.get(m.group(1), "x"), path) + "?key=k&to=jobs"


async def test_every_state_changing_internal_route_refuses_cross_site_requests(cf_emulator: Any) -> None:
    emu: EmulatorHandle = await cf_emulator(APP, apply_migrations=True)
    await emu.queue("jobs").send({"id": "seed", "item": "tea", "qty": 1})
    instance = await emu.workflow("fulfil-order").create(id="wf-1", params={"id": "x", "item": "y", "qty": 1})
    await emu.r2("receipts").put("seed", b"seed")
    d1_plugin: Any = emu.platform.plugins["d1"]
    values = {"queue": "jobs", "bucket": "receipts", "database": d1_plugin.database_ids()[0],
              "name": "fulfil-order", "id": instance.id, "action": "terminate"}
    base = emu.url("orders")
    port = base.rsplit(":", 1)[1]
    routes = state_changing_routes(emu, "orders")
    # The enumeration sees the routes we know of (and any added later).
    assert {("POST", "/_emulator/queues/{queue}/messages"), ("POST", "/_emulator/d1/databases/{database}/execute"),
            ("PUT", "/_emulator/r2/buckets/{bucket}/object"), ("PUT", "/_emulator/r2/buckets/{bucket}/cors"),
            ("DELETE", "/_emulator/r2/buckets/{bucket}/object"), ("POST", "/_emulator/workflows/{name}/instances"),
            ("POST", "/_emulator/d1/databases/{database}/query")} <= set(routes)
    await emu.drain()
    before = state_fingerprint(emu.state_dir)

    async with aiohttp.ClientSession() as session:
        async def send(method: str, url: str, headers: dict[str, str],
                       data: str | None = BODY) -> aiohttp.ClientResponse:
            # aiohttp would add `Content-Type: application/octet-stream`; a browser adds none.
            skip = () if "Content-Type" in headers else ("Content-Type",)
            async with session.request(method, url, headers=headers, data=data, skip_auto_headers=skip) as resp:
                await resp.read()
                return resp

        for method, template in routes:
            url = base + concrete(template, values)
            refused = {
                "foreign Origin": await send(method, url, {"Origin": EVIL, "Content-Type": "application/json"}),
                "simple request (text/plain)": await send("POST", url, {"Content-Type": "text/plain"}),
                "simple request (form)": await send("POST", url, {"Content-Type": "application/x-www-form-urlencoded"}),
                "simple request (no body)": await send("POST", url, {}, None),
                "foreign Host": await send(method, url, {"Host": f"evil.example:{port}",
                                                         "Content-Type": "application/json"}),
                "rebinding name": await send(method, url, {"Host": f"127.0.0.1.evil.example:{port}",
                                                           "Content-Type": "application/json"}),
            }
            for what, resp in refused.items():
                assert resp.status == 403, (method, template, what, resp.status)
                assert "Access-Control-Allow-Origin" not in resp.headers
            preflight = await send("OPTIONS", url, {"Origin": EVIL, "Access-Control-Request-Method": method,
                                                    "Access-Control-Request-Headers": "content-type"}, None)
            assert preflight.status >= 400, (method, template)
            assert not any(h.lower().startswith("access-control-allow") for h in preflight.headers)
        # Reads by a rebound name are refused as well; the app itself answers any name.
        assert (await send("GET", base + "/_emulator/health", {"Host": f"evil.example:{port}"}, None)).status == 403
        assert (await send("GET", base + "/_emulator/", {"Host": f"evil.example:{port}"}, None)).status == 403
        assert (await send("GET", base + "/", {"Host": f"evil.example:{port}"}, None)).status == 200
        assert (await send("POST", base + "/_emulatorx", {"Host": f"evil.example:{port}"}, None)).status != 403

        assert state_fingerprint(emu.state_dir) == before, "a refused request wrote something"

        # The same requests from a tool (no Origin, a JSON body) or the dashboard (its own
        # origin) pass the check; the handlers then answer as they see fit.
        for method, template in routes:
            url = base + concrete(template, values)
            tool = await send(method, url, {"Content-Type": "application/json"})
            page = await send(method, url, {"Content-Type": "application/json", "Origin": base})
            assert tool.status != 403 and page.status != 403, (method, template, tool.status, page.status)
    assert state_fingerprint(emu.state_dir) != before  # the fingerprint does see writes


async def test_legitimate_clients_still_work(cf_emulator: Any) -> None:
    emu: EmulatorHandle = await cf_emulator(APP, apply_migrations=True)
    url = emu.emulator.internal_url
    broker: Any = emu.platform.plugins["queues"].broker  # type: ignore[attr-defined]  # the queues plugin's

    def cli_calls() -> None:
        # What the CLI verbs send: JSON bodies, body-less POSTs, raw bytes.
        call_server(url, "POST", "/_emulator/queues/jobs/messages", {"body": {"id": "cli"}})
        assert call_server(url, "POST", "/_emulator/queues/jobs/purge")["purged"] == 1
        call_server(url, "PUT", "/_emulator/r2/buckets/receipts/object?key=raw", raw=b"raw bytes")
        call_server(url, "PUT", "/_emulator/r2/buckets/receipts/object?key=typed", raw=b"<p>",
                    content_type="text/html")
        result = call_server(url, "POST", f"/_emulator/d1/databases/{d1_id}/execute", {"sql": "SELECT 1 AS one"})
        assert result[0]["results"] == [{"one": 1}]

    d1_id = emu.platform.plugins["d1"].database_ids()[0]  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)
    await asyncio.to_thread(cli_calls)
    assert broker.stats("jobs")["depth"] == 0
    raw = await emu.r2("receipts").get("raw")
    assert await raw.text() == "raw bytes"
    assert (await emu.r2("receipts").head("typed")).httpMetadata.contentType == "text/html"

    # The dashboard page's own calls: same origin, JSON.
    async with aiohttp.ClientSession() as session:
        origin = {"Origin": url, "Content-Type": "application/json"}
        async with session.post(f"{url}/_emulator/d1/databases/{d1_id}/query",
                                data=json.dumps({"sql": "SELECT 2 AS two"}), headers=origin) as resp:
            assert resp.status == 200 and (await resp.json())["rows"] == [[2]]
        await emu.queue("jobs").send({"id": "dash"})
        async with session.post(f"{url}/_emulator/queues/jobs/purge", headers=origin) as resp:
            assert resp.status == 200 and (await resp.json())["purged"] == 1
        # localhost works as well as 127.0.0.1.
        port = url.rsplit(":", 1)[1]
        async with session.get(f"http://localhost:{port}/_emulator/health") as resp:
            assert resp.status == 200

    # boto3 against the S3 endpoint with its normal Host.
    s3 = boto3.client("s3", endpoint_url=emu.emulator.s3_endpoint, region_name="auto",
                      aws_access_key_id="x", aws_secret_access_key="x",
                      config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    await asyncio.to_thread(s3.put_object, Bucket="receipts", Key="boto", Body=b"via boto3")
    got = await asyncio.to_thread(s3.get_object, Bucket="receipts", Key="boto")
    assert got["Body"].read() == b"via boto3"


async def test_allowed_host_names_reach_the_internal_api_and_s3(cf_emulator: Any) -> None:
    emu: EmulatorHandle = await cf_emulator(APP, allowed_hosts=["emulator", ".dev.test"])
    url, s3 = emu.emulator.internal_url, emu.emulator.s3_endpoint
    assert s3 is not None
    async with aiohttp.ClientSession() as session:
        for name, status in (("emulator", 200), ("api.dev.test", 200), ("evil.example", 403)):
            port = url.rsplit(":", 1)[1]
            async with session.get(f"{url}/_emulator/health", headers={"Host": f"{name}:{port}"}) as resp:
                assert resp.status == status, name
            s3_port = s3.rsplit(":", 1)[1]
            async with session.get(f"{s3}/receipts", headers={"Host": f"{name}:{s3_port}"}) as resp:
                assert resp.status == status, name
