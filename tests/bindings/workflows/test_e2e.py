"""Workflows through the whole emulator (pytest plugin, real server, fake clock, restart)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

WRANGLER = '''
name = "wf-app"
main = "src/entry.py"
compatibility_date = "2025-08-14"
compatibility_flags = ["python_workers", "python_workflows"]

[[workflows]]
name = "report"
binding = "REPORT"
class_name = "Report"
'''

ENTRY = '''
import json
from urllib.parse import urlparse
from workers import Response, WorkerEntrypoint, WorkflowEntrypoint


class Report(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("gather")
        async def gather():
            print("gathering", event.payload["n"])
            return list(range(event.payload["n"]))

        @step.do("total")
        async def total(gather):
            return sum(gather)

        result = await total()
        await step.sleep("settle", "2 hours")
        return {"total": result}


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        path = urlparse(request.url).path
        if path == "/start":
            instance = await self.env.REPORT.create(id="r1", params={"n": 5})
            return Response.json({"id": instance.id})
        instance = await self.env.REPORT.get("r1")
        return Response.json(dict(await instance.status()))
'''


def write_app(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "wrangler.toml").write_text(WRANGLER)
    (root / "src" / "entry.py").write_text(textwrap.dedent(ENTRY))
    return root / "wrangler.toml"


async def test_app_workflow_survives_an_emulator_restart(cf_emulator: Any, tmp_path: Path) -> None:
    emu = await cf_emulator(write_app(tmp_path / "app"))
    assert (await emu.fetch("wf-app", "/start")).json() == {"id": "r1"}
    await emu.drain()
    assert (await emu.fetch("wf-app", "/status")).json()["status"] == "waiting"
    assert sum("gathering 5" in m for m in emu.log_messages()) == 1

    listed = (await emu.fetch("wf-app", "/_emulator/workflows")).json()
    assert listed["workflows"][0]["instances"] == {"waiting": 1}

    await emu.restart()                       # same state dir and clock
    await emu.drain()
    await emu.advance(2 * 3600)
    status = (await emu.fetch("wf-app", "/status")).json()
    assert status == {"status": "complete", "output": {"total": 10}, "error": None}
    # The log spans both runs: "gather" ran once, before the restart, and was replayed from the store.
    assert sum("gathering 5" in m for m in emu.log_messages()) == 1
    described = (await emu.fetch("wf-app", "/_emulator/workflows/report/instances/r1")).json()
    assert [(s["name"], s["attempts"]) for s in described["steps"]] == [("gather", 1), ("total", 1), ("settle", 0)]
    handle = await emu.workflow("report").get("r1")
    assert (await handle.status()).output.total == 10
