"""Building ``AppConfig`` objects in tests without a wrangler file."""

from __future__ import annotations

from typing import Any

from emulator.bindings.d1.config import D1Config, D1DatabaseBinding
from emulator.bindings.queues.config import QueueConsumer, QueueProducer, QueuesConfig
from emulator.bindings.r2.config import R2BucketBinding, R2Config
from emulator.bindings.services.config import ServiceBinding, ServicesConfig
from emulator.bindings.workflows.config import WorkflowBinding, WorkflowsConfig
from emulator.config.model import AppConfig

__all__ = ["D1DatabaseBinding", "QueueConsumer", "QueueProducer", "R2BucketBinding", "ServiceBinding",
           "WorkflowBinding", "app_config"]


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
    return AppConfig(*args, bindings=merged, **fields)
