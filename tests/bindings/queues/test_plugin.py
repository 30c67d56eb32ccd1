"""The queues plugin inside a Platform: env bindings, consumers wired to app hosts, restarts."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from collections.abc import AsyncIterator

import pytest

from emulator.bindings.queues.config import TYPE
from emulator.bindings.queues.errors import QueuesError
from emulator.clock import FakeClock
from emulator.config.model import AppConfig
from emulator.platform import Platform
from tests.helpers.apps import QueueConsumer, QueueOnlyHost, QueueProducer, app_config


class RecordingHost(QueueOnlyHost):
    """Stands in for a Worker host: its ``queue`` handler records batches."""

    def __init__(self, config: AppConfig, tag: str = "v1", fail: bool = False) -> None:
        super().__init__(config)
        self.tag = tag
        self.fail = fail
        self.batches: list[tuple[str, str, list[Any]]] = []

    async def queue(self, batch: Any) -> None:
        self.batches.append((self.tag, batch.queue, [m.body for m in batch.messages]))
        if self.fail:
            raise RuntimeError("handler broke")


def web_app(root: Path, delay: int | None = None) -> AppConfig:
    return app_config(config_path=root / "web" / "wrangler.toml", kind="pages", name="web",
                     producers=(QueueProducer(binding="JOBS", queue="jobs", delivery_delay=delay),))


def worker_app(root: Path, name: str = "worker", **consumer: Any) -> AppConfig:
    options = {"max_batch_size": 10, "max_batch_timeout": 1.0, **consumer}
    return app_config(config_path=root / name / "wrangler.toml", kind="worker", name=name,
                     producers=(QueueProducer(binding="OUT", queue="results"),),
                     consumers=(QueueConsumer(queue="jobs", **options),))


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    apps = [web_app(tmp_path), worker_app(tmp_path, dead_letter_queue="jobs-dlq", max_retries=1)]
    p = Platform(apps, tmp_path / "state", clock=FakeClock())
    p.attach_host(RecordingHost(apps[1]))
    await p.start()
    yield p
    await p.stop()


def test_used_by() -> None:
    root = Path("/tmp")
    assert TYPE.used_by(web_app(root)) and TYPE.used_by(worker_app(root))
    assert not TYPE.used_by(app_config(config_path=root / "x.toml", kind="worker", name="plain"))


async def test_producer_binding_to_consumer_host(platform: Platform) -> None:
    web = platform.env_for(platform.app("web"))
    assert set(platform.plugins["queues"].bindings_for(platform.app("web"))) == {"JOBS"}
    await web.JOBS.send({"upload": 1})
    await web.JOBS.sendBatch([{"body": {"upload": 2}}])
    await platform.drain()
    host = platform.hosts["worker"]
    assert isinstance(host, RecordingHost) and host.batches == []
    await platform.clock.advance(1)  # type: ignore[attr-defined]  # a FakeClock here
    await platform.drain()
    assert host.batches == [("v1", "jobs", [{"upload": 1}, {"upload": 2}])]
    assert "QUEUE jobs 2/2 (0ms)" in platform.log.messages(source="queues")


async def test_host_is_looked_up_per_batch(platform: Platform) -> None:
    web = platform.env_for(platform.app("web"))
    reloaded = RecordingHost(platform.app("worker"), tag="v2")
    platform.attach_host(reloaded)  # what a hot reload does
    await web.JOBS.send("after reload")
    await platform.clock.advance(1)  # type: ignore[attr-defined]  # a FakeClock here
    await platform.drain()
    assert reloaded.batches == [("v2", "jobs", ["after reload"])]


async def test_failing_host_dead_letters(platform: Platform) -> None:
    host = platform.hosts["worker"]
    assert isinstance(host, RecordingHost)
    host.fail = True
    await platform.env_for(platform.app("web")).JOBS.send("poison")
    for _ in range(2):
        await platform.clock.advance(1)  # type: ignore[attr-defined]  # a FakeClock here
        await platform.drain()
    broker = platform.plugins["queues"].broker  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)
    assert [m["body"] for m in broker.peek("jobs-dlq")] == ["poison"]
    assert any("threw: RuntimeError: handler broke" in m for m in platform.log.messages(level="error"))
    health = platform.plugins["queues"].health()
    assert health["state"] == "running" and health["messages"] == 1 and health["consumers"] == 1


async def test_first_producer_delivery_delay_is_the_queue_default(tmp_path: Path) -> None:
    apps = [web_app(tmp_path, delay=3), worker_app(tmp_path, max_batch_timeout=0)]
    p = Platform(apps, tmp_path / "state", clock=FakeClock())
    host = RecordingHost(apps[1])
    p.attach_host(host)
    await p.start()
    try:
        await p.env_for(apps[0]).JOBS.send("later")
        await p.clock.advance(2.9)  # type: ignore[attr-defined]  # a FakeClock here
        await p.drain()
        assert host.batches == []
        await p.clock.advance(0.1)  # type: ignore[attr-defined]  # a FakeClock here
        await p.drain()
        assert host.batches == [("v1", "jobs", ["later"])]
    finally:
        await p.stop()


async def test_one_consumer_per_queue_across_apps(tmp_path: Path) -> None:
    apps = [worker_app(tmp_path, "alpha"), worker_app(tmp_path, "beta")]
    p = Platform(apps, tmp_path / "state", clock=FakeClock())
    with pytest.raises(QueuesError) as info:
        await p.start()
    assert info.value.code == "ERR_MULTIPLE_CONSUMERS"
    assert str(info.value) == 'Multiple consumers defined for queue "jobs": "alpha" and "beta"'
    await p.stop()


async def test_dead_letter_queue_cannot_be_itself(tmp_path: Path) -> None:
    p = Platform([worker_app(tmp_path, dead_letter_queue="jobs")], tmp_path / "state", clock=FakeClock())
    with pytest.raises(QueuesError, match=r'^Dead letter queue for queue "jobs" cannot be itself$'):
        await p.start()
    await p.stop()


async def test_delivery_delay_beyond_production_limit_is_refused(tmp_path: Path) -> None:
    p = Platform([web_app(tmp_path, delay=43201), worker_app(tmp_path)], tmp_path / "state", clock=FakeClock())
    with pytest.raises(QueuesError, match=r'^Invalid producer "JOBS" for queue "jobs": "delivery_delay" must be '
                                          r'between 0 and 43200, got 43201$'):
        await p.start()
    await p.stop()
    assert not (tmp_path / "state" / "queues" / "queues.sqlite3").exists()


async def test_messages_survive_a_platform_restart(tmp_path: Path) -> None:
    apps = [web_app(tmp_path), worker_app(tmp_path)]
    first = Platform(apps, tmp_path / "state", clock=FakeClock())
    await first.start()  # no host attached: nothing consumes yet
    await first.env_for(apps[0]).JOBS.sendBatch([{"body": i} for i in range(3)])
    await first.stop()

    second = Platform(apps, tmp_path / "state", clock=FakeClock())
    host = RecordingHost(apps[1])
    second.attach_host(host)
    await second.start()
    try:
        await second.clock.advance(1)  # type: ignore[attr-defined]  # a FakeClock here
        await second.drain()
        assert host.batches == [("v1", "jobs", [0, 1, 2])]
    finally:
        await second.stop()


async def test_out_of_range_consumer_is_refused_before_opening_the_store(tmp_path: Path) -> None:
    p = Platform([worker_app(tmp_path, max_batch_size=0)], tmp_path / "state", clock=FakeClock())
    with pytest.raises(QueuesError, match='"max_batch_size" must be between 1 and 100, got 0'):
        await p.start()
    assert not (tmp_path / "state" / "queues" / "queues.sqlite3").exists()
