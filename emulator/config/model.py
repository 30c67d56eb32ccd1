"""The typed model of what the emulator uses from a wrangler config.

Loading (``emulator.config.loader``) turns a raw ``wrangler.toml`` / ``.json`` / ``.jsonc``
into an ``AppConfig`` after the active environment is resolved; validation reports
problems as ``Diagnostics`` and never raises. Defaults here follow **production**
(batch size 10, timeout 5 s, 3 retries), not Miniflare's local defaults (5 / 1 s / 2):
see README "Parity notes".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

AppKind = Literal["pages", "worker"]

# Production defaults for queue consumers (Cloudflare docs); Miniflare uses 5 / 1 s / 2.
DEFAULT_MAX_BATCH_SIZE = 10
DEFAULT_MAX_BATCH_TIMEOUT = 5.0
DEFAULT_MAX_RETRIES = 3


@dataclass(frozen=True)
class QueueProducer:
    binding: str
    queue: str  # the binding name when `queue` is omitted (local provisioning)
    delivery_delay: int | None = None


@dataclass(frozen=True)
class QueueConsumer:
    queue: str
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    max_batch_timeout: float = DEFAULT_MAX_BATCH_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    dead_letter_queue: str | None = None
    max_concurrency: int | None = None
    retry_delay: int = 0


@dataclass(frozen=True)
class R2BucketBinding:
    binding: str
    bucket_name: str  # the binding name when `bucket_name` is omitted


@dataclass(frozen=True)
class D1DatabaseBinding:
    binding: str
    database_name: str | None
    database_id: str | None
    migrations_dir: Path  # absolute; default <config dir>/migrations
    migrations_table: str = "d1_migrations"

    @property
    def local_id(self) -> str:
        """The identity of the local database: one shared file per name across apps.

        Wrangler keys local D1 files by ``preview_database_id ?? database_id ?? binding``;
        we key by ``database_name`` first so that two apps naming the same database meet
        on one file even if only one of them carries the id.
        """
        return self.database_name or self.database_id or self.binding


@dataclass(frozen=True)
class WorkflowBinding:
    binding: str
    name: str
    class_name: str
    script_name: str | None = None


@dataclass(frozen=True)
class ServiceBinding:
    binding: str
    service: str
    entrypoint: str | None = None


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
    producers: tuple[QueueProducer, ...] = ()
    consumers: tuple[QueueConsumer, ...] = ()
    r2_buckets: tuple[R2BucketBinding, ...] = ()
    d1_databases: tuple[D1DatabaseBinding, ...] = ()
    workflows: tuple[WorkflowBinding, ...] = ()
    services: tuple[ServiceBinding, ...] = ()
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
