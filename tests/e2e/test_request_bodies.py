"""Request bodies through the real server: the workspace's limit, Cloudflare's 413, spilled uploads.

The figures checked are the emulator's own counters (``/_emulator/health`` →
``request_bodies``), never wall-clock time: a chunked upload over the limit is stopped
soon after the limit (``peak_received_at_rejection``) and is never held in memory
(``peak_buffered``), and every spill file is closed once the request is done.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any
from collections.abc import AsyncIterator

import aiohttp

from emulator.emulator import Emulator
from emulator.runtime.body import READ_CHUNK, TOO_LARGE_HTML, WRITE_BATCH

LIMIT = 2_000_000
BOUNDARY = "e2e-boundary"

ENTRY = """
from workers import Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        form = await request.form_data()
        upload = form.get("file")
        stored = await self.env.UPLOADS.put(form.get("key"), upload.stream())
        return Response.json({"key": stored.key, "size": stored.size})
"""


def write_workspace(root: Path) -> Path:
    files = {
        "wrangler.toml": f'[workspace]\napps = ["uploads"]\nrequest_body_limit = "{LIMIT // 1_000_000}MB"\n',
        "uploads/wrangler.toml": """
            name = "uploads"
            main = "src/entry.py"
            compatibility_date = "2025-08-14"
            compatibility_flags = ["python_workers"]

            [[r2_buckets]]
            binding = "UPLOADS"
            bucket_name = "e2e-uploads"
        """,
        "uploads/src/entry.py": ENTRY,
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root / "wrangler.toml"


def form_body(key: str, size: int) -> bytes:
    return (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="key"\r\n\r\n{key}\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="f.bin"\r\n\r\n').encode() \
        + b"\x05" * size + f"\r\n--{BOUNDARY}--\r\n".encode()


async def chunked(data: bytes, piece: int = 1 << 16) -> AsyncIterator[bytes]:
    for i in range(0, len(data), piece):
        yield data[i:i + piece]


async def counters(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with session.get(url + "/_emulator/health") as resp:
        return dict((await resp.json())["request_bodies"])


async def test_uploads_against_the_workspace_limit(tmp_path: Path) -> None:
    emu = Emulator([write_workspace(tmp_path)], state_dir=tmp_path / "state", port=0, s3_port=None)
    await emu.start()
    try:
        url = emu.url("uploads")
        headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
        async with aiohttp.ClientSession() as session:
            # Within the limit, chunked: parsed as it arrives, the file part spilled, then
            # streamed into R2.
            async with session.post(url, data=chunked(form_body("ok", 1_500_000)), headers=headers) as resp:
                assert resp.status == 200, await resp.text()
                assert await resp.json() == {"key": "ok", "size": 1_500_000}
            # Over the limit, chunked: the app starts reading; the client gets Cloudflare's 413.
            async with session.post(url, data=chunked(form_body("big", 12_000_000)), headers=headers) as resp:
                assert resp.status == 413 and await resp.text() == TOO_LARGE_HTML
            # Over the limit, declared: refused before the app runs.
            async with session.post(url, data=form_body("declared", 3_000_000), headers=headers) as resp:
                assert resp.status == 413
            seen = await counters(session, url)
        assert seen["limit"] == LIMIT and seen["rejected"] == 2
        assert LIMIT < seen["peak_received_at_rejection"] < LIMIT + (1 << 20)
        assert seen["peak_buffered"] <= WRITE_BATCH + READ_CHUNK
        assert seen["spilled_parts"] >= 2 and seen["open_spill_files"] == 0
        bucket = emu.platform.env_for(emu.platform.app("uploads")).UPLOADS
        assert [o.key for o in (await bucket.list()).objects] == ["ok"]
        assert list((emu.state_dir / "tmp").iterdir()) == []
    finally:
        await emu.stop()


async def test_the_emulator_argument_wins_over_the_workspace(tmp_path: Path) -> None:
    emu = Emulator([write_workspace(tmp_path)], state_dir=tmp_path / "state", port=0, s3_port=None,
                   request_body_limit="5MB")
    await emu.start()
    try:
        assert emu.health()["request_bodies"]["limit"] == 5_000_000
    finally:
        await emu.stop()
