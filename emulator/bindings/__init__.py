"""The binding kit: the registry of binding types and the two interfaces each one implements.

Every binding type lives in its own package, ``emulator/bindings/<name>/``, with the same
file roles in each (``docs/architecture.md`` → "The binding kit")::

    config.py     BindingType subclass, instance ``TYPE``: reads the type's part of a
                  normalized wrangler config into frozen dataclasses (``tables`` and the
                  field readers below), lists what each app declares (``Declaration``), and
                  runs the type's own ``check`` rules. Imported by every command, so it
                  imports nothing heavy.
    plugin.py     ``Plugin`` (a ``BindingPlugin``): engine lifecycle, the objects on `env`,
                  health, the dashboard overview, pytest look-ups. Imported only when a
                  hosted app or a command needs the type.
    engine.py     the state (SQLite, files) under ``<state>/<name>/``.
    binding.py    what apps see on ``env``.
    routes.py     the inspection HTTP API under ``/_emulator/<name>/``.
    cli.py        its ``cf-emulator <verb>`` commands (``register(subparsers)``).
    panel.js      its dashboard tab.

Code outside ``bindings/`` (config loader, server, CLI root, dashboard shell, pytest plugin,
health) only loops over ``BINDING_TYPES``. Adding a binding type is one package and one
line below.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar
from collections.abc import Mapping

from emulator.config.jsvalues import is_record

if TYPE_CHECKING:
    from aiohttp import web

    from emulator.config.diagnostics import DiagnosticTree
    from emulator.config.model import AppConfig
    from emulator.platform import Platform

# Registry: package names under emulator.bindings, in start order (workflows after the
# storage types its steps use; `unsupported` last: it takes every wrangler binding key the
# others do not claim).
BINDING_TYPES: tuple[str, ...] = ("d1", "r2", "kv", "durable_objects", "queues", "services", "workflows",
                                  "unsupported")

C = TypeVar("C")


@dataclass(frozen=True)
class Declaration:
    """One binding an app declares: the `env` attribute and the resource behind it.

    ``resource`` is the platform-wide name apps meet on (queue, bucket, database id,
    namespace id...); ``aliases`` are other names that identify the same resource (a D1
    database's ``database_id``), for look-ups by tests and the CLI.
    """

    binding: str
    resource: str
    type_label: str
    aliases: tuple[str, ...] = ()
    emulated: bool = True

    @property
    def names(self) -> tuple[str, ...]:
        return (self.resource, *self.aliases)


@dataclass(frozen=True)
class ConfigContext:
    """What a ``BindingType.read`` may need besides the normalized config."""

    root: Path  # the folder of the config file
    claimed_keys: frozenset[str] = frozenset()  # wrangler keys some registered type reads

    def absolute(self, value: Any) -> Path | None:
        import os

        return Path(os.path.normpath(self.root.resolve() / value)) if isinstance(value, str) else None


def tables(value: Any, *required: str) -> list[dict[str, Any]]:
    """The binding tables of one list in a normalized config (``[[kv_namespaces]]``,
    ``durable_objects.bindings``...): the records whose ``required`` fields are strings.

    Anything else is skipped, never raised: wrangler's validation has reported it already
    (with wrangler's messages), and a config with errors is never read into an app.
    """
    if not isinstance(value, list):
        return []
    return [t for t in value if is_record(t) and all(isinstance(t.get(k), str) for k in required)]


def str_or_none(value: Any) -> str | None:
    """An optional string field: the string (an empty one too), else None."""
    return value if isinstance(value, str) else None


def nonempty_str(value: Any) -> str | None:
    """An optional string field where an empty string counts as not given (ids, script names)."""
    return value if isinstance(value, str) and value else None


class BindingType(ABC, Generic[C]):
    """The static half of a binding type: no engine, no platform (``check`` uses it too)."""

    name: ClassVar[str]  # registry key, state subfolder, `/_emulator/<name>` prefix
    title: ClassVar[str]  # "Queues": dashboard tab, tables
    config_keys: ClassVar[tuple[str, ...]]  # the wrangler config keys this type reads
    # The pytest handle's look-up method for this type (``emu.queue("jobs")``) and the noun
    # its errors use ("no queue named ..."); None when tests have no accessor.
    accessor: ClassVar[str | None] = None
    noun: ClassVar[str] = "binding"

    @abstractmethod
    def read(self, config: Mapping[str, Any], ctx: ConfigContext) -> C:
        """This type's part of a normalized (validated, env-resolved) wrangler config."""

    @abstractmethod
    def declarations(self, cfg: C) -> list[Declaration]:
        """What ``cfg`` puts on an app's `env` (empty when it declares nothing)."""

    def of(self, app: AppConfig) -> C:
        """This type's config of ``app`` (read from an empty config when it has none)."""
        cfg = app.bindings.get(self.name)
        if cfg is None:
            cfg = self.read({}, ConfigContext(app.root))
        return cfg

    def used_by(self, app: AppConfig) -> bool:
        return bool(self.declarations(self.of(app))) or self.serves(app)

    def serves(self, app: AppConfig) -> bool:
        """Whether the app needs this type without declaring an `env` binding (a consumer)."""
        return False

    def summary(self, cfg: C) -> dict[str, Any]:
        """JSON about the app's use of this type, for health (names, never secrets)."""
        return {d.binding: d.resource for d in self.declarations(cfg)}

    def restart_needed(self, old: C, new: C) -> str | None:
        """What a hot reload cannot apply, in words ("queue consumers"), or None."""
        return None

    # --- `check` rules of ours (CFE ids); the wrangler port lives in emulator.config ---
    def check_app(self, tree: DiagnosticTree, raw: Mapping[str, Any], config: Mapping[str, Any],
                  env_name: str | None, is_pages: bool, config_path: Path) -> Any:
        """Per-app rules; returns facts for ``check_set`` (or None)."""
        return None

    def check_set(self, facts: list[tuple[str, DiagnosticTree, Any]], cross_warnings: bool) -> None:
        """Rules over every checked app: ``(app name, its diagnostics, check_app's facts)``."""


class BindingPlugin(ABC):
    """The runtime half of a binding type: engine lifecycle, env objects, inspection."""

    name: ClassVar[str]

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    @property
    def type(self) -> BindingType[Any]:
        return binding_type(self.name)

    async def start(self) -> None:  # noqa: B027 - an optional hook: most plugins have nothing to do here
        """Open state, restore persisted work, start timers."""

    async def stop(self) -> None:  # noqa: B027 - an optional hook: most plugins have nothing to do here
        """Stop timers and close state; unfinished work stays persisted."""

    def serving(self) -> None:  # noqa: B027 - an optional hook: most plugins have nothing to do here
        """Called once, when the apps answer requests: the place to start work a plugin
        deferred so that `dev` answers sooner (e.g. opening a store in the background).
        Whatever it starts must be finished or awaited by ``stop``."""

    @abstractmethod
    def bindings_for(self, app: AppConfig) -> dict[str, Any]:
        """Binding objects for this app's `env`, keyed by binding name."""

    def routes(self) -> list[web.RouteDef]:
        """Inspection routes, mounted under ``/_emulator/<name>``."""
        return []

    def health(self) -> dict[str, Any]:
        return {"state": "running"}

    def in_flight(self) -> int:
        """Work handed to app code right now (a graceful stop waits for it)."""
        return 0

    def is_idle(self) -> bool:
        """True when no work is pending, runnable or in flight (for `drain()`)."""
        return True

    def overview(self) -> dict[str, Any]:
        """The dashboard's view of this type's resources (its panel reads it)."""
        return {}

    def stats(self) -> dict[str, Any]:
        """Figures about this type's resources, for tests (``emu.stats()[type]``)."""
        return self.health()

    def test_helpers(self) -> dict[str, Any]:
        """Functions the pytest handle offers as methods (``emu.peek("jobs")``), by name.

        They get the handle's platform through the plugin; names must not clash with
        another type's helpers or accessors (the registry test checks).
        """
        return {}

    def lookup(self, name: str) -> Any:
        """The object a test gets for ``name`` (pytest handle); None if unknown.

        The default finds the declaration whose resource (first) or binding name is
        ``name`` among the hosted apps and returns its env object.
        """
        apps = self.platform.apps
        for by_resource in (True, False):
            for app in apps:
                for decl in self.type.declarations(self.type.of(app)):
                    if (name in decl.names) if by_resource else (name == decl.binding):
                        return self.bindings_for(app)[decl.binding]
        return None

    def known_names(self) -> set[str]:
        """Every name ``lookup`` answers to, for "known names: ..." messages."""
        return {n for app in self.platform.apps
                for d in self.type.declarations(self.type.of(app)) for n in (*d.names, d.binding)}


@cache
def binding_type(name: str) -> BindingType[Any]:
    """The ``TYPE`` of a registered binding package (its light ``config`` module)."""
    module = importlib.import_module(f"emulator.bindings.{name}.config")
    kind: BindingType[Any] = module.TYPE
    return kind


def binding_types() -> list[BindingType[Any]]:
    return [binding_type(name) for name in BINDING_TYPES]


def claimed_keys() -> frozenset[str]:
    """The wrangler config keys a registered (emulated) type reads."""
    return frozenset(k for t in binding_types() if t.name != "unsupported" for k in t.config_keys)


def load_plugin(name: str) -> type[BindingPlugin]:
    module = importlib.import_module(f"emulator.bindings.{name}.plugin")
    plugin: type[BindingPlugin] = module.Plugin
    return plugin


def package_file(name: str, filename: str) -> Path | None:
    """A file of a binding package (``panel.js``), or None when the type has none."""
    path = Path(__file__).parent / name / filename
    return path if path.is_file() else None


def binding_rows(app: AppConfig) -> list[tuple[str, str, str, str]]:
    """(env.NAME, resource, type, emulated or not) for everything on an app's ``env``: wrangler's
    "Your Worker has access to the following bindings" table (`dev` at start, the dashboard)."""
    rows = []
    for kind in binding_types():
        for d in kind.declarations(kind.of(app)):
            rows.append((f"env.{d.binding}", d.resource, d.type_label, "emulated" if d.emulated else "NOT EMULATED"))
    if app.assets is not None and app.assets.binding:
        rows.append((f"env.{app.assets.binding}", "", "Assets", "emulated"))
    for name in sorted(app.env_vars()):
        rows.append((f"env.{name}", "", "Environment Variable", "emulated"))
    return rows
