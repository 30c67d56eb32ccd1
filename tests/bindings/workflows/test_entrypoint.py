"""The ``step`` object's Python call shapes and the duration parser (engine-free backend)."""

from __future__ import annotations

import asyncio
from typing import Any
from collections.abc import Awaitable, Callable, Mapping

import pytest

from emulator.bindings.workflows.entrypoint import (
    NonRetryableError,
    WorkflowEntrypoint,
    WorkflowEvent,
    WorkflowStep,
    error_name,
    is_non_retryable,
    parse_duration_ms,
)
from emulator.jsobject import JsObject


class RecordingBackend:
    """Runs callbacks at once and records what ran, like a step cache with no persistence."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def do(self, name: str, config: Mapping[str, Any] | None,
                 invoke: Callable[[JsObject], Awaitable[Any]]) -> Any:
        self.calls.append((name, config))
        return await invoke(JsObject(step=JsObject(name=name, count=1), attempt=1, config=config))

    async def sleep(self, name: str, duration: Any) -> None:
        self.calls.append((name, duration))

    async def sleep_until(self, name: str, when: Any) -> None:
        self.calls.append((name, when))

    async def wait_for_event(self, name: str, event_type: str, timeout: Any) -> JsObject:
        self.calls.append((name, (event_type, timeout)))
        return JsObject(payload=None, type=event_type)

    def missing_callback(self, name: str) -> BaseException:
        return RuntimeError(f'Step "{name}" requires a callback function')


@pytest.fixture
def step() -> WorkflowStep:
    return WorkflowStep(RecordingBackend())


@pytest.mark.parametrize("text,ms", [
    (250, 250), (1.5, 1.5), ("10 seconds", 10_000), ("1 minute", 60_000), ("2 hours", 7_200_000),
    ("24 hours", 86_400_000), ("1 day", 86_400_000), ("3s", 3000), ("500ms", 500), ("1 week", 604_800_000),
    ("10 minutes", 600_000), ("42", 42),
])
def test_durations_parse_like_itty_time(text: Any, ms: float) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("bad", ["soon", "10 fortnights", "", True, None, [1]])
def test_bad_durations_are_refused(bad: Any) -> None:
    with pytest.raises(ValueError):
        parse_duration_ms(bad)


async def test_decorator_with_name_without_name_and_bare(step: WorkflowStep) -> None:
    @step.do("named step")
    async def first() -> int:
        return 1

    @step.do()
    async def second() -> int:
        return 2

    @step.do
    def third() -> int:  # sync functions are fine
        return 3

    assert (await first(), await second(), await third()) == (1, 2, 3)
    assert [c[0] for c in step._backend.calls] == ["named step", "second", "third"]  # type: ignore[attr-defined]  # the recording test backend's calls


async def test_implicit_dependencies_by_parameter_name_and_ctx(step: WorkflowStep) -> None:
    @step.do("a")
    async def load() -> dict[str, int]:
        return {"n": 2}

    @step.do("b")
    async def double(load: dict[str, int], ctx: JsObject) -> tuple[int, str, int]:
        return load["n"] * 2, ctx["step"]["name"], ctx.attempt

    assert await double() == (4, "b", 1)
    assert [c[0] for c in step._backend.calls] == ["a", "b"]  # type: ignore[attr-defined]  # the recording test backend's calls


async def test_unknown_parameter_name_is_a_type_error(step: WorkflowStep) -> None:
    with pytest.raises(TypeError, match='parameter "nope"'):
        @step.do("x")
        async def uses(nope: int) -> int:
            return nope


async def test_explicit_depends_maps_positionally(step: WorkflowStep) -> None:
    @step.do("one")
    async def one() -> int:
        return 1

    @step.do("two")
    async def two() -> int:
        return 2

    @step.do("sum", depends=[one, two], concurrent=True)
    async def total(x: int, y: int) -> int:
        return x + y

    assert await total() == 3
    with pytest.raises(TypeError, match="depends has 1 entries"):
        @step.do("bad", depends=[one])
        async def bad(x: int, y: int) -> int:
            return x + y


async def test_step_function_is_memoized_and_shared(step: WorkflowStep) -> None:
    runs = []

    @step.do("once")
    async def once() -> str:
        runs.append(1)
        await asyncio.sleep(0)
        return "v"

    assert list(await asyncio.gather(once(), once())) == ["v", "v"]
    assert await once() == "v"
    assert runs == [1]


async def test_call_forms_from_js_docs(step: WorkflowStep) -> None:
    assert await step.do("plain", lambda: 5) == 5
    assert await step.do("with ctx", lambda ctx: ctx.step.name) == "with ctx"
    cfg = {"retries": {"limit": 1, "delay": 10}}

    async def cb() -> str:
        return "ok"
    assert await step.do("with config", cfg, cb) == "ok"
    assert step._backend.calls[-1] == ("with config", cfg)  # type: ignore[attr-defined]  # the recording test backend's calls


async def test_awaiting_step_do_without_a_callback_fails(step: WorkflowStep) -> None:
    with pytest.raises(RuntimeError, match='Step "lonely" requires a callback function'):
        await step.do("lonely")


async def test_wait_for_event_argument_shapes(step: WorkflowStep) -> None:
    await step.wait_for_event("a", type="approval", timeout="1 hour")
    await step.wait_for_event("b", "approval")
    await step.waitForEvent("c", {"type": "approval", "timeout": 5})
    assert step._backend.calls == [  # type: ignore[attr-defined]  # the recording test backend's calls
        ("a", ("approval", "1 hour")), ("b", ("approval", None)), ("c", ("approval", 5))]
    with pytest.raises(TypeError, match="needs an event type"):
        await step.wait_for_event("d")


def test_entrypoint_event_and_error_helpers() -> None:
    entry = WorkflowEntrypoint("the-ctx", {"X": 1})
    assert entry.ctx == "the-ctx" and entry.env == {"X": 1}
    event = WorkflowEvent.build({"a": {"b": 1}}, 1_700_000_000_000, "id-1", "wf")
    assert event.payload.a.b == 1 and event["instanceId"] == "id-1" and event.workflowName == "wf"
    assert event.timestamp.timestamp() == 1_700_000_000
    assert error_name(NonRetryableError("x")) == "NonRetryableError"
    assert error_name(ValueError("x")) == "ValueError"
    assert is_non_retryable(NonRetryableError("x")) and is_non_retryable(Exception("NonRetryableError: boom"))
    assert not is_non_retryable(ValueError("retry me"))
