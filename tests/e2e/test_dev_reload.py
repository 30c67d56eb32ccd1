"""Hot reload end to end: edit an app's files while `dev` serves it over HTTP.

The first tests drive the real file watcher (watchfiles); they poll HTTP for the new
behaviour with a short deadline. The rest call the reloader directly with the changed
paths, which is what the watcher does, to keep them fast and exact.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from types import ModuleType
from collections.abc import AsyncIterator

import aiohttp
import pytest

from emulator import Emulator, FakeClock
from emulator.bindings.queues.config import queues_config
from emulator.logs import EventLog


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as resp:
            return resp.status, await resp.text()


async def eventually(url: str, expected: str, timeout: float = 8.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: tuple[int, str] = (0, "")
    while loop.time() < deadline:
        last = await get(url)
        if last == (200, expected):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{url} still answers {last!r}, expected {expected!r}")


def backend_reloads(emu: Emulator) -> int:
    return emu._reloader.reloads.get("dev-backend", 0) if emu._reloader else 0


@pytest.fixture
async def watched(workspace: Path) -> AsyncIterator[Emulator]:
    emulator = Emulator([workspace / "wrangler.toml"], clock=FakeClock(), port=0, log=EventLog(), watch=True)
    async with emulator:
        await asyncio.wait_for(emulator._reloader.ready.wait(), 5)
        yield emulator


async def test_editing_python_reloads_and_a_syntax_error_keeps_the_last_good_version(
        watched: Emulator, workspace: Path) -> None:
    url = watched.url("dev-backend") + "/answer"
    assert await get(url) == (200, "v1")
    helpers = workspace / "backend" / "src" / "helpers.py"
    await asyncio.sleep(0.2)  # let the watcher's first scan settle
    helpers.write_text('def answer():\n    return "v2"\n')
    await eventually(url, "v2")
    seen = backend_reloads(watched)

    helpers.write_text('def answer(:\n    return "v3"\n')
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 8
    while not any("SyntaxError" in r.message + str(r.fields) for r in watched.log.recent if r.level == "error"):
        assert loop.time() < deadline, "the syntax error never reached the log"
        await asyncio.sleep(0.05)
    assert backend_reloads(watched) == seen
    assert await get(url) == (200, "v2")  # the last good version keeps serving
    error = next(r for r in watched.log.recent if r.level == "error" and "SyntaxError" in r.message + str(r.fields))
    assert "helpers.py" in error.message + str(error.fields)

    helpers.write_text('def answer():\n    return "v4"\n')
    await eventually(url, "v4")
    # The other app was not touched.
    assert watched._reloader.reloads.get("dev-shop", 0) == 0


async def test_editing_the_config_reloads_vars(watched: Emulator, workspace: Path) -> None:
    url = watched.url("dev-backend") + "/var"
    assert await get(url) == (200, "1")
    config = workspace / "backend" / "wrangler.toml"
    await asyncio.sleep(0.2)
    config.write_text(config.read_text().replace('VERSION = "1"', 'VERSION = "2"'))
    await eventually(url, "2")


async def test_reload_keeps_queue_and_r2_state(workspace: Path) -> None:
    clock = FakeClock()
    async with Emulator([workspace / "wrangler.toml"], clock=clock, port=0, log=EventLog(), watch=True) as emu:
        async with aiohttp.ClientSession() as session:
            for order_id in (1, 2):
                async with session.post(emu.url("dev-shop") + "/api/order", json={"id": order_id}) as resp:
                    assert resp.status == 200
            await clock.advance(1)
            await emu.drain()
            # Order 3 is waiting in the queue while the consumer's code changes.
            async with session.post(emu.url("dev-shop") + "/api/order", json={"id": 3}) as resp:
                assert resp.status == 200
        helpers = workspace / "backend" / "src" / "helpers.py"
        helpers.write_text('def answer():\n    return "v2"\n')
        assert await emu._reloader.handle_changes([helpers]) == {"dev-backend": True}
        await clock.advance(1)
        await emu.drain()
        orders = {}
        for order_id in (1, 2, 3):
            status, text = await get(emu.url("dev-backend") + f"/orders/{order_id}")
            assert status == 200
            orders[order_id] = json.loads(text)["by"]
        # Stored before the reload by v1, and the queued message consumed after it by v2.
        assert orders == {1: "v1", 2: "v1", 3: "v2"}


async def test_a_config_error_keeps_the_running_version(workspace: Path) -> None:
    async with Emulator([workspace / "wrangler.toml"], clock=FakeClock(), port=0, log=EventLog(), watch=True) as emu:
        reloader = emu._reloader
        config = workspace / "backend" / "wrangler.toml"
        config.write_text(config.read_text().replace('VERSION = "1"', 'VERSION = "2"')
                          .replace("max_batch_size = 10", 'max_batch_size = "ten"'))
        assert await reloader.handle_changes([config]) == {"dev-backend": False}
        assert await get(emu.url("dev-backend") + "/var") == (200, "1")
        errors = [r.message for r in emu.log.recent if r.level == "error"]
        assert any("config has errors" in m and "max_batch_size" in m for m in errors)

        config.write_text(config.read_text().replace('max_batch_size = "ten"', "max_batch_size = 10"))
        assert await reloader.handle_changes([config]) == {"dev-backend": True}
        assert await get(emu.url("dev-backend") + "/var") == (200, "2")


def modules_from(folder: Path) -> dict[str, ModuleType]:
    """The modules in sys.modules imported from files under ``folder``, by name."""
    root = folder.resolve()
    out = {}
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and root in Path(file).resolve().parents:
            out[name] = module
    return out


async def test_a_config_change_drops_the_replaced_hosts_modules(workspace: Path) -> None:
    async with Emulator([workspace / "wrangler.toml"], clock=FakeClock(), port=0, log=EventLog(), watch=True) as emu:
        backend = workspace / "backend"
        before = modules_from(backend)
        assert before, "the backend app's modules should be imported"
        old_host = emu.hosts["dev-backend"]
        config = backend / "wrangler.toml"
        config.write_text(config.read_text().replace('VERSION = "1"', 'VERSION = "2"'))
        assert await emu._reloader.handle_changes([config]) == {"dev-backend": True}
        assert emu.hosts["dev-backend"] is not old_host
        assert await get(emu.url("dev-backend") + "/var") == (200, "2")
        after = modules_from(backend)
        # The old generation is gone from sys.modules (a module keeps its plain name across
        # generations, not its identity); the new one serves.
        assert after and not {id(m) for m in before.values()} & {id(m) for m in after.values()}
        # The other app's modules are untouched by the backend's swap.
        assert modules_from(workspace / "shop")


async def test_changes_map_to_the_owning_app_only(workspace: Path) -> None:
    async with Emulator([workspace / "wrangler.toml"], clock=FakeClock(), port=0, log=EventLog(), watch=True) as emu:
        reloader = emu._reloader
        shop_fn = workspace / "shop" / "functions" / "api" / "greeting.py"
        backend_src = workspace / "backend" / "src" / "entry.py"
        mapping = reloader.apps_for([shop_fn, backend_src, workspace / "README.md",
                                     workspace / "backend" / "src" / "__pycache__" / "x.pyc"])
        assert mapping == {"dev-shop": {shop_fn.resolve()}, "dev-backend": {backend_src.resolve()}}
        assert reloader.apps_for([workspace / "backend" / ".dev.vars"]) == {
            "dev-backend": {(workspace / "backend" / ".dev.vars").resolve()}}


async def test_changed_consumer_settings_warn_that_a_restart_is_needed(workspace: Path) -> None:
    async with Emulator([workspace / "wrangler.toml"], clock=FakeClock(), port=0, log=EventLog(), watch=True) as emu:
        config = workspace / "backend" / "wrangler.toml"
        config.write_text(config.read_text().replace("max_batch_size = 10", "max_batch_size = 5"))
        assert await emu._reloader.handle_changes([config]) == {"dev-backend": True}
        assert any("take effect after a restart" in m for m in emu.log.messages(level="warn", source="dev"))
        assert queues_config(emu.platform.app("dev-backend")).consumers[0].max_batch_size == 5


async def test_var_overrides_vars_and_dev_vars_and_survive_a_config_reload(workspace: Path) -> None:
    backend = workspace / "backend"
    (backend / ".dev.vars").write_text('VERSION="from-dev-vars"\n')
    async with Emulator([workspace / "wrangler.toml"], clock=FakeClock(), port=0, log=EventLog(), watch=True,
                        vars={"VERSION": "from-cli", "EXTRA": "a:b"}) as emu:
        url = emu.url("dev-backend") + "/var"
        assert await get(url) == (200, "from-cli")
        assert emu.platform.env_for(emu.platform.app("dev-backend")).EXTRA == "a:b"
        config = backend / "wrangler.toml"
        config.write_text(config.read_text().replace('VERSION = "1"', 'VERSION = "2"'))
        assert await emu._reloader.handle_changes([config]) == {"dev-backend": True}
        assert await get(url) == (200, "from-cli")
    async with Emulator([workspace / "wrangler.toml"], clock=FakeClock(), port=0, log=EventLog()) as emu:
        assert await get(emu.url("dev-backend") + "/var") == (200, "from-dev-vars")  # no --var: .dev.vars wins
