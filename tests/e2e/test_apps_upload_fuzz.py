"""fusou-web's upload endpoint under random requests, through the real server.

Hypothesis writes the request bytes itself (a raw socket, so nothing tidies them up):
random multipart bodies and boundaries, truncated or mangled bodies, undecodable
``Authorization`` values, random extra headers, bodies declared far larger than sent, and
chunked bodies over the request size limit. Every answer must be a clean one: Cloudflare's
413 page from the edge, or the app's JSON with a 2xx/4xx status, never a 5xx; and a
request that is refused writes nothing (no R2 object, no D1 row, no queue message).

The emulator runs with a 256 KiB request limit so that bodies over it stay cheap.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import AsyncIterator

import pytest_asyncio
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from emulator.clock import FakeClock
from emulator.emulator import Emulator
from emulator.runtime.body import TOO_LARGE_HTML
from fixtures import fragments as fr
from fixtures import jwt as tokens
from tests.helpers.demo_apps import PERIOD, WORKSPACE

LIMIT = 256 * 1024
PATH = "/api/battle-data/upload"
QUEUE = "dev-kc-compaction-queue"
FRAGMENT = fr.fragment("battle", 0, 40)

# Headers the fuzzer must not set at random: they frame the request or are drawn on purpose.
FRAMING = {"host", "content-length", "transfer-encoding", "connection", "expect", "upgrade", "content-type",
           "authorization", "te", "trailer", "keep-alive", "proxy-connection"}
TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
BOUNDARY_CHARS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=?"
# What an HTTP header value may hold (RFC 9110: VCHAR, obs-text, SP, HTAB), so the request
# always reaches the app instead of aiohttp's parser refusing it.
VALUE_BYTES = st.binary(max_size=40).map(lambda b: bytes(c for c in b if c == 9 or 32 <= c != 127).strip())


@dataclass
class Effects:
    objects: int
    rows: int
    sent: int


@dataclass
class Upload:
    emu: Emulator
    host: str
    port: int

    async def effects(self) -> Effects:
        env = self.emu.platform.env_for(self.emu.platform.app("fusou-web"))
        listing = await env.BATTLE_DATA_BUCKET.list(prefix="datasets/")
        rows = (await env.BATTLE_INDEX_DB.prepare("SELECT count(*) AS n FROM battle_files").first())["n"]
        stats = self.emu.platform.plugin("queues").broker.stats(QUEUE)  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)
        return Effects(len(listing.objects), rows, stats["depth"] + stats.get("acked", 0))


@pytest_asyncio.fixture
async def upload(tmp_path: Path) -> AsyncIterator[Upload]:
    start = (int(time.time()) // 300) * 300 + 1  # as the fusou fixture: tokens use the real clock
    emu = Emulator([WORKSPACE], state_dir=tmp_path / "state", clock=FakeClock(start=start), port=0,
                   s3_port=None, request_body_limit=LIMIT)
    await emu.start()
    try:
        host, port = emu.url("fusou-web").removeprefix("http://").rsplit(":", 1)
        yield Upload(emu, host, int(port))
    finally:
        await emu.stop()


# --- what a request is made of ----------------------------------------------------------------

def disposition(name: str, filename: str | None = None) -> bytes:
    text = f'Content-Disposition: form-data; name="{name}"'
    return (text + (f'; filename="{filename}"' if filename is not None else "")).encode()


GOOD_PARTS = [
    (disposition("table"), b"battle"),
    (disposition("periodTag"), PERIOD.encode()),
    (disposition("file", "f.parquet") + b"\r\nContent-Type: application/vnd.apache.parquet", FRAGMENT),
]

part = st.one_of(
    st.sampled_from(GOOD_PARTS),
    st.tuples(st.sampled_from(["table", "periodTag", "datasetId", "file", "x", ""]).map(disposition),
              st.one_of(st.binary(max_size=80), st.sampled_from([b"battle", b"../etc", b"\xff\xfe", b""]))),
    st.tuples(st.just(disposition("file", "f.parquet")),
              st.sampled_from([FRAGMENT[: len(FRAGMENT) // 2], fr.NOT_PARQUET, b"", FRAGMENT + b"\x00"])),
    st.tuples(st.sampled_from([b"Content-Type: text/plain", b'Content-Disposition: form-data; filename="a"',
                               b"Content-Disposition: attachment", b"X-Junk: \x01\x02", b"no colon here",
                               b"Content-Disposition: form-data; name=\"a\r\n\""]),
              st.binary(max_size=30)),
)


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    boundary = draw(st.one_of(st.text(BOUNDARY_CHARS, min_size=1, max_size=70),
                              st.sampled_from(["", "b" * 71, 'a"b', "a b", "--"])))
    parts = draw(st.one_of(st.just(GOOD_PARTS), st.lists(part, max_size=5)))
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + headers + b"\r\n\r\n" + payload + b"\r\n"
                    for headers, payload in parts) + b"--" + boundary.encode() + b"--\r\n"
    mangle = draw(st.sampled_from(["none"] * 5 + ["truncate", "no-final-boundary", "preamble", "bare-lf"]))
    if mangle == "truncate":
        body = body[: draw(st.integers(0, len(body)))]
    elif mangle == "no-final-boundary":
        body = body[: body.rfind(b"--" + boundary.encode())]
    elif mangle == "preamble":
        body = draw(st.binary(max_size=60)) + b"\r\n" + body
    elif mangle == "bare-lf":
        body = body.replace(b"\r\n", b"\n")
    oversize = draw(st.integers(0, 9)) == 0
    if oversize:  # a padding field that takes the body past the limit
        body = b"--" + boundary.encode() + b"\r\n" + disposition("pad") + b"\r\n\r\n" + b"p" * (LIMIT + 1) \
            + b"\r\n" + body
    # The well-formed choices come first and most often, so that some uploads succeed.
    content_type = draw(st.one_of(
        st.just(f"multipart/form-data; boundary={boundary}"),
        st.sampled_from([f'multipart/form-data; boundary="{boundary}"', "multipart/form-data", "text/plain",
                         "application/json", None, f"multipart/form-data; boundary={boundary}; charset=\xff"])))
    valid = st.sampled_from([b"Bearer " + tokens.mint("alice").encode(), b"Bearer " + tokens.mint("bob").encode()])
    auth = draw(st.one_of(
        valid, valid, valid,
        st.sampled_from([b"Bearer " + tokens.expired("alice").encode(), b"Bearer \xff\xfe\x80",
                         "Bearer é".encode(), b"Basic YTpi", b"Bearer ", None]),
        VALUE_BYTES.map(lambda v: b"Bearer " + v)))
    extra = draw(st.lists(st.tuples(st.text(TOKEN_CHARS, min_size=1, max_size=12).filter(
        lambda n: n.lower() not in FRAMING), VALUE_BYTES), max_size=3))
    framing = draw(st.sampled_from(["length", "length", "chunked", "chunked", "declared-huge"]))
    return {"body": body, "content_type": content_type, "auth": auth, "extra": extra, "framing": framing,
            "oversize": oversize or len(body) > LIMIT}


async def send(target: Upload, req: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """Write the request on a fresh connection; read one response (by its Content-Length)."""
    head = [b"POST " + PATH.encode() + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    if req["content_type"] is not None:
        head.append(b"Content-Type: " + req["content_type"].encode("utf-8", "surrogateescape"))
    if req["auth"] is not None:
        head.append(b"Authorization: " + req["auth"])
    head += [name.encode() + b": " + value for name, value in req["extra"]]
    body: bytes = req["body"]
    if req["framing"] == "chunked":
        head.append(b"Transfer-Encoding: chunked")
        payload = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 8192]), body[i:i + 8192])
                           for i in range(0, len(body), 8192)) + b"0\r\n\r\n"
    elif req["framing"] == "declared-huge":
        head.append(b"Content-Length: %d" % (1 << 40))
        payload = body[:1000]  # far less than declared: the edge must not wait for the rest
    else:
        head.append(b"Content-Length: %d" % len(body))
        payload = body
    reader, writer = await asyncio.open_connection(target.host, target.port)
    try:
        writer.write(b"\r\n".join(head) + b"\r\n\r\n")
        try:
            writer.write(payload)
            await writer.drain()
        except ConnectionError:
            pass  # answered and closed early: the response is what matters
        status_line = await asyncio.wait_for(reader.readline(), 30)
        headers: dict[str, str] = {}
        while (line := await asyncio.wait_for(reader.readline(), 30)) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        content = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", "0"))), 30)
        return int(status_line.split()[1]), headers, content
    finally:
        writer.close()


@settings(max_examples=45, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(req=requests())
async def test_random_uploads_get_clean_answers_and_refusals_write_nothing(upload: Upload,
                                                                          req: dict[str, Any]) -> None:
    before = await upload.effects()
    status, headers, content = await send(upload, req)
    event(f"status {status}")
    assert status < 500, (status, content[:300])
    if status == 413 and content == TOO_LARGE_HTML.encode():
        # Cloudflare's own refusal: only ever for a body over the limit.
        assert req["oversize"] or req["framing"] == "declared-huge"
        assert headers["content-type"] == "text/html"
    else:
        # A declared length over the limit never reaches the app.
        assert not (req["framing"] == "declared-huge" or (req["oversize"] and req["framing"] == "length"))
        assert headers["content-type"].startswith("application/json"), (status, headers, content[:200])
        answer = json.loads(content)
        assert (status == 200 and answer["ok"] is True) or (400 <= status < 500 and answer["error"]), answer
    if status != 200:
        assert await upload.effects() == before
