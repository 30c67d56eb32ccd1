"""The typed model of what the emulator uses from a wrangler config.

Loading (``emulator.config.loader``) turns a raw ``wrangler.toml`` / ``.json`` / ``.jsonc``
into an ``AppConfig`` after the active environment is resolved; validation reports
problems as ``Diagnostics`` and never raises. What each binding type reads lives with the
type (``emulator/bindings/<type>/config.py``); ``AppConfig.bindings`` holds the results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

AppKind = Literal["pages", "worker"]

@dataclass(frozen=True)
class AssetsConfig:
    directory: Path | None
    binding: str | None = None
    html_handling: str = "auto-trailing-slash"
    not_found_handling: str = "none"
    # `run_worker_first`: True (every request reaches the Worker first), or route patterns
    # (`"/api/*"`, `"!/api/docs/*"`) naming the requests that do; False: assets first.
    run_worker_first: bool | tuple[str, ...] = False


@dataclass(frozen=True)
class DevSettings:
    ip: str | None = None
    port: int | None = None


@dataclass
class AppConfig:
    """One app (Worker or Pages project) after environment resolution."""

    config_path: Path  # absolute path of the wrangler file
    kind: AppKind
    name: str
    main: Path | None = None
    pages_build_output_dir: Path | None = None
    compatibility_date: str | None = None
    compatibility_flags: tuple[str, ...] = ()
    vars: dict[str, Any] = field(default_factory=dict)
    # Secrets from .dev.vars / .env, already resolved as wrangler does (they override vars).
    secrets: dict[str, str] = field(default_factory=dict)
    # `dev --var KEY:VALUE`: override vars and secrets alike (wrangler applies them last).
    var_overrides: dict[str, str] = field(default_factory=dict)
    # Binding type name (``emulator.bindings.BINDING_TYPES``) → that type's typed config,
    # e.g. ``bindings["queues"].producers``; read it through the type: ``TYPE.of(app)``.
    bindings: dict[str, Any] = field(default_factory=dict)
    crons: tuple[str, ...] = ()
    assets: AssetsConfig | None = None
    dev: DevSettings = field(default_factory=DevSettings)
    env_name: str | None = None

    @property
    def root(self) -> Path:
        return self.config_path.parent

    def has_flag(self, flag: str) -> bool:
        return flag in self.compatibility_flags

    def env_vars(self) -> dict[str, Any]:
        """What `env` exposes besides bindings: vars, overridden by dev secrets, then by
        ``--var`` values."""
        merged: dict[str, Any] = dict(self.vars)
        merged.update(self.secrets)
        merged.update(self.var_overrides)
        return merged


@dataclass
class WorkspaceConfig:
    """The top-level `wrangler.toml` of ours that names the apps `dev` hosts together.

    Format::

        [workspace]
        apps = ["apps/web", "apps/workflow"]   # folders (config discovered) or config files
        apply_migrations = true                # apply pending D1 migrations at `dev` start
        persist_to = ".emulator"               # optional; `--persist-to` wins
        request_body_limit = "200MB"           # optional; `--request-body-limit` wins

    ``request_body_limit`` lives here, not in an app's ``[dev]`` table: wrangler warns about
    unknown ``[dev]`` keys (and ``check`` mirrors it), while this file is ours.
    """

    path: Path
    apps: tuple[Path, ...]
    apply_migrations: bool = False
    persist_to: Path | None = None
    # The request body limit of every app port, in bytes (None: Cloudflare's default).
    request_body_limit: int | None = None

    @property
    def root(self) -> Path:
        return self.path.parent
