"""Running CLI verbs in-process against a platform, for the binding types' CLI tests."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from collections.abc import AsyncGenerator

from aiohttp import web

from emulator.config.model import AppConfig
from emulator.platform import Platform
from tests.helpers.apps import D1DatabaseBinding, R2BucketBinding, app_config
from tests.helpers.state_dirs import announced_server

if TYPE_CHECKING:
    import pytest


def run_cli(*argv: str) -> int:
    """Parse and run a `cf-emulator` verb in this process (every verb module is registered),
    as `cf-emulator`'s main runs it: errors reported, state directories released."""
    from emulator.cli import build_parser, run_verb

    return run_verb(build_parser().parse_args(list(argv)))


async def serve_internal_api(platform: Platform) -> AsyncGenerator[str, None]:
    """Mount the plugins' routes under /_emulator/<name> on a free port, like `dev` does,
    and advertise it in server.json so the CLI takes the running-server path."""
    app = web.Application()
    internal = web.Application()
    for name, plugin in platform.plugins.items():
        for route in plugin.routes():
            internal.router.add_route(route.method, f"/{name}{route.path}", route.handler)
    app.add_subapp("/_emulator", internal)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # aiohttp internals: the site has started
    url = f"http://127.0.0.1:{port}"
    try:
        with announced_server(platform.state, url):
            yield url
    finally:
        await runner.cleanup()


def write_config(root: Path, extra: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    config = root / "wrangler.toml"
    config.write_text(
        'name = "app"\nmain = "src/entry.py"\ncompatibility_date = "2025-01-01"\n'
        'compatibility_flags = ["python_workers"]\n\n'
        '[[d1_databases]]\nbinding = "DB"\ndatabase_name = "main-db"\ndatabase_id = "id-1"\n\n'
        '[[r2_buckets]]\nbinding = "BUCKET"\nbucket_name = "bucket"\n' + extra)
    (root / "src").mkdir(exist_ok=True)
    (root / "src" / "entry.py").write_text(
        "from workers import WorkerEntrypoint, Response\n\n"
        "class Default(WorkerEntrypoint):\n    async def fetch(self, request):\n"
        "        return Response('ok')\n")
    return config




def d1_r2_app(root: Path) -> AppConfig:
    """The app ``write_config`` describes, without reading the file."""
    return app_config(config_path=root / "wrangler.toml", kind="worker", name="app",
                     d1_databases=(D1DatabaseBinding("DB", "main-db", "id-1", root / "migrations"),),
                     r2_buckets=(R2BucketBinding("BUCKET", "bucket"),))


def declaring_config(root: Path, queues: tuple[str, ...] = (), buckets: tuple[str, ...] = (),
                     workflows: tuple[str, ...] = ()) -> Path:
    """A Worker config declaring these queues (producers), R2 buckets and workflows, for
    verbs that refuse names neither the config nor the state knows."""
    root.mkdir(parents=True, exist_ok=True)
    text = 'name = "app"\nmain = "src/entry.py"\ncompatibility_date = "2025-01-01"\n' \
           'compatibility_flags = ["python_workers"]\n'
    for i, queue in enumerate(queues):
        text += f'\n[[queues.producers]]\nbinding = "Q{i}"\nqueue = "{queue}"\n'
    for i, bucket in enumerate(buckets):
        text += f'\n[[r2_buckets]]\nbinding = "B{i}"\nbucket_name = "{bucket}"\n'
    for i, workflow in enumerate(workflows):
        text += f'\n[[workflows]]\nbinding = "W{i}"\nname = "{workflow}"\nclass_name = "W{i}"\n'
    config = root / "wrangler.toml"
    config.write_text(text)
    (root / "src").mkdir(exist_ok=True)
    classes = "".join(f"\nclass W{i}(WorkflowEntrypoint):\n    async def run(self, event, step):\n"
                      f"        return None\n" for i in range(len(workflows)))
    (root / "src" / "entry.py").write_text(
        "from workers import WorkerEntrypoint, WorkflowEntrypoint, Response\n\n"
        "class Default(WorkerEntrypoint):\n    async def fetch(self, request):\n"
        "        return Response('ok')\n" + classes)
    return config


def table_rows(text: str) -> list[list[str]]:
    """The cells of the boxed tables a verb printed (header row included), stripped."""
    return [[cell.strip() for cell in line.strip().strip("│").split("│")]
            for line in text.splitlines() if line.startswith("│")]


def force_terminal(monkeypatch: pytest.MonkeyPatch, colour: bool = False, width: int = 80) -> None:
    """Make the CLI's output module see terminals on stdin, stdout and stderr (as a user at a
    shell has), ``width`` columns wide; without ``colour``, NO_COLOR is set so the text is
    plain."""
    from emulator.cli import output

    monkeypatch.setattr(output, "_isatty", lambda stream: True)
    monkeypatch.setenv("COLUMNS", str(width))
    monkeypatch.delenv("TERM", raising=False)
    if colour:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", "1")
