"""The dashboard as the server mounts it: on every app's port of a two-app workspace, with
the plugins' routes next to it, and without holding up a stop while a log stream is open."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import aiohttp

from emulator.pytest_plugin import EmulatorHandle

ORDERS = Path(__file__).parent.parent / "pytest_plugin" / "app"


def make_workspace(root: Path) -> Path:
    shutil.copytree(ORDERS, root / "orders")
    site = root / "site"
    (site / "public").mkdir(parents=True)
    (site / "public" / "index.html").write_text("<h1>shop</h1>")
    (site / "wrangler.toml").write_text(
        'name = "site"\npages_build_output_dir = "public"\ncompatibility_date = "2025-08-14"\n'
        'compatibility_flags = ["python_workers"]\n\n'
        '[[queues.producers]]\nbinding = "JOBS"\nqueue = "jobs"\n')
    workspace = root / "wrangler.toml"
    workspace.write_text('[workspace]\napps = ["site", "orders"]\napply_migrations = true\n')
    return workspace


async def test_every_app_port_serves_the_dashboard(cf_emulator: Any, tmp_path: Path) -> None:
    emu: EmulatorHandle = await cf_emulator(make_workspace(tmp_path / "ws"))
    async with aiohttp.ClientSession() as session:
        for app in ("site", "orders"):
            base = emu.url(app)
            async with session.get(base + "/_emulator/") as resp:
                assert resp.status == 200 and "cf-emulator dashboard" in await resp.text()
            async with session.get(base + "/_emulator/dashboard/api/overview") as resp:
                overview = await resp.json()
            assert [a["name"] for a in overview["apps"]] == ["site", "orders"]
            assert overview["bindings"]["queues"]["queues"]["jobs"]["producers"] == [
                {"app": "site", "binding": "JOBS"}, {"app": "orders", "binding": "JOBS"}]
            # The app's own routes still answer everything else.
            async with session.get(base + "/") as resp:
                assert resp.status == 200
        # Plugin routes and the dashboard's share the prefix; unknown paths are JSON 404s.
        async with session.get(emu.url("site") + "/_emulator/queues/jobs") as resp:
            assert (await resp.json())["name"] == "jobs"
        async with session.get(emu.url("site") + "/_emulator/dashboard/nope") as resp:
            assert resp.status == 404 and (await resp.json())["status"] == 404


async def test_stop_does_not_wait_for_an_open_log_stream(cf_emulator: Any) -> None:
    emu: EmulatorHandle = await cf_emulator(ORDERS, shutdown_timeout=10.0)
    async with aiohttp.ClientSession() as session:
        resp = await session.get(emu.url("orders") + "/_emulator/dashboard/api/logs/stream")
        assert resp.status == 200
        await resp.content.readline()
        loop = asyncio.get_running_loop()
        started = loop.time()
        await emu.stop()
        # Without the dashboard's on_shutdown hook, aiohttp would wait `shutdown_timeout`.
        assert loop.time() - started < 3
        resp.close()
