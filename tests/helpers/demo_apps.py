"""Driving the demo apps (`fusou-web`, `fusou-workflow`) in end-to-end tests: the workspace
in-process, on a FakeClock (the `fusou` fixture of tests/e2e/conftest.py starts it).

Everything a test asserts goes through the apps' HTTP endpoints; the platform's bindings
are used only to arrange conditions no HTTP client could (a message with a bad shape,
bit rot in a stored fragment, a failing queue) and to read D1 rows the API does not show.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import aiohttp
import pyarrow as pa
import pyarrow.parquet as pq

from emulator.clock import FakeClock
from emulator.emulator import Emulator
from fixtures import jwt as tokens

ROOT = Path(__file__).resolve().parents[2]
WORKSPACE = ROOT / "wrangler.toml"
PERIOD = "2025-12-20"
# The consumer's max_batch_timeout (apps/workflow/wrangler.toml) plus a margin.
BATCH_TIMEOUT = 31.0
DLQ_BATCH_TIMEOUT = 61.0
WORKFLOW = "data-compaction-workflow"
CRON_FIRST_FIRE = 299.0  # seconds after the fixture's clock start


class Fusou:
    def __init__(self, emu: Emulator, session: aiohttp.ClientSession) -> None:
        self.emu = emu
        self.session = session
        self.web = emu.url("fusou-web")
        self.worker = emu.url("fusou-workflow")

    @property
    def clock(self) -> FakeClock:
        clock = self.emu.platform.clock
        assert isinstance(clock, FakeClock)
        return clock

    def env(self, app: str = "fusou-web") -> Any:
        return self.emu.platform.env_for(self.emu.platform.app(app))

    async def upload(self, data: bytes, table: str, token: str | None = None, *, period: str = PERIOD,
                     dataset: str | None = None, sub: str = "alice") -> tuple[int, dict[str, Any]]:
        form = aiohttp.FormData()
        form.add_field("file", data, filename="fragment.parquet", content_type="application/vnd.apache.parquet")
        form.add_field("table", table)
        form.add_field("periodTag", period)
        if dataset is not None:
            form.add_field("datasetId", dataset)
        headers = {"authorization": f"Bearer {token or tokens.mint(sub)}"}
        async with self.session.post(f"{self.web}/api/battle-data/upload", data=form, headers=headers) as resp:
            return resp.status, await resp.json()

    async def trigger(self, body: dict[str, Any], sub: str = "alice") -> tuple[int, dict[str, Any]]:
        headers = {"authorization": f"Bearer {tokens.mint(sub)}"}
        async with self.session.post(f"{self.web}/api/compaction/trigger", json=body, headers=headers) as resp:
            return resp.status, await resp.json()

    async def status(self, dataset: str = "alice") -> dict[str, Any]:
        async with self.session.get(f"{self.web}/api/datasets/{dataset}") as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def table_status(self, table: str, dataset: str = "alice") -> dict[str, Any]:
        status = await self.status(dataset)
        return next(t for t in status["tables"] if t["table"] == table and t["periodTag"] == PERIOD)

    async def download(self, table: str, dataset: str = "alice", part: int | None = None) -> pa.Table:
        url = f"{self.web}/api/datasets/{dataset}/compacted/{table}/{PERIOD}"
        if part is not None:
            url += f"?part={part}"
        async with self.session.get(url) as resp:
            assert resp.status == 200, await resp.text()
            return pq.read_table(io.BytesIO(await resp.read()))

    async def compact(self, rounds: int = 2) -> None:
        """Let batches time out and workflows (and any follow-up runs) finish."""
        for _ in range(rounds):
            await self.clock.advance(BATCH_TIMEOUT)
            await self.emu.drain()

    async def d1(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        result = await self.env().BATTLE_INDEX_DB.prepare(sql).bind(*args).all()
        return [dict(r) for r in result["results"]]

    async def instances(self) -> list[dict[str, Any]]:
        url = f"{self.emu.internal_url}/_emulator/workflows/{WORKFLOW}/instances"
        async with self.session.get(url) as resp:
            assert resp.status == 200, await resp.text()
            return list((await resp.json())["instances"])

    async def describe(self, instance_id: str) -> dict[str, Any]:
        url = f"{self.emu.internal_url}/_emulator/workflows/{WORKFLOW}/instances/{instance_id}"
        async with self.session.get(url) as resp:
            assert resp.status == 200, await resp.text()
            return dict(await resp.json())

    async def list_keys(self, prefix: str) -> list[str]:
        bucket = self.env().BATTLE_DATA_BUCKET
        keys: list[str] = []
        cursor = None
        while True:
            page = await (bucket.list(prefix=prefix, cursor=cursor) if cursor else bucket.list(prefix=prefix))
            keys += [o.key for o in page.objects]
            if not page.truncated:
                return keys
            cursor = page.cursor
