"""What apps see on ``env``: the ``Workflow`` binding and ``WorkflowInstance`` handles.

Python call shapes follow the Workers SDK (docs/workflows.md, "The binding"): keyword arguments
become the JS options object, so ``create(id=..., params=...)`` and
``create({"id": ..., "params": ...})`` are the same call; camelCase aliases
(``createBatch``, ``sendEvent``) exist for code copied from JS docs. Results are
``JsObject`` dicts (attribute and key access), like the SDK's ``JsDict``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from collections.abc import Iterable, Mapping

from emulator.jsobject import JsObject

if TYPE_CHECKING:
    from emulator.bindings.workflows.engine import WorkflowEngine


def _options(options: Any, kwargs: dict[str, Any], what: str) -> dict[str, Any]:
    if options is None:
        merged: dict[str, Any] = {}
    elif isinstance(options, Mapping):
        merged = dict(options)
    else:
        raise TypeError(f"{what} takes an options dict or keyword arguments, got {type(options).__name__}")
    merged.update({k: v for k, v in kwargs.items() if v is not None})
    return merged


def _refuse_unemulated(options: dict[str, Any], key: str, feature: str) -> None:
    # Production can restart from a named step and run rollback handlers on terminate; the
    # local engine does neither (docs/parity.md, "Workflows"). Ignoring the option would run
    # something else than the app asked for, so say so instead.
    if options.get(key):
        raise NotImplementedError(f"Workflow instance {feature} is not emulated by cf-emulator: "
                                  f"call it without {key!r} (see docs/parity.md, Workflows)")


class WorkflowInstance:
    """A handle on one instance: ``id``, ``status()``, lifecycle actions and events."""

    def __init__(self, engine: WorkflowEngine, workflow: str, instance_id: str) -> None:
        self._engine = engine
        self._workflow = workflow
        self.id = instance_id

    def __repr__(self) -> str:
        return f"<WorkflowInstance {self._workflow}/{self.id}>"

    async def status(self) -> JsObject:
        """``{status, output, error}`` with Cloudflare's status names."""
        return await self._engine.status(self._workflow, self.id)

    async def pause(self) -> None:
        await self._engine.pause(self._workflow, self.id)

    async def resume(self) -> None:
        await self._engine.resume(self._workflow, self.id)

    async def terminate(self, options: Any = None, **kwargs: Any) -> None:
        _refuse_unemulated(_options(options, kwargs, "terminate()"), "rollback", "terminate({rollback})")
        await self._engine.terminate(self._workflow, self.id)

    async def restart(self, options: Any = None, **kwargs: Any) -> None:
        _refuse_unemulated(_options(options, kwargs, "restart()"), "from", "restart({from})")
        await self._engine.restart(self._workflow, self.id)

    async def delete(self) -> None:
        """Remove the instance and its state (later lookups raise ``instance.not_found``)."""
        await self._engine.delete(self._workflow, self.id)

    async def send_event(self, options: Any = None, *, type: str | None = None, payload: Any = None) -> None:
        """``send_event(type=..., payload=...)`` or ``send_event({"type": ..., "payload": ...})``."""
        opts = _options(options, {"type": type, "payload": payload}, "send_event")
        await self._engine.send_event(self._workflow, self.id, opts.get("type"), opts.get("payload"))

    sendEvent = send_event  # noqa: N815 - JS spelling


class Workflow:
    """``env.MY_WORKFLOW``: create and look up instances of one workflow."""

    def __init__(self, engine: WorkflowEngine, name: str) -> None:
        self._engine = engine
        self.name = name

    def __repr__(self) -> str:
        return f"<Workflow {self.name}>"

    async def create(self, options: Any = None, *, id: str | None = None, params: Any = None) -> WorkflowInstance:
        """Create an instance (``id`` defaults to a UUID, ``params`` to ``{}``); the run starts in the background."""
        opts = _options(options, {"id": id, "params": params}, "create")
        instance_id = await self._engine.create(self.name, opts.get("id"), opts.get("params"))
        return WorkflowInstance(self._engine, self.name, instance_id)

    async def create_batch(self, batch: Iterable[Any]) -> list[WorkflowInstance]:
        items = []
        for entry in list(batch):
            opts = _options(entry, {}, "create_batch entries")
            items.append((opts.get("id"), opts.get("params")))
        ids = await self._engine.create_batch(self.name, items)
        return [WorkflowInstance(self._engine, self.name, i) for i in ids]

    createBatch = create_batch  # noqa: N815 - JS spelling

    async def get(self, id: str) -> WorkflowInstance:
        """A handle on an existing instance; unknown ids raise ``(instance.not_found)``."""
        self._engine._row(self.name, id)
        return WorkflowInstance(self._engine, self.name, id)
