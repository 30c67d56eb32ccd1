"""What workflow code sees: ``WorkflowEntrypoint``, the ``step`` object, events and errors.

App code reaches these through the ``workers`` shim (``from workers import
WorkflowEntrypoint``, ``from workers.workflows import NonRetryableError``), so this module
stays light: stdlib, ``emulator.jsobject`` and the error classes only, no engine, no
SQLite, no aiohttp.

The ``step`` object implements Cloudflare's Python Workflows API
(docs/workflows.md, "Steps"): ``step.do`` as a decorator (implicit dependencies by parameter
name, or ``depends=[...]``), the JS-style call form ``await step.do(name, [config],
callback)``, ``step.sleep``, ``step.sleep_until`` and ``step.wait_for_event``. Durability
lives behind ``StepBackend`` (the engine's per-run object); this module only turns Python
call shapes into backend calls.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import inspect
import re
from typing import Any, Protocol
from collections.abc import Awaitable, Callable, Mapping, Sequence

from emulator.bindings.workflows.errors import WorkflowError, WorkflowFatalError, WorkflowTimeoutError
from emulator.jsobject import JsObject, to_js_object

__all__ = [
    "WorkflowEntrypoint",
    "WorkflowEvent",
    "WorkflowStep",
    "StepBackend",
    "NonRetryableError",
    "WorkflowError",
    "WorkflowFatalError",
    "WorkflowTimeoutError",
    "NonRetryableDelayError",
    "parse_duration_ms",
]


# --- errors -----------------------------------------------------------------------------
# The platform's own (WorkflowError, ...) are in errors.py. NonRetryableError is the SDK's:
# app code raises it, so it stays a plain Exception as in `workers.workflows`.
class NonRetryableError(Exception):
    """Raised inside a step: skip the remaining retries and fail the step at once.

    ``NonRetryableError(message, name=None)`` mirrors the JS constructor; ``name`` is the
    error name Cloudflare reports (``"NonRetryableError"``).
    """

    name = "NonRetryableError"

    def __init__(self, message: str = "", name: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if name is not None:
            self.error_name = name


class NonRetryableDelayError(NonRetryableError):
    """A retry-delay function failed; the step fails without further retries."""

    name = "NonRetryableDelayError"


def error_name(exc: BaseException) -> str:
    """The ``name`` Cloudflare would report: our classes carry one, else the Python class name."""
    custom = getattr(exc, "error_name", None)
    if isinstance(custom, str) and custom:
        return custom
    for klass in type(exc).__mro__:
        declared = klass.__dict__.get("name")
        if isinstance(declared, str):
            return declared
    return type(exc).__name__


def error_message(exc: BaseException) -> str:
    return str(exc.args[0]) if len(exc.args) == 1 else str(exc)


def is_non_retryable(exc: BaseException) -> bool:
    """Cloudflare: name ``NonRetryableError`` or a message starting with it.

    ``NonRetryableDelayError`` stops retries too (the engine treats it as final) but keeps its
    own name when it fails the instance.
    """
    if isinstance(exc, NonRetryableDelayError):
        return False
    return isinstance(exc, NonRetryableError) or type(exc).__name__ == "NonRetryableError" \
        or error_message(exc).startswith("NonRetryableError")


# --- durations (itty-time's ``ms()``, which Cloudflare uses for step configs) -----------
_UNIT_MS: dict[str, float] = {}
for _names, _ms in (
    (("ms", "msec", "msecs", "millisecond", "milliseconds"), 1),
    (("s", "sec", "secs", "second", "seconds"), 1000),
    (("m", "min", "mins", "minute", "minutes"), 60_000),
    (("h", "hr", "hrs", "hour", "hours"), 3_600_000),
    (("d", "day", "days"), 86_400_000),
    (("w", "week", "weeks"), 604_800_000),
    (("mo", "month", "months"), 2_592_000_000),  # 30 days, as itty-time
    (("y", "yr", "year", "years"), 31_536_000_000),  # 365 days
):
    for _n in _names:
        _UNIT_MS[_n] = _ms
_DURATION_RE = re.compile(r"^\s*(-?\d*\.?\d+)\s*([a-zA-Z]*)\s*$")


def parse_duration_ms(value: Any) -> float:
    """Milliseconds from a number (already ms) or a duration string like ``"10 seconds"``.

    Raises ``ValueError`` for anything else (callers turn it into Cloudflare's message).
    """
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        m = _DURATION_RE.match(value)
        if m:
            unit = m.group(2).lower() or "ms"
            if unit in _UNIT_MS:
                return float(m.group(1)) * _UNIT_MS[unit]
    raise ValueError(f"invalid duration {value!r}")


# --- the run event --------------------------------------------------------------------
class WorkflowEvent(JsObject):
    """``run()``'s first argument: ``payload``, ``timestamp``, ``instanceId``, ``workflowName``."""

    @classmethod
    def build(cls, payload: Any, timestamp_ms: int, instance_id: str, workflow_name: str) -> WorkflowEvent:
        event = cls()
        event["payload"] = to_js_object(payload)
        event["timestamp"] = _dt.datetime.fromtimestamp(timestamp_ms / 1000, tz=_dt.UTC)
        event["instanceId"] = instance_id
        event["workflowName"] = workflow_name
        return event

    @property
    def instance_id(self) -> str:
        return str(self["instanceId"])

    @property
    def workflow_name(self) -> str:
        return str(self["workflowName"])


# --- the entrypoint -------------------------------------------------------------------
class WorkflowEntrypoint:
    """Base class of workflow classes: ``class MyWorkflow(WorkflowEntrypoint)``.

    Constructed as ``cls(ctx, env)`` like the Python Workers SDK; ``run(event, step)`` is
    replayed from the top whenever the instance resumes, completed steps returning their
    stored results.
    """

    def __init__(self, ctx: Any, env: Any) -> None:
        self.ctx = ctx
        self.env = env

    async def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        raise NotImplementedError("a WorkflowEntrypoint subclass must define `async def run(self, event, step)`")


# --- the step object --------------------------------------------------------------------
class StepBackend(Protocol):
    """The durable half of ``step`` (implemented by the engine for one run)."""

    async def do(self, name: str, config: Mapping[str, Any] | None,
                 invoke: Callable[[JsObject], Awaitable[Any]]) -> Any: ...

    async def sleep(self, name: str, duration: Any) -> None: ...

    async def sleep_until(self, name: str, when: Any) -> None: ...

    async def wait_for_event(self, name: str, event_type: str, timeout: Any) -> JsObject: ...

    def missing_callback(self, name: str) -> BaseException: ...


def _is_step_function(value: Any) -> bool:
    return isinstance(value, _StepFunction)


async def _call_user(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    result = fn(*args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


_PARAMS: dict[Any, list[str]] = {}


def _parameter_names(fn: Callable[..., Any]) -> list[str]:
    """Named parameters of a step function, cached per code object (steps are defined per run)."""
    key = getattr(fn, "__code__", None)
    if key is not None and key in _PARAMS:
        return _PARAMS[key]
    names = [p.name for p in inspect.signature(fn).parameters.values()
             if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if key is not None:
        if len(_PARAMS) > 10_000:
            _PARAMS.clear()
        _PARAMS[key] = names
    return names


class _StepFunction:
    """A decorated step: awaiting ``fn()`` runs the step once; later awaits share the result."""

    def __init__(self, step: WorkflowStep, name: str, fn: Callable[..., Any],
                 depends: Sequence[Any] | None, concurrent: bool,
                 config: Mapping[str, Any] | None) -> None:
        self._step = step
        self.step_name = name
        self.__name__ = getattr(fn, "__name__", name)
        self.__wrapped__ = fn
        self._fn = fn
        self._depends = list(depends) if depends is not None else None
        self._concurrent = concurrent
        self._config = config
        self._task: asyncio.Future[Any] | None = None
        self._params = _parameter_names(fn)
        dep_params = [p for p in self._params if p != "ctx"]
        if self._depends is not None:
            if len(self._depends) != len(dep_params):
                raise TypeError(
                    f'step "{name}": depends has {len(self._depends)} entries but the function '
                    f"takes {len(dep_params)} non-ctx parameters ({', '.join(dep_params) or 'none'})")
        else:
            for pname in dep_params:
                if pname not in step._functions:
                    raise TypeError(
                        f'step "{name}": parameter "{pname}" names no earlier step function; '
                        "name a parameter after a step function to receive its result, or `ctx`")
        step._functions[self.__name__] = self

    def __call__(self) -> asyncio.Future[Any]:
        # Memoized per step: concurrent awaits of an in-flight step share one task.
        if self._task is None:
            self._task = asyncio.ensure_future(self._execute())
        return self._task

    async def _resolve_dependencies(self) -> dict[str, Any]:
        names = [p for p in self._params if p != "ctx"]
        deps: list[Any]
        if self._depends is not None:
            deps = [d if _is_step_function(d) else self._step._functions.get(getattr(d, "__name__", ""))
                    for d in self._depends]
            for original, dep in zip(self._depends, deps, strict=True):
                if dep is None:
                    raise TypeError(f'step "{self.step_name}": dependency {original!r} is not a step function')
        else:
            deps = [self._step._functions[n] for n in names]
        if self._concurrent:
            values = list(await asyncio.gather(*(d() for d in deps)))
        else:
            values = [await d() for d in deps]
        return dict(zip(names, values, strict=True))

    async def _execute(self) -> Any:
        kwargs = await self._resolve_dependencies()
        wants_ctx = "ctx" in self._params

        async def invoke(ctx: JsObject) -> Any:
            if wants_ctx:
                return await _call_user(self._fn, **kwargs, ctx=ctx)
            return await _call_user(self._fn, **kwargs)

        return await self._step._backend.do(self.step_name, self._config, invoke)


class _StepDecorator:
    """What ``step.do(name, ...)`` returns: a decorator; awaiting it means a missing callback."""

    def __init__(self, step: WorkflowStep, name: str | None, depends: Sequence[Any] | None,
                 concurrent: bool, config: Mapping[str, Any] | None) -> None:
        self._step, self._name, self._depends = step, name, depends
        self._concurrent, self._config = concurrent, config

    def __call__(self, fn: Callable[..., Any]) -> _StepFunction:
        if not callable(fn):
            raise TypeError("step.do(...) decorates a function")
        name = self._name if self._name is not None else getattr(fn, "__name__", None)
        if not isinstance(name, str):
            raise TypeError("step.do needs a step name or a named function")
        return _StepFunction(self._step, name, fn, self._depends, self._concurrent, self._config)

    def __await__(self) -> Any:
        # `await step.do("name")`: JS-style call without a callback (Cloudflare's message).
        async def fail() -> Any:
            raise self._step._backend.missing_callback(self._name or "")
        return fail().__await__()


class WorkflowStep:
    """``run()``'s second argument."""

    def __init__(self, backend: StepBackend) -> None:
        self._backend = backend
        self._functions: dict[str, _StepFunction] = {}

    # step.do ------------------------------------------------------------------------
    def do(self, name: Any = None, *args: Any, depends: Sequence[Any] | None = None,
           concurrent: bool = False, config: Mapping[str, Any] | None = None) -> Any:
        """``@step.do("name")``, ``@step.do()``, ``@step.do``, or ``await step.do(name, [config], cb)``."""
        if callable(name) and not args:
            # bare `@step.do`
            return _StepDecorator(self, None, depends, concurrent, config)(name)
        if args:
            # JS-style call form: step.do(name, callback) / step.do(name, config, callback)
            if len(args) == 1 and callable(args[0]):
                return self._call_form(name, config, args[0])
            if len(args) == 2 and callable(args[1]):
                return self._call_form(name, args[0], args[1])
            if len(args) == 1 and isinstance(args[0], Mapping):
                return _StepDecorator(self, name, depends, concurrent, args[0])
            raise TypeError("step.do(name, [config], callback): the callback must be callable")
        return _StepDecorator(self, name, depends, concurrent, config)

    async def _call_form(self, name: Any, config: Any, callback: Callable[..., Any]) -> Any:
        try:
            takes_arg = bool(inspect.signature(callback).parameters)
        except (TypeError, ValueError):
            takes_arg = True

        async def invoke(ctx: JsObject) -> Any:
            return await (_call_user(callback, ctx) if takes_arg else _call_user(callback))

        return await self._backend.do(name, config, invoke)

    # sleeps and events ---------------------------------------------------------------
    async def sleep(self, name: str, duration: Any) -> None:
        """Sleep ``duration`` (ms or ``"1 minute"``); durable across restarts."""
        await self._backend.sleep(name, duration)

    async def sleep_until(self, name: str, timestamp: Any) -> None:
        """Sleep until a ``datetime``, epoch milliseconds or an ISO 8601 string."""
        await self._backend.sleep_until(name, timestamp)

    sleepUntil = sleep_until  # noqa: N815 - JS spelling

    async def wait_for_event(self, name: str, *args: Any, type: str | None = None,
                             timeout: Any = None) -> JsObject:
        """Wait for ``instance.send_event(type=...)``; returns ``{payload, type, timestamp}``."""
        event_type = type
        if args:
            first = args[0]
            if isinstance(first, Mapping):
                event_type = first.get("type", event_type)
                timeout = first.get("timeout", timeout)
            else:
                event_type = first
                if len(args) > 1:
                    timeout = args[1]
        if not isinstance(event_type, str) or not event_type:
            raise TypeError(f'step.wait_for_event("{name}") needs an event type: type="..."')
        return await self._backend.wait_for_event(name, event_type, timeout)

    waitForEvent = wait_for_event  # noqa: N815 - JS spelling
