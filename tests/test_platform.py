"""The platform: only used plugins start, env assembly, shared resources, drain."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from emulator.clock import FakeClock
from emulator.config.model import AppConfig
from emulator.platform import Platform
from tests.helpers.apps import QueueConsumer, QueueProducer, R2BucketBinding, app_config


class RecordingHost:
    """A stand-in for a hosted app's runtime: records the batches it is handed."""

    def __init__(self, config: AppConfig, gate: asyncio.Event) -> None:
        self.config = config
        self.gate = gate
        self.bodies: list[Any] = []

    async def queue(self, batch: Any) -> None:
        await self.gate.wait()
        self.bodies.extend(m.body for m in batch.messages)


def apps(root: Path) -> tuple[AppConfig, AppConfig]:
    producer = app_config(config_path=root / "web" / "wrangler.toml", kind="pages", name="web",
                         vars={"MODE": "dev", "TOKEN": "from-vars"}, secrets={"TOKEN": "from-dev-vars"},
                         producers=(QueueProducer("JOBS", "jobs"),),
                         r2_buckets=(R2BucketBinding("FILES", "files"),))
    consumer = app_config(config_path=root / "worker" / "wrangler.toml", kind="worker", name="worker",
                         consumers=(QueueConsumer("jobs", max_batch_size=2, max_batch_timeout=1),),
                         r2_buckets=(R2BucketBinding("SAME_FILES", "files"),))
    return producer, consumer


def test_only_the_plugins_apps_use_are_created(tmp_path: Path) -> None:
    platform = Platform(list(apps(tmp_path)), tmp_path / "state", s3_port=None)
    assert set(platform.plugins) == {"queues", "r2"}
    assert Platform([], tmp_path / "empty").plugins == {}


async def test_env_has_bindings_vars_and_secrets_overriding_vars(tmp_path: Path) -> None:
    web, worker = apps(tmp_path)
    platform = Platform([web, worker], tmp_path / "state", clock=FakeClock(), s3_port=None)
    await platform.start()
    try:
        env = platform.env_for(web, extra={"ASSETS": "fetcher"})
        assert env.MODE == "dev" and env.TOKEN == "from-dev-vars" and env.ASSETS == "fetcher"
        assert {"JOBS", "FILES"} <= set(env)
        # the same bucket name is one bucket, whatever each app calls its binding
        await env.FILES.put("k", "v")
        other = platform.env_for(worker)
        assert await (await other.SAME_FILES.get("k")).text() == "v"
    finally:
        await platform.stop()


async def test_drain_waits_for_in_flight_batches(tmp_path: Path) -> None:
    web, worker = apps(tmp_path)
    clock = FakeClock()
    platform = Platform([web, worker], tmp_path / "state", clock=clock, s3_port=None)
    gate = asyncio.Event()
    host = RecordingHost(worker, gate)
    platform.attach_host(host)  # type: ignore[arg-type]  # a stand-in host with what the test reaches
    await platform.start()
    try:
        env = platform.env_for(web)
        await env.JOBS.send({"n": 1})
        await env.JOBS.send({"n": 2})  # batch full: flushes without waiting for the timeout
        await clock.settle()
        assert not platform.is_idle()
        with pytest.raises(TimeoutError):
            await platform.drain(timeout=0.2)
        gate.set()
        await platform.drain(timeout=5)
        assert host.bodies == [{"n": 1}, {"n": 2}]
    finally:
        await platform.stop()
