"""The workflows binding plugin: one engine per platform, bindings per app, inspection routes."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any
from collections.abc import Awaitable

from emulator.bindings import BindingPlugin
from emulator.bindings.workflows.binding import Workflow
from emulator.bindings.workflows.config import WorkflowBinding, workflows_config
from emulator.bindings.workflows.engine import WorkflowEngine
from emulator.bindings.workflows.errors import DefinitionUnavailable
from emulator.bindings.workflows.entrypoint import WorkflowEntrypoint, WorkflowEvent, WorkflowStep
from emulator.bindings.workflows.store import DB_FILENAME
from emulator.config.model import AppConfig

if TYPE_CHECKING:
    from aiohttp import web

    from emulator.platform import Platform

PRESERVE_NRE_FLAG = "workflows_preserve_non_retryable_error_message"


class WorkflowContext:
    """``self.ctx`` of a workflow class: ``waitUntil`` keeps background work alive."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Future[Any]] = set()

    def waitUntil(self, awaitable: Awaitable[Any]) -> None:  # noqa: N802 - JS spelling
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    wait_until = waitUntil


class HostedWorkflowFactory:
    """Builds the entrypoint from the defining app's *current* module (hot reload safe).

    Like a handler of that app it gets the host's ``ctx`` (``waitUntil``) and ``env``, and
    ``run()`` executes as the app's code (its output is attributed to the app).
    """

    def __init__(self, platform: Platform, app: AppConfig, class_name: str) -> None:
        self.platform = platform
        self.app = app
        self.class_name = class_name

    def _host(self) -> Any:
        host = self.platform.hosts.get(self.app.name)
        if host is None:
            raise DefinitionUnavailable(f'app "{self.app.name}" is not loaded')
        return host

    def __call__(self) -> WorkflowEntrypoint:
        host = self._host()
        try:
            cls = host.entrypoint_class(self.class_name)
        except Exception as exc:
            raise DefinitionUnavailable(
                f'class "{self.class_name}" of app "{self.app.name}" is unavailable: {exc}') from exc
        new_context = getattr(host, "new_context", None)
        ctx = new_context() if callable(new_context) else WorkflowContext()
        env = getattr(host, "env", None)
        if env is None:
            env = self.platform.env_for(self.app)
        instance: WorkflowEntrypoint = cls(ctx, env)
        return instance

    async def run(self, entry: WorkflowEntrypoint, event: WorkflowEvent, step: WorkflowStep) -> Any:
        host = self._host()
        call_app = getattr(host, "call_app", None)
        ctx = getattr(entry, "ctx", None)  # a subclass may skip super().__init__
        if callable(call_app) and ctx is not None and not isinstance(ctx, WorkflowContext):
            return await call_app(entry.run, event, step, ctx=ctx, env=getattr(entry, "env", None))
        return await entry.run(event, step)


def defines(app: AppConfig, w: WorkflowBinding) -> bool:
    """An entry without ``script_name`` (or naming the app itself) defines the workflow."""
    return w.script_name is None or w.script_name == app.name


class Plugin(BindingPlugin):
    name = "workflows"

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)
        self.engine = WorkflowEngine(platform.state.binding_dir("workflows") / DB_FILENAME,
                                     platform.clock, platform.log)
        hosted = {a.name for a in platform.apps}
        for app in platform.apps:
            for w in workflows_config(app).workflows:
                if defines(app, w):
                    if w.name in self.engine.definitions:
                        platform.log.warn("workflows", f'workflow "{w.name}" is defined by more than one app; '
                                          f'using "{app.name}"')
                    factory = HostedWorkflowFactory(platform, app, w.class_name)
                    self.engine.register(w.name, factory, runner=factory.run,
                                         preserve_non_retryable_message=app.has_flag(PRESERVE_NRE_FLAG),
                                         class_name=w.class_name, script_name=app.name)
                elif w.script_name not in hosted:
                    platform.log.warn("workflows", f'workflow "{w.name}" (binding {w.binding} of {app.name}) is '
                                      f'defined by script "{w.script_name}", which is not hosted here; its '
                                      "instances stay queued")

    async def start(self) -> None:
        await self.engine.start()

    async def stop(self) -> None:
        await self.engine.stop()

    def bindings_for(self, app: AppConfig) -> dict[str, Any]:
        return {w.binding: Workflow(self.engine, w.name) for w in workflows_config(app).workflows}

    def workflow(self, name: str) -> Workflow:
        """The binding object for a workflow name (pytest plugin, dashboard)."""
        return Workflow(self.engine, name)

    def routes(self) -> list[web.RouteDef]:
        from emulator.bindings.workflows.routes import build_routes
        return build_routes(self.engine)

    def health(self) -> dict[str, Any]:
        return {"state": "running" if self.engine._started else "stopped",
                "workflows": sorted(self.engine.definitions)}

    def is_idle(self) -> bool:
        return self.engine.is_idle()

    def overview(self) -> dict[str, Any]:
        workflows: dict[str, dict[str, Any]] = {}
        for app in self.platform.apps:
            for w in workflows_config(app).workflows:
                workflows.setdefault(w.name, {"className": w.class_name, "scriptName": w.script_name,
                                              "bindings": []})["bindings"].append(
                    {"app": app.name, "binding": w.binding})
        return {"workflows": dict(sorted(workflows.items()))}
