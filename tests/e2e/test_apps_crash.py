"""A real `cf-emulator dev` process killed mid-workflow: the restart resumes the compaction
and finishes it without re-running the steps that had completed.

The apps are copied to a temporary workspace whose workflow config sets the dev/test knob
``COMPACTION_STEP_DELAY_MS`` (each step pauses that long), which leaves a window to kill
the process while a known step is in flight. The real apps' configs do not set it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from fixtures import fragments as fr
from fixtures import jwt as tokens
from tests.helpers.demo_apps import PERIOD, ROOT, WORKFLOW

STEP_DELAY_MS = 600
COMPLETED_BEFORE_KILL = ("validate-dataset", "list-fragments", "extract-schema", "group-by-schema")


def make_workspace(tmp: Path) -> Path:
    for app in ("web", "workflow"):
        shutil.copytree(ROOT / "apps" / app, tmp / "apps" / app, ignore=shutil.ignore_patterns("__pycache__"))
    config = tmp / "apps" / "workflow" / "wrangler.toml"
    text = config.read_text()
    assert "[vars]\n" in text
    config.write_text(text.replace("[vars]\n", f'[vars]\nCOMPACTION_STEP_DELAY_MS = "{STEP_DELAY_MS}"\n', 1))
    shutil.copy(ROOT / "wrangler.toml", tmp / "wrangler.toml")
    return tmp / "wrangler.toml"


def start_dev(workspace: Path, state: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(log, "ab") as out:  # the child has its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "emulator", "dev", "-c", str(workspace), "--persist-to", str(state),
             "--port", "0", "--no-s3", "--no-watch"],
            cwd=workspace.parent, stdout=out, stderr=subprocess.STDOUT, env=env)


async def wait_ready(proc: subprocess.Popen[bytes], state: Path, log: Path, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"dev exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            info = json.loads((state / "server.json").read_text())
        except (OSError, ValueError):
            info = None
        if info and info.get("pid") == proc.pid:
            return info
        await asyncio.sleep(0.1)
    raise AssertionError(f"dev did not start in {timeout} s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def describe(session: aiohttp.ClientSession, info: dict[str, Any], instance_id: str) -> dict[str, Any]:
    url = f"{info['internal_url']}/_emulator/workflows/{WORKFLOW}/instances/{instance_id}"
    async with session.get(url) as resp:
        assert resp.status == 200, await resp.text()
        return dict(await resp.json())


async def test_killed_mid_workflow_resumes_without_redoing_completed_steps(tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path / "ws")
    state, log = tmp_path / "state", tmp_path / "dev.log"
    proc = start_dev(workspace, state, log)
    try:
        info = await wait_ready(proc, state, log)
        web, worker = info["apps"]["fusou-web"]["url"], info["apps"]["fusou-workflow"]["url"]
        specs = [fr.FragmentSpec(f"f{i}", "battle", i * 100, 150) for i in range(3)]
        async with aiohttp.ClientSession() as session:
            for spec in specs:
                form = aiohttp.FormData()
                form.add_field("file", spec.data(), filename="f.parquet")
                form.add_field("table", "battle")
                form.add_field("periodTag", PERIOD)
                async with session.post(f"{web}/api/battle-data/upload", data=form,
                                        headers={"authorization": f"Bearer {tokens.mint('alice')}"}) as resp:
                    assert resp.status == 200, await resp.text()
            # Start the run directly (the queue's 30 s batch timeout is real time here).
            async with session.post(f"{worker}/run", json={"datasetId": "alice", "table": "battle",
                                                           "periodTag": PERIOD, "userId": "alice"}) as resp:
                assert resp.status == 202, await resp.text()
                instance_id = (await resp.json())["instanceId"]
            deadline = time.monotonic() + 20
            while True:
                described = await describe(session, info, instance_id)
                steps = {s["name"]: s["status"] for s in described["steps"]}
                if all(steps.get(name) == "complete" for name in COMPLETED_BEFORE_KILL):
                    break
                assert time.monotonic() < deadline, f"steps did not progress: {steps}"
                await asyncio.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)  # normally while stream-merge sleeps in its pause
            proc.wait()
            assert described["status"] == "running"
            done_at_kill = {name for name, status in steps.items() if status == "complete"}

        proc = start_dev(workspace, state, log)
        info = await wait_ready(proc, state, log)
        web = info["apps"]["fusou-web"]["url"]
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 30
            while True:
                described = await describe(session, info, instance_id)
                if described["status"] in ("complete", "errored"):
                    break
                assert time.monotonic() < deadline, f"the instance did not finish: {described['status']}"
                await asyncio.sleep(0.1)
            assert described["status"] == "complete", described
            by_name = {s["name"]: s for s in described["steps"]}
            for name in done_at_kill:  # completed before the kill: never run again
                assert by_name[name]["attempts"] == 1, (name, by_name[name])
                assert len(by_name[name]["attempt_log"]) == 1
            assert by_name["stream-merge"]["status"] == "complete"
            assert by_name["record-metrics"]["status"] == "complete"
            async with session.get(f"{web}/api/datasets/alice") as resp:
                table = (await resp.json())["tables"][0]
            assert table["pendingFragments"] == 0
            assert table["lastRun"]["status"] == "success" and table["lastRun"]["rowsOut"] == 350
            assert table["inProgress"] is False
    finally:
        stop(proc)
