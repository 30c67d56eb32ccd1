"""Building apps in tests: ``AppConfig`` objects without a wrangler file, and app files on disk."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from emulator.bindings.d1.config import D1Config, D1DatabaseBinding
from emulator.bindings.queues.config import QueueConsumer, QueueProducer, QueuesConfig
from emulator.bindings.r2.config import R2BucketBinding, R2Config
from emulator.bindings.services.config import ServiceBinding, ServicesConfig
from emulator.bindings.workflows.config import WorkflowBinding, WorkflowsConfig
from emulator.config.model import AppConfig

__all__ = ["D1DatabaseBinding", "QueueConsumer", "QueueProducer", "R2BucketBinding", "ServiceBinding",
           "QueueOnlyHost", "WorkflowBinding", "app_config", "d1_app", "d1_binding", "pages_config", "r2_app",
           "worker_config", "write_files"]


def app_config(*args: Any, producers: tuple[QueueProducer, ...] = (), consumers: tuple[QueueConsumer, ...] = (),
               r2_buckets: tuple[R2BucketBinding, ...] = (), d1_databases: tuple[D1DatabaseBinding, ...] = (),
               workflows: tuple[WorkflowBinding, ...] = (), services: tuple[ServiceBinding, ...] = (),
               bindings: dict[str, Any] | None = None, **fields: Any) -> AppConfig:
    """An ``AppConfig`` with the given bindings, by the names wrangler configs use."""
    merged: dict[str, Any] = {}
    if producers or consumers:
        merged["queues"] = QueuesConfig(tuple(producers), tuple(consumers))
    if r2_buckets:
        merged["r2"] = R2Config(tuple(r2_buckets))
    if d1_databases:
        merged["d1"] = D1Config(tuple(d1_databases))
    if workflows:
        merged["workflows"] = WorkflowsConfig(tuple(workflows))
    if services:
        merged["services"] = ServicesConfig(tuple(services))
    merged.update(bindings or {})
    fields["bindings"] = merged
    return AppConfig(*args, **fields)


def write_files(root: Path, files: Mapping[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content).lstrip("\n"))


def worker_config(root: Path, name: str = "worker", main: str = "src/entry.py", **kw: Any) -> AppConfig:
    kw.setdefault("compatibility_flags", ("python_workers",))
    return app_config(config_path=root / "wrangler.toml", kind="worker", name=name, main=root / main, **kw)


def pages_config(root: Path, name: str = "web", output: str = "public", **kw: Any) -> AppConfig:
    return app_config(config_path=root / "wrangler.toml", kind="pages", name=name,
                     pages_build_output_dir=root / output, **kw)


def r2_app(root: Path, name: str = "app", buckets: tuple[tuple[str, str], ...] = (("BUCKET", "bucket"),)) -> AppConfig:
    return app_config(config_path=root / name / "wrangler.toml", kind="worker", name=name,
                     r2_buckets=tuple(R2BucketBinding(b, n) for b, n in buckets))


def d1_binding(root: Path, binding: str = "DB", name: str | None = "main-db",
               migrations: str = "migrations", table: str = "d1_migrations") -> D1DatabaseBinding:
    return D1DatabaseBinding(binding=binding, database_name=name, database_id=None,
                             migrations_dir=root / migrations, migrations_table=table)


def d1_app(root: Path, name: str = "app", *dbs: D1DatabaseBinding) -> AppConfig:
    return app_config(config_path=root / name / "wrangler.toml", kind="worker", name=name,
                     d1_databases=dbs or (d1_binding(root),))


class QueueOnlyHost:
    """An app host that only consumes queues (``platform.attach_host``): subclasses give
    ``queue``; the rest of ``AppHost`` is refused, as no such test reaches it."""

    def __init__(self, config: AppConfig) -> None:
        self.config = config

    async def queue(self, batch: Any) -> None:
        raise NotImplementedError

    async def scheduled(self, cron: str, scheduled_time_ms: int) -> None:
        raise NotImplementedError("this test host has no scheduled handler")

    def entrypoint_class(self, class_name: str) -> type:
        raise NotImplementedError("this test host defines no classes")

    async def fetch_service(self, request: Any) -> Any:
        raise NotImplementedError("this test host serves no requests")
