"""The state-directory rule: which state directory, and which D1 migration setting, a
command gets for the configs it was given (docs/state.md).

One function, ``place_state``, decides for `cf-emulator dev`, every CLI verb (``queues``,
``d1``, ``r2``, ``kv``, ``workflows``) and the pytest plugin (through ``Emulator``), so
they all meet the same databases, queues and buckets:

1. an explicit directory (``--persist-to DIR``; the pytest plugin's per-test directory)
   wins for the directory;
2. otherwise an app listed in a workspace's ``apps`` uses the workspace's state directory
   (its ``persist_to``, else ``.emulator`` beside the workspace file), however the app is
   named: its config file, its folder, or the folder a command runs in. The workspace is
   found as wrangler finds its config, searching upward: the nearest ``wrangler.toml``
   with a ``[workspace]`` table above the app whose ``apps`` name that app;
3. a workspace file given itself (or found from the current folder) is the same case;
4. any other app keeps its own ``.emulator`` beside its config file.

The workspace's ``apply_migrations`` travels with rule 2 and 3 (whatever the directory,
an explicit ``--apply-migrations``/``--no-apply-migrations`` still wins); other apps
default to not applying them.

With several configs (``dev -c a -c b``) the first one decides. Reading the workspace
files here never fails: a file that does not parse simply is not a workspace (``check``
reports its problems).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from collections.abc import Sequence

from emulator.config.loader import find_config
from emulator.state import DEFAULT_STATE_DIRNAME

Source = Literal["persist_to", "workspace", "app", "cwd"]


@dataclass(frozen=True)
class Workspace:
    """What the rule reads from a workspace file (``check`` validates the rest)."""

    path: Path
    apps: tuple[Path, ...]  # each entry's config file, resolved
    apply_migrations: bool
    persist_to: Path | None

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def state_dir(self) -> Path:
        return self.persist_to if self.persist_to is not None else self.root / DEFAULT_STATE_DIRNAME


@dataclass(frozen=True)
class StatePlacement:
    """The state directory a command uses, and why."""

    root: Path
    source: Source
    # The workspace whose settings apply (rules 2 and 3), and the app config that led to it
    # (None when the workspace file itself was given).
    workspace: Workspace | None = None
    app: Path | None = None
    # The app's own `.emulator`, left by an earlier run, that this rule no longer uses.
    stray: Path | None = None

    @property
    def apply_migrations(self) -> bool:
        """The workspace's ``apply_migrations`` (False for an app of no workspace)."""
        return bool(self.workspace is not None and self.workspace.apply_migrations)

    def describe(self) -> str:
        """One line for `dev`: which workspace an app belongs to and what that decides."""
        if self.workspace is None or self.app is None:
            return ""
        setting = "true" if self.workspace.apply_migrations else "false"
        where = (f"its state directory {self.root}" if self.source == "workspace"
                 else f"the state directory {self.root} (--persist-to)")
        return (f"{self.app} is listed in the workspace {self.workspace.path}: using {where} "
                f"and its apply_migrations = {setting}")


def read_workspace(path: Path) -> Workspace | None:
    """The workspace a ``wrangler.toml`` describes, or None when it is not one (or unreadable)."""
    from emulator.config.workspace import resolve_app_entry

    try:
        text = path.read_text(encoding="utf-8-sig")
        # A workspace file names its table; anything else (an app's config, however deep
        # its nesting) is not one, and need not be parsed here.
        raw: Any = tomllib.loads(text) if "workspace" in text else None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, ValueError, RecursionError):
        return None
    table = raw.get("workspace") if isinstance(raw, dict) else None
    if not isinstance(table, dict):
        return None
    root = path.resolve().parent
    entries = table.get("apps")
    apps: list[Path] = []
    if isinstance(entries, list):
        for entry in entries:
            if isinstance(entry, str):
                config = resolve_app_entry(root, entry)
                if config is not None:
                    apps.append(config)
    apply = table.get("apply_migrations")
    persist = table.get("persist_to")
    return Workspace(path=path.resolve(), apps=tuple(apps), apply_migrations=apply is True,
                     persist_to=(root / persist).resolve() if isinstance(persist, str) else None)


def config_of(target: Path) -> Path | None:
    """The config a path names: a file as is; a folder by wrangler's discovery (upward)."""
    try:
        if target.is_file():
            return target.resolve()
        if target.is_dir():
            return find_config(target)
    except (OSError, ValueError):
        return None
    return None


def enclosing_workspace(config: Path) -> Workspace | None:
    """The nearest workspace above ``config`` whose ``apps`` name it (wrangler's upward search)."""
    config = config.resolve()
    for folder in (config.parent, *config.parent.parents):
        candidate = folder / "wrangler.toml"
        if candidate != config and candidate.is_file():
            workspace = read_workspace(candidate)
            if workspace is not None and config in workspace.apps:
                return workspace
    return None


def place_state(targets: Sequence[Path | str], persist_to: Path | str | None = None,
                cwd: Path | None = None) -> StatePlacement:
    """The state directory for a command given ``targets`` (config files, app folders or a
    workspace file; none: the current folder) and an explicit directory, if any."""
    here = (cwd or Path.cwd()).resolve()
    first = Path(targets[0]) if targets else here
    if not first.is_absolute():
        first = here / first
    config = config_of(first)
    workspace: Workspace | None = None
    app: Path | None = None
    if config is not None:
        workspace = read_workspace(config) if config.name == "wrangler.toml" else None
        if workspace is None:
            app = config
            workspace = enclosing_workspace(config)
    if persist_to is not None:
        root = Path(persist_to)
        return StatePlacement((here / root).resolve() if not root.is_absolute() else root.resolve(),
                              "persist_to", workspace, app if workspace is not None else None)
    if workspace is not None:
        own = app.parent / DEFAULT_STATE_DIRNAME if app is not None else None
        stray = own if own is not None and own.resolve() != workspace.state_dir.resolve() and own.is_dir() else None
        return StatePlacement(workspace.state_dir.resolve(), "workspace", workspace, app, stray)
    if config is not None:
        return StatePlacement((config.parent / DEFAULT_STATE_DIRNAME).resolve(), "app")
    folder = first if first.is_dir() else first.parent
    return StatePlacement((folder / DEFAULT_STATE_DIRNAME).resolve(), "cwd")
