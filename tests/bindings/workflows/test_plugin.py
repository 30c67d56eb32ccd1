"""The workflows plugin on a Platform: bindings per app, hosted classes, cross-app bindings."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from emulator.bindings.workflows.binding import Workflow
from emulator.bindings.workflows.entrypoint import WorkflowEntrypoint
from emulator.clock import FakeClock
from emulator.config.model import AppConfig
from emulator.platform import Platform
from tests.helpers.apps import WorkflowBinding, app_config


class FakeHost:
    """The part of the runtime's host contract the plugin uses."""

    def __init__(self, config: AppConfig, classes: dict[str, type]) -> None:
        self.config = config
        self.classes = classes

    def entrypoint_class(self, class_name: str) -> type:
        return self.classes[class_name]


def app(tmp_path: Path, name: str, *workflows: WorkflowBinding, **kw: Any) -> AppConfig:
    return app_config(config_path=tmp_path / name / "wrangler.toml", kind="worker", name=name,
                     workflows=tuple(workflows), **kw)


async def drain(platform: Platform) -> None:
    clock = platform.clock
    assert isinstance(clock, FakeClock)
    await clock.settle()
    await platform.drain(timeout=5)


async def test_defining_app_runs_its_class_with_env_and_hot_reload(tmp_path: Path) -> None:
    class V1(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            return ["v1", self.env.GREETING, type(self.env.WF).__name__]

    class V2(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            return "v2"

    cfg = app(tmp_path, "consumer", WorkflowBinding("WF", "flow", "Flow"), vars={"GREETING": "hi"})
    platform = Platform([cfg], tmp_path / "state", clock=FakeClock())
    assert set(platform.plugins) == {"workflows"}
    host = FakeHost(cfg, {"Flow": V1})
    platform.attach_host(host)  # type: ignore[arg-type]  # a stand-in host with what the workflows plugin uses
    await platform.start()
    try:
        env = platform.env_for(cfg)
        assert isinstance(env.WF, Workflow)
        first = await env.WF.create(id="one")
        await drain(platform)
        assert (await first.status()).output == ["v1", "hi", "Workflow"]
        host.classes["Flow"] = V2  # a reload: the next run uses the new class
        second = await env.WF.create(id="two")
        await drain(platform)
        assert (await second.status()).output == "v2"
    finally:
        await platform.stop()


async def test_script_name_binds_to_another_apps_workflow(tmp_path: Path) -> None:
    class Flow(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            return await step.do("echo", lambda: event.payload)

    definer = app(tmp_path, "definer", WorkflowBinding("WF", "flow", "Flow"))
    user = app(tmp_path, "user", WorkflowBinding("REMOTE", "flow", "Flow", script_name="definer"))
    platform = Platform([definer, user], tmp_path / "state", clock=FakeClock())
    plugin = platform.plugins["workflows"]
    assert plugin.type.used_by(user) and not plugin.type.used_by(app(tmp_path, "none"))
    await platform.start()
    try:
        # Created before the defining app is attached: it waits, then runs.
        inst = await platform.env_for(user).REMOTE.create(id="x", params={"k": 1})
        await drain(platform)
        assert (await inst.status()).status == "queued"
        platform.attach_host(FakeHost(definer, {"Flow": Flow}))  # type: ignore[arg-type]  # a stand-in host with what the workflows plugin uses
        for _ in range(100):
            await drain(platform)
            if (await inst.status()).status == "complete":
                break
            import asyncio
            await asyncio.sleep(0.02)
        assert (await inst.status()).output == {"k": 1}
        listed = plugin.engine.list_workflows()  # type: ignore[attr-defined]  # the workflows plugin's engine
        assert listed == [{"name": "flow", "class_name": "Flow", "script_name": "definer",
                           "instances": {"complete": 1}, "total": 1}]
    finally:
        await platform.stop()


async def test_real_worker_host_runs_a_workflow_module(tmp_path: Path) -> None:
    from emulator.runtime import create_host

    root = tmp_path / "wfapp"
    (root / "src").mkdir(parents=True)
    (root / "src" / "entry.py").write_text(textwrap.dedent('''
        from workers import WorkerEntrypoint, WorkflowEntrypoint
        from workers.workflows import NonRetryableError

        class Compaction(WorkflowEntrypoint):
            async def run(self, event, step):
                @step.do("load")
                async def load():
                    return {"n": event.payload["n"]}

                @step.do("double")
                async def double(load):
                    print("doubling", load["n"])
                    return load["n"] * 2

                return await double()

        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                return None
    '''))
    cfg = app_config(config_path=root / "wrangler.toml", kind="worker", name="wfapp", main=root / "src" / "entry.py",
                    compatibility_flags=("python_workers", "python_workflows"),
                    workflows=(WorkflowBinding("WF", "compaction", "Compaction"),))
    platform = Platform([cfg], tmp_path / "state", clock=FakeClock(), s3_port=None)
    host = create_host(cfg, platform)
    host.load()
    platform.attach_host(host)
    await platform.start()
    try:
        inst = await platform.env_for(cfg).WF.create(params={"n": 21})
        await drain(platform)
        assert (await inst.status()) == {"status": "complete", "output": 42, "error": None}
        assert any("doubling 21" in m for m in platform.log.messages())
    finally:
        await platform.stop()
