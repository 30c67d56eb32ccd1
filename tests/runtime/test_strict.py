"""``--strict-runtime``: legacy idioms fail as in production; what production lacks is reported."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any
from collections.abc import Callable

import pytest

from emulator.bindings.d1.config import D1DatabaseBinding
from emulator.clock import FakeClock
from emulator.platform import Platform
from emulator.runtime.strict import Finding, scan_imports
from tests.helpers.apps import worker_config, write_files

LEGACY_APP = {"src/entry.py": """
    from workers import WorkerEntrypoint, Response

    class Default(WorkerEntrypoint):
        async def fetch(self, request):
            await self.env.DB.exec("CREATE TABLE IF NOT EXISTS t (v TEXT)")
            await self.env.DB.prepare("INSERT INTO t VALUES (?)").bind("x").run()
            result = await self.env.DB.prepare("SELECT v FROM t").all()
            rows = result.results.to_py()          # pre-SDK idiom
            return Response(",".join(row["v"] for row in rows))
"""}


def d1_config(root: Path) -> Any:
    return worker_config(root, d1_databases=(D1DatabaseBinding("DB", "db", None, root / "migrations"),))


@pytest.fixture
def platform_for(state_dir: Path) -> Callable[..., Platform]:
    def make(*apps: Any, strict: bool) -> Platform:
        return Platform(list(apps), state_dir, clock=FakeClock(), strict_runtime=strict)

    return make


def warnings(platform: Platform) -> list[str]:
    return platform.log.messages(level="warn")


async def test_legacy_idioms_work_by_default_and_are_reported_once(tmp_path: Path, serve: Any,
                                                                   platform_for: Any) -> None:
    write_files(tmp_path, LEGACY_APP)
    config = d1_config(tmp_path)
    platform = platform_for(config, strict=False)
    client = await serve(config, platform=platform)
    for _ in range(2):
        resp = await client.get("/")
        assert resp.status == 200
    reported = [w for w in warnings(platform) if "to_py" in w]
    assert len(reported) == 1
    assert "src/entry.py:8" in reported[0] and "'list' object has no attribute 'to_py'" in reported[0]


async def test_legacy_idioms_fail_as_in_production_under_strict(tmp_path: Path, serve: Any,
                                                                platform_for: Any) -> None:
    write_files(tmp_path, LEGACY_APP)
    config = d1_config(tmp_path)
    platform = platform_for(config, strict=True)
    client = await serve(config, platform=platform)
    resp = await client.get("/")
    assert resp.status == 500
    assert "AttributeError: 'list' object has no attribute 'to_py'" in await resp.text()
    # The emulator's own threads (D1's worker) are not the app's: nothing reported.
    assert not [w for w in warnings(platform) if "thread" in w]


async def test_what_production_lacks_is_reported_with_its_location(tmp_path: Path, serve: Any,
                                                                   platform_for: Any) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    write_files(tmp_path, {"src/entry.py": f"""
        import fcntl
        import socket
        import subprocess
        import threading
        from workers import WorkerEntrypoint, Response

        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                t = threading.Thread(target=lambda: None)
                t.start()
                t.join()
                subprocess.run(["true"])
                with socket.socket() as s:
                    try:
                        s.connect(("127.0.0.1", {port}))
                    except OSError:
                        pass
                return Response("done")
    """})
    config = worker_config(tmp_path)
    platform = platform_for(config, strict=True)
    client = await serve(config, platform=platform)
    for _ in range(2):
        assert await (await client.get("/")).text() == "done"
    found = warnings(platform)
    assert any("src/entry.py:1 imports a module production lacks (fcntl)" in w for w in found)
    assert next(w for w in found if "starts a thread" in w).startswith("--strict-runtime: src/entry.py:10 ")
    assert any("src/entry.py:12 starts a subprocess" in w for w in found)
    assert any("src/entry.py:15 opens a raw socket" in w for w in found)
    assert len(found) == 4  # each once, although the request ran twice


async def test_nothing_is_reported_without_strict(tmp_path: Path, serve: Any, platform_for: Any) -> None:
    write_files(tmp_path, {"src/entry.py": """
        import subprocess
        from workers import WorkerEntrypoint, Response

        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                subprocess.run(["true"])
                return Response("ok")
    """})
    config = worker_config(tmp_path)
    platform = platform_for(config, strict=False)
    client = await serve(config, platform=platform)
    assert await (await client.get("/")).text() == "ok"
    assert warnings(platform) == []


async def test_emulator_network_use_is_not_blamed_on_the_app(tmp_path: Path, serve: Any, platform_for: Any,
                                                             aiohttp_server: Any) -> None:
    from aiohttp import web

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="upstream")

    upstream = web.Application()
    upstream.router.add_get("/", hello)
    server = await aiohttp_server(upstream)
    write_files(tmp_path, {"src/entry.py": f"""
        from workers import WorkerEntrypoint, Response, fetch

        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                got = await fetch("http://127.0.0.1:{server.port}/")
                return Response(await got.text())
    """})
    config = worker_config(tmp_path)
    platform = platform_for(config, strict=True)
    client = await serve(config, platform=platform)
    assert await (await client.get("/")).text() == "upstream"
    assert warnings(platform) == []


def test_scan_imports_finds_modules_production_lacks(tmp_path: Path) -> None:
    write_files(tmp_path, {"a.py": "import os\nimport termios, json\nfrom curses import wrapper\n",
                           "b.py": "def f(:\n"})  # unparsable files are skipped
    found = scan_imports([tmp_path / "a.py", tmp_path / "b.py"], tmp_path)
    assert found == [Finding("import", "a.py:2", "termios"), Finding("import", "a.py:3", "curses")]
