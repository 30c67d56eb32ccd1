"""Durable Object classes on a real Platform without loading an app module, for fast tests.

``do_platform(tmp_path, {"COUNTER": Counter})`` starts a ``Platform`` whose one app binds
each class (binding name → class) and hosts them through ``ClassHost`` (the part of the
runtime's host contract the plugin uses: ``entrypoint_class``, ``env``, ``platform``,
``log_source``). Time is a ``FakeClock``.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from collections.abc import AsyncIterator

from emulator.bindings.durable_objects.config import ClassInfo, DurableObjectBinding, DurableObjectsConfig
from emulator.clock import FakeClock
from emulator.config.model import AppConfig
from emulator.platform import Platform
from tests.helpers.apps import app_config

START = 1_700_000_000.0


class ClassHost:
    """Hosts classes defined in a test module as if they were an app's main module."""

    def __init__(self, platform: Platform, config: AppConfig, classes: dict[str, type]) -> None:
        self.platform = platform
        self.config = config
        self.classes = dict(classes)
        self.log_source = f"app:{config.name}"
        self.env = platform.env_for(config)

    def entrypoint_class(self, name: str) -> type:
        try:
            return self.classes[name]
        except KeyError:
            raise LookupError(f"the module defines no class named {name!r}") from None


def do_app(tmp_path: Path, bindings: Mapping[str, type | str], sqlite: bool | dict[str, bool] = True, name: str = "app",
           compatibility_date: str = "2025-08-14", flags: tuple[str, ...] = ("python_workers",),
           script: str | None = None) -> AppConfig:
    """An app config binding ``{BINDING: class or class name}``, its classes in its migrations."""
    names = {b: (c if isinstance(c, str) else c.__name__) for b, c in bindings.items()}
    classes = () if script else tuple(ClassInfo(n, sqlite if isinstance(sqlite, bool) else sqlite.get(n, True), n)
                                      for n in dict.fromkeys(names.values()))
    cfg = DurableObjectsConfig(tuple(DurableObjectBinding(b, n, script) for b, n in names.items()), classes,
                               has_migrations=bool(classes))
    return app_config(config_path=tmp_path / name / "wrangler.toml", kind="worker", name=name,
                      compatibility_date=compatibility_date, compatibility_flags=flags,
                      bindings={"durable_objects": cfg})


@asynccontextmanager
async def do_platform(tmp_path: Path, bindings: Mapping[str, type | str], sqlite: bool | dict[str, bool] = True,
                      idle_timeout: float = 10.0, state: Path | None = None, clock: FakeClock | None = None,
                      compatibility_date: str = "2025-08-14") -> AsyncIterator[tuple[Platform, Any]]:
    """A started platform hosting ``bindings``; yields it and the app's env (namespaces by binding)."""
    config = do_app(tmp_path, bindings, sqlite, compatibility_date=compatibility_date)
    platform = Platform([config], state or tmp_path / "state", clock=clock or FakeClock(start=START))
    platform.plugins["durable_objects"].idle_timeout = idle_timeout  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)
    host = ClassHost(platform, config, {c.__name__: c for c in bindings.values() if isinstance(c, type)})
    platform.attach_host(host)  # type: ignore[arg-type]  # a stand-in host with what the durable_objects plugin uses
    await platform.start()
    try:
        yield platform, host.env
    finally:
        await platform.stop()


def write_app(root: Path, source: str, bindings: str = "", name: str = "app", date: str = "2025-08-14",
              migrations: str | None = None) -> Path:
    """A Worker app on disk (``src/entry.py`` + ``wrangler.toml``); returns the config path.

    ``bindings`` is TOML for ``[[durable_objects.bindings]]`` entries and the like;
    ``migrations`` defaults to one ``new_sqlite_classes`` migration of every class bound
    without ``script_name``.
    """
    import re
    import textwrap

    folder = root / name
    (folder / "src").mkdir(parents=True, exist_ok=True)
    (folder / "src" / "entry.py").write_text(textwrap.dedent(source))
    if migrations is None:
        own = [m.group(1) for block in bindings.split("[[") if "script_name" not in block
               for m in [re.search(r'class_name\s*=\s*"([^"]+)"', block)] if m]
        classes = ", ".join(f'"{c}"' for c in dict.fromkeys(own))
        migrations = f'[[migrations]]\ntag = "v1"\nnew_sqlite_classes = [{classes}]\n' if own else ""
    config = folder / "wrangler.toml"
    config.write_text(f'name = "{name}"\nmain = "src/entry.py"\ncompatibility_date = "{date}"\n'
                      f'compatibility_flags = ["python_workers"]\n\n{textwrap.dedent(bindings)}\n{migrations}')
    return config


# An app whose one object ("lobby" of binding ROOMS) holds keys, a SQL table and an alarm once
# `setup()` ran: what the inspection API and the CLI are tested on.
INSPECTED_APP = '''
from workers import DurableObject, Response, WorkerEntrypoint


class Room(DurableObject):
    async def setup(self):
        await self.ctx.storage.put({"title": "lobby", "blob": b"\\x00\\x01"})
        self.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, text TEXT)")
        self.ctx.storage.sql.exec("INSERT INTO messages (text) VALUES ('hi'), ('there')")
        await self.ctx.storage.setAlarm(4102444800000)
        return "ok"

    async def alarm(self):
        pass


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response(await self.env.ROOMS.getByName("lobby").setup())
'''
