"""WorkflowEngine semantics on a FakeClock: steps, retries, timers, events, lifecycle, durability."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from itertools import pairwise
from typing import Any

import pytest

from emulator.bindings.workflows.entrypoint import (
    NonRetryableError,
    WorkflowEntrypoint,
    WorkflowError,
)
from tests.helpers.workflows import Harness


def attempt_times(h: Harness, wf: str, iid: str, step: str) -> list[float]:
    described = h.engine.describe(wf, iid)
    assert described is not None
    [s] = [s for s in described["steps"] if s["name"] == step]
    return [dt.datetime.fromisoformat(a["start"]).timestamp() for a in s["attempt_log"]]


async def start_one(h: Harness, cls: type, params: Any = None, iid: str = "i1", **kw: Any) -> Any:
    h.register("wf", cls, **kw)
    await h.engine.start()
    instance = await h.engine.binding("wf").create(id=iid, params=params)
    await h.settle()
    return instance


# --- step.do ------------------------------------------------------------------------------
async def test_steps_run_in_order_and_output_is_returned(wf: Harness) -> None:
    class Flow(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            @step.do("fetch")
            async def fetch() -> dict[str, Any]:
                return {"n": event.payload["n"], "id": event.instanceId}

            @step.do("double")
            async def double(fetch: dict[str, Any]) -> int:
                return fetch["n"] * 2
            return {"result": await double(), "id": (await fetch())["id"], "wf": event.workflowName}

    inst = await start_one(wf, Flow, {"n": 21})
    status = await inst.status()
    assert status == {"status": "complete", "output": {"result": 42, "id": "i1", "wf": "wf"}, "error": None}
    assert status.output.result == 42


async def test_default_retries_use_exponential_backoff(wf: Harness) -> None:
    class Flaky(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            @step.do("flaky")
            async def flaky(ctx: Any) -> int:
                if ctx.attempt < 6:
                    raise ValueError(f"attempt {ctx.attempt}")
                return ctx.attempt
            return await flaky()

    inst = await start_one(wf, Flaky)
    assert (await inst.status()).status == "running"
    await wf.advance(30.9)  # 1 + 2 + 4 + 8 + 16 = 31 s of delays
    assert (await inst.status()).status == "running"
    await wf.advance(0.1)
    status = await inst.status()
    assert status.status == "complete" and status.output == 6
    times = attempt_times(wf, "wf", "i1", "flaky")
    gaps = [round(b - a) for a, b in pairwise(times)]
    assert gaps == [1, 2, 4, 8, 16]  # 1 s · 2^(k−1)


@pytest.mark.parametrize("backoff,gaps", [("constant", [3, 3, 3]), ("linear", [3, 6, 9]),
                                          ("exponential", [3, 6, 12])])
async def test_backoff_formulas_and_exhaustion(wf: Harness, backoff: str, gaps: list[int]) -> None:
    class Failing(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            @step.do("always", config={"retries": {"limit": 3, "delay": "3 seconds", "backoff": backoff}})
            async def always() -> None:
                raise KeyError("gone")
            await always()

    inst = await start_one(wf, Failing)
    await wf.advance(100)
    status = await inst.status()
    assert status.status == "errored"
    assert status.error == {"name": "KeyError", "message": "gone"}
    times = attempt_times(wf, "wf", "i1", "always")
    assert [round(b - a) for a, b in pairwise(times)] == gaps  # limit 3 → 4 attempts


async def test_step_error_is_catchable_in_run(wf: Harness) -> None:
    class Catching(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            @step.do("bad", config={"retries": {"limit": 0, "delay": 0}})
            async def bad() -> None:
                raise RuntimeError("nope")
            try:
                await bad()
            except RuntimeError as exc:
                return f"caught {exc}"

    inst = await start_one(wf, Catching)
    assert (await inst.status()).output == "caught nope"


async def test_timeout_is_per_attempt_and_retryable(wf: Harness) -> None:
    import asyncio

    class Slow(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            @step.do("slow", config={"retries": {"limit": 1, "delay": 1000, "backoff": "constant"},
                                     "timeout": "5 seconds"})
            async def slow(ctx: Any) -> str:
                if ctx.attempt == 1:
                    await asyncio.Future()  # hangs until the timeout cancels it
                return "second attempt"
            return await slow()

    inst = await start_one(wf, Slow)
    await wf.advance(4.9)
    assert (await inst.status()).status == "running"
    await wf.advance(0.2)   # timeout fires → attempt 1 fails
    await wf.advance(1)     # 1 s retry delay
    status = await inst.status()
    assert status.status == "complete" and status.output == "second attempt"
    described = wf.engine.describe("wf", "i1")
    assert described is not None
    assert described["steps"][0]["attempt_log"][0]["error"] == {
        "name": "WorkflowTimeoutError", "message": "Execution timed out after 5000ms"}


async def test_non_retryable_error_skips_retries_and_fails_fatally(wf: Harness) -> None:
    calls = []

    class Fatal(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            @step.do("stop")
            async def stop() -> None:
                calls.append(1)
                raise NonRetryableError("bad input")
            await stop()

    inst = await start_one(wf, Fatal)
    status = await inst.status()
    assert calls == [1]
    assert status.status == "errored"
    assert status.error == {"name": "WorkflowFatalError", "message": (
        "The execution of the Workflow instance was terminated, as a step threw an NonRetryableError "
        "and it was not handled")}


async def test_preserve_non_retryable_message_flag(wf: Harness) -> None:
    class Fatal(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            raise NonRetryableError("kept message")

    inst = await start_one(wf, Fatal, preserve_non_retryable_message=True)
    assert (await inst.status()).error == {"name": "NonRetryableError", "message": "kept message"}


@pytest.mark.parametrize("name", ["x" * 257, "tab\tname", "nul\x00"])
async def test_invalid_step_names_fail_the_instance(wf: Harness, name: str) -> None:
    class BadName(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            try:
                await step.do(name, lambda: 1)
            except Exception:  # noqa: BLE001 - what the test checks: catching cannot save the instance
                return "swallowed"  # fatal errors fail the instance even when caught

    inst = await start_one(wf, BadName)
    status = await inst.status()
    assert status.status == "errored"
    assert status.error == {"name": "WorkflowFatalError",
                            "message": f'Step name "{name}" exceeds max length (256 chars) or invalid characters found'}


async def test_step_name_of_256_chars_is_fine(wf: Harness) -> None:
    class LongName(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            return await step.do("y" * 256, lambda: "ok")

    assert (await (await start_one(wf, LongName)).status()).output == "ok"


async def test_non_serialisable_and_oversized_outputs(wf: Harness) -> None:
    class NotJson(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            return await step.do("obj", lambda: object())

    class Huge(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            return await step.do("big", lambda: "x" * (1024 * 1024))

    wf.register("nj", NotJson)
    wf.register("huge", Huge)
    await wf.engine.start()
    a = await wf.engine.binding("nj").create(id="a")
    b = await wf.engine.binding("huge").create(id="b")
    await wf.settle()
    assert (await a.status()).error == {"name": "WorkflowFatalError", "message": (
        'The execution of the Workflow instance was terminated, as the step "obj" returned a value '
        "which is not serialisable")}
    assert (await b.status()).error == {"name": "WorkflowFatalError",
                                        "message": "Step big-1 output is too large. Maximum allowed size is 1MiB."}


async def test_invalid_config_is_fatal(wf: Harness) -> None:
    class BadConfig(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            return await step.do("cfg", {"retries": {"limit": -1, "delay": 0}}, lambda: 1)

    status = await (await start_one(wf, BadConfig)).status()
    assert status.error == {"name": "WorkflowFatalError", "message": (
        'Step config for "cfg" is in a invalid format. '
        "See https://developers.cloudflare.com/workflows/build/sleeping-and-retrying/")}


async def test_step_limit(wf: Harness) -> None:
    class Many(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            for i in range(4):
                await step.do(f"s{i}", lambda: i)  # noqa: B023 - awaited before the loop moves on

    status = await (await start_one(wf, Many, step_limit=3)).status()
    assert status.error == {"name": "WorkflowFatalError", "message": (
        "The limit of 3 steps has been reached. This limit can be changed in your worker configuration.")}


async def test_same_name_twice_gets_counts_one_and_two(wf: Harness) -> None:
    class Twice(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            a = await step.do("same", lambda ctx: ctx.step.count)
            b = await step.do("same", lambda ctx: ctx.step.count)
            return [a, b]

    assert (await (await start_one(wf, Twice)).status()).output == [1, 2]


async def test_retry_delay_function(wf: Harness) -> None:
    class DelayFn(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            @step.do("f", config={"retries": {"limit": 1, "delay": lambda info: "7 seconds"}})
            async def f(ctx: Any) -> int:
                if ctx.attempt == 1:
                    raise ValueError("again")
                return ctx.attempt
            return await f()

    inst = await start_one(wf, DelayFn)
    await wf.advance(6.9)
    assert (await inst.status()).status == "running"
    await wf.advance(0.2)
    assert (await inst.status()).output == 2


# --- sleeps and events ------------------------------------------------------------------
async def test_sleep_reports_waiting_and_is_idle(wf: Harness) -> None:
    class Sleeper(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            await step.sleep("nap", "1 hour")
            return "rested"

    inst = await start_one(wf, Sleeper)
    assert (await inst.status()).status == "waiting"  # production status for a sleeping instance
    assert wf.engine.is_idle()
    await wf.advance(3599)
    assert (await inst.status()).status == "waiting"
    await wf.advance(1)
    assert (await inst.status()).output == "rested"


async def test_sleep_until_future_and_past(wf: Harness) -> None:
    target = dt.datetime.fromtimestamp(wf.clock.now() + 60, tz=dt.UTC)

    class Until(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            await step.sleep_until("later", target.isoformat())
            try:
                await step.sleep_until("past", dt.datetime(2000, 1, 1))
            except ValueError as exc:
                return str(exc)

    inst = await start_one(wf, Until)
    await wf.advance(59)
    assert (await inst.status()).status == "waiting"
    await wf.advance(1)
    assert (await inst.status()).output == "You can't sleep until a time in the past, time-traveler"


async def test_wait_for_event_delivers_events_sent_before_and_after(wf: Harness) -> None:
    class Approve(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            first = await step.wait_for_event("first", type="approval")
            second = await step.wait_for_event("second", "approval", timeout="1 hour")
            return [first.payload, second["payload"], first.type]

    wf.register("wf", Approve)
    await wf.engine.start()
    inst = await wf.engine.binding("wf").create(id="i1")
    await inst.send_event(type="approval", payload={"n": 1})   # may arrive before the wait
    await wf.settle()
    assert (await inst.status()).status == "waiting"
    await inst.sendEvent({"type": "approval", "payload": {"n": 2}})
    await wf.settle()
    assert (await inst.status()).output == [{"n": 1}, {"n": 2}, "approval"]


async def test_wait_for_event_timeout_is_catchable(wf: Harness) -> None:
    class Impatient(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            try:
                await step.wait_for_event("wait", type="never", timeout="30 seconds")
            except Exception as exc:  # noqa: BLE001 - what the test checks: the timeout is catchable like any error
                return [type(exc).__name__, str(exc)]

    inst = await start_one(wf, Impatient)
    await wf.advance(30)
    assert (await inst.status()).output == ["WorkflowTimeoutError", "Execution timed out after 30000ms"]


# --- lifecycle --------------------------------------------------------------------------
async def test_pause_waits_for_in_flight_step_then_resume_shifts_sleep(wf: Harness) -> None:
    import asyncio
    release = asyncio.Event()
    ran: list[str] = []

    class Pausable(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            @step.do("work")
            async def work() -> str:
                await release.wait()
                ran.append("work")
                return "done"
            await work()
            await step.sleep("nap", "10 seconds")
            ran.append("after nap")
            return "ok"

    inst = await start_one(wf, Pausable)
    await inst.pause()
    assert (await inst.status()).status == "waitingForPause"
    release.set()
    await wf.settle()
    assert (await inst.status()).status == "paused" and ran == ["work"]
    await wf.advance(60)                    # paused: the sleep does not start
    assert (await inst.status()).status == "paused"
    await inst.resume()
    await wf.settle()
    assert (await inst.status()).status == "waiting"
    await wf.advance(9)
    assert (await inst.status()).status == "waiting"
    await wf.advance(1)
    assert (await inst.status()).output == "ok" and ran == ["work", "after nap"]


async def test_pause_during_sleep_shifts_the_deadline(wf: Harness) -> None:
    class Sleeper(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            await step.sleep("nap", "10 seconds")
            return "ok"

    inst = await start_one(wf, Sleeper)
    await wf.advance(4)
    await inst.pause()
    assert (await inst.status()).status == "paused"
    await wf.advance(100)
    await inst.resume()
    await wf.advance(5.9)
    assert (await inst.status()).status == "waiting"
    await wf.advance(0.1)
    assert (await inst.status()).status == "complete"


async def test_terminate_and_finite_state_error(wf: Harness) -> None:
    class Sleeper(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            await step.sleep("nap", "10 seconds")
            return "never"

    inst = await start_one(wf, Sleeper)
    await inst.terminate()
    await wf.advance(20)
    assert (await inst.status()).status == "terminated"
    with pytest.raises(WorkflowError,
                       match=r"\(instance\.cannot_terminate\) Cannot terminate instance since its on a finite state"):
        await inst.terminate()


async def test_restart_runs_again_from_scratch(wf: Harness) -> None:
    runs: list[int] = []

    class Counted(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            @step.do("count")
            async def count() -> int:
                runs.append(1)
                return len(runs)
            return await count()

    inst = await start_one(wf, Counted)
    assert (await inst.status()).output == 1
    await inst.restart()
    await wf.settle()
    assert (await inst.status()).output == 2 and len(runs) == 2


async def test_restart_from_a_step_and_terminate_with_rollback_are_refused_by_name(wf: Harness) -> None:
    class Sleeper(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            await step.sleep("nap", "10 seconds")

    inst = await start_one(wf, Sleeper)
    with pytest.raises(NotImplementedError, match=r"restart\(\{from\}\) is not emulated by cf-emulator"):
        await inst.restart({"from": {"name": "nap"}})
    with pytest.raises(NotImplementedError, match=r"terminate\(\{rollback\}\) is not emulated"):
        await inst.terminate(rollback=True)
    assert (await inst.status()).status == "waiting"  # neither call changed the instance
    await inst.terminate({"rollback": False})
    assert (await inst.status()).status == "terminated"


async def test_ids_duplicates_batches_and_lookup(wf: Harness) -> None:
    class Noop(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            return event.payload

    wf.register("wf", Noop)
    await wf.engine.start()
    binding = wf.engine.binding("wf")
    await binding.create(id="dup")
    with pytest.raises(WorkflowError, match="already_exists"):
        await binding.create(id="dup")
    with pytest.raises(WorkflowError, match=r"^Workflow instance has invalid id$"):
        await binding.create(id="-bad")
    with pytest.raises(WorkflowError, match=r"^Workflow instance has invalid id$"):
        await binding.create(id="x" * 101)
    with pytest.raises(WorkflowError, match="batchCreate should have at least 1 instance"):
        await binding.create_batch([])
    batch = await binding.createBatch([{"id": "b1", "params": 1}, {"params": 2}])
    assert batch[0].id == "b1" and len(batch[1].id) == 36
    with pytest.raises(WorkflowError, match=r"^\(instance.not_found\) Instance does not exist$"):
        await binding.get("missing")
    await wf.settle()
    assert (await (await binding.get("b1")).status()).output == 1
    auto = await binding.create()
    await wf.settle()
    assert (await auto.status()) == {"status": "complete", "output": {}, "error": None}


async def test_is_idle_only_counts_runnable_work(wf: Harness) -> None:
    import asyncio
    gate = asyncio.Event()

    class Busy(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            await step.do("block", lambda: gate.wait())
            await step.wait_for_event("e", type="go")

    wf.register("wf", Busy)
    await wf.engine.start()
    await wf.engine.binding("wf").create(id="i1")
    await wf.clock.settle()
    assert not wf.engine.is_idle()  # a step is in flight
    gate.set()
    await wf.settle()
    assert wf.engine.is_idle()      # waiting for an event


# --- durability -------------------------------------------------------------------------
async def test_restart_replays_completed_steps_from_the_store(wf: Harness) -> None:
    runs: list[str] = []

    class Durable(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            a = await step.do("a", lambda: runs.append("a") or "A")
            await step.sleep("nap", "1 minute")
            b = await step.do("b", lambda: runs.append("b") or "B")
            return a + b

    inst = await start_one(wf, Durable)
    await wf.advance(30)
    await wf.restart()
    await wf.engine.start()
    await wf.settle()
    assert runs == ["a"]  # replayed from the cache
    inst = await wf.engine.binding("wf").get("i1")
    assert (await inst.status()).status == "waiting"
    await wf.advance(29)
    assert (await inst.status()).status == "waiting"  # the persisted deadline survived
    await wf.advance(1)
    assert (await inst.status()).output == "AB" and runs == ["a", "b"]


async def test_interrupted_attempt_counts_when_resumed(wf: Harness) -> None:
    import asyncio
    attempts: list[int] = []

    class Hang(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            @step.do("s")
            async def s(ctx: Any) -> int:
                attempts.append(ctx.attempt)
                if len(attempts) == 1:
                    await asyncio.Future()  # still running when the engine stops
                return ctx.attempt
            return await s()

    await start_one(wf, Hang)
    await wf.restart()
    await wf.engine.start()
    await wf.settle()
    inst = await wf.engine.binding("wf").get("i1")
    assert (await inst.status()).output == 2 and attempts == [1, 2]
    described = wf.engine.describe("wf", "i1")
    assert described is not None and described["steps"][0]["attempts"] == 2


async def test_state_file_is_wal_and_statuses_are_committed(wf: Harness) -> None:
    class Noop(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            return await step.do("x", lambda: 1)

    await start_one(wf, Noop)
    conn = sqlite3.connect(wf.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    row = conn.execute("SELECT status, output FROM instances WHERE id = 'i1'").fetchone()
    assert row == ("complete", "1")
    assert json.loads(conn.execute("SELECT output FROM steps").fetchone()[0]) == 1


async def test_delete_removes_state_and_frees_the_id(wf: Harness) -> None:
    class Sleeper(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            await step.do("secret", {"sensitive": "output"}, lambda: "s3cr3t")
            await step.sleep("nap", "1 hour")
            return event.payload

    inst = await start_one(wf, Sleeper, params=1)
    described = wf.engine.describe("wf", "i1")
    assert described is not None and described["steps"][0]["output"] == "[REDACTED]"
    await inst.delete()
    with pytest.raises(WorkflowError, match=r"instance\.not_found"):
        await inst.status()
    again = await wf.engine.binding("wf").create(id="i1", params=2)
    await wf.advance(3600)
    assert (await again.status()).output == 2


async def test_lifecycle_calls_right_after_create(wf: Harness) -> None:
    class Quick(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            return await step.do("only", lambda: "ran")

    wf.register("wf", Quick)
    await wf.engine.start()
    binding = wf.engine.binding("wf")
    paused = await binding.create(id="p")
    await paused.pause()            # before its run ever started
    terminated = await binding.create(id="t")
    await terminated.terminate()
    await wf.settle()
    assert wf.engine.is_idle()
    assert (await paused.status()).status == "paused"
    assert (await terminated.status()).status == "terminated"
    await paused.resume()
    await wf.settle()
    assert (await paused.status()).output == "ran"


async def test_failing_delay_function_fails_the_step_without_retry(wf: Harness) -> None:
    def bad_delay(info: Any) -> str:
        raise RuntimeError("no delay for you")

    class DelayBoom(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            @step.do("f", config={"retries": {"limit": 3, "delay": bad_delay}})
            async def f() -> None:
                raise ValueError("first failure")
            await f()

    status = await (await start_one(wf, DelayBoom)).status()
    assert status.status == "errored"
    assert status.error == {"name": "NonRetryableDelayError",
                            "message": 'The delay function for step "f-1" threw an error: no delay for you'}
    described = wf.engine.describe("wf", "i1")
    assert described is not None and described["steps"][0]["attempts"] == 1


async def test_interrupted_last_attempt_fails_the_step(wf: Harness) -> None:
    import asyncio

    class NoRetries(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            @step.do("once", config={"retries": {"limit": 0, "delay": 0}})
            async def once() -> None:
                await asyncio.Future()  # still running when the engine stops
            await once()

    await start_one(wf, NoRetries)
    await wf.restart()
    await wf.engine.start()
    await wf.settle()
    status = await wf.engine.status("wf", "i1")
    assert status.status == "errored"
    assert status.error == {"name": "Error", "message": (
        'Step "once" was interrupted by an emulator restart during its last attempt (1 of 1)')}


async def test_concurrent_dependencies_run_in_parallel(wf: Harness) -> None:
    import asyncio
    active: list[int] = []
    peak: list[int] = []

    class Fan(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            async def work(n: int) -> int:
                active.append(n)
                peak.append(len(active))
                await asyncio.sleep(0.01)
                active.remove(n)
                return n

            @step.do("a")
            async def a() -> int:
                return await work(1)

            @step.do("b")
            async def b() -> int:
                return await work(2)

            @step.do("sum", concurrent=True)
            async def total(a: int, b: int) -> int:
                return a + b
            return await total()

    inst = await start_one(wf, Fan)
    for _ in range(50):
        if (await inst.status()).status == "complete":
            break
        await asyncio.sleep(0.01)
    assert (await inst.status()).output == 3 and max(peak) == 2


# --- memory: sleeping instances are unloaded, runs are bounded ----------------------------
async def test_a_long_sleep_unloads_the_instance_and_its_deadline_wakes_it(wf: Harness) -> None:
    runs: list[str] = []

    class Napper(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            runs.append(event.instanceId)
            first = await step.do("big", lambda: "x" * 10_000)
            await step.sleep("nap", "1 hour")
            return len(first)

    wf.register("wf", Napper)
    await wf.engine.start()
    for n in range(20):
        await wf.engine.binding("wf").create(id=f"i{n}")
    await wf.settle()
    # Every instance waits on disk: no task, no frames, no step results in memory.
    assert wf.engine._runs == {} and wf.engine.is_idle()
    assert {(await (await wf.engine.binding("wf").get(f"i{n}")).status()).status for n in range(20)} == {"waiting"}
    await wf.advance(3599)
    assert wf.engine._runs == {} and len(runs) == 20
    await wf.advance(1)
    assert {(await (await wf.engine.binding("wf").get(f"i{n}")).status()).output for n in range(20)} == {10_000}
    assert len(runs) == 40  # each replayed once, from its cached step


async def test_a_restart_does_not_replay_sleeping_instances_until_they_are_due(wf: Harness) -> None:
    runs: list[str] = []

    class Napper(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            runs.append(event.instanceId)
            await step.sleep("nap", "1 hour")
            return "rested"

    inst = await start_one(wf, Napper)
    await wf.restart()
    await wf.engine.start()
    await wf.settle()
    assert runs == ["i1"] and wf.engine._runs == {}
    await wf.advance(3600)
    assert (await inst.status()).output == "rested" and runs == ["i1", "i1"]


async def test_an_event_wakes_an_unloaded_instance(wf: Harness) -> None:
    class Approve(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            got = await step.wait_for_event("approval", type="approve", timeout="1 day")
            return got.payload

    inst = await start_one(wf, Approve)
    assert wf.engine._runs == {}
    await inst.send_event(type="other", payload=0)  # not what it waits for: stays unloaded
    await wf.settle()
    assert wf.engine._runs == {} and (await inst.status()).status == "waiting"
    await inst.send_event(type="approve", payload={"ok": True})
    await wf.settle()
    assert (await inst.status()).output == {"ok": True}


async def test_pause_and_resume_of_an_unloaded_instance_shift_its_sleep(wf: Harness) -> None:
    class Sleeper(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            await step.sleep("nap", "1 minute")
            return "ok"

    inst = await start_one(wf, Sleeper)
    await wf.advance(20)
    assert wf.engine._runs == {}
    await inst.pause()
    assert (await inst.status()).status == "paused"
    await wf.advance(600)  # the deadline passes while paused: nothing wakes
    assert (await inst.status()).status == "paused"
    await inst.resume()
    await wf.advance(39.9)
    assert (await inst.status()).status == "waiting"
    await wf.advance(0.1)
    assert (await inst.status()).output == "ok"


async def test_live_runs_are_bounded_and_admitted_oldest_first(wf: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from emulator.bindings.workflows import engine as engine_module

    monkeypatch.setattr(engine_module, "MAX_LIVE_RUNS", 4)
    monkeypatch.setattr(engine_module, "ADMIT_BATCH", 2)
    gate = asyncio.Event()
    started: list[int] = []
    peak: list[int] = []

    class Gated(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            started.append(event.payload)
            peak.append(len(wf.engine._runs))
            await step.do("wait", lambda: gate.wait())
            return event.payload

    wf.register("wf", Gated)
    await wf.engine.start()
    for n in range(15):
        wf.clock._now += 0.001  # distinct creation times
        await wf.engine.binding("wf").create(id=f"i{n:02d}", params=n)
    await wf.settle()
    assert started == [0, 1, 2, 3] and not wf.engine.is_idle()
    assert [r["status"] for r in wf.engine.list_instances("wf")].count("queued") == 11
    gate.set()
    for _ in range(20):
        await wf.settle()
    assert started == list(range(15)) and max(peak) <= 4
    assert all(r["status"] == "complete" for r in wf.engine.list_instances("wf"))
    # After a restart too, only the bound is admitted at once.
    gate.clear()
    for n in range(15, 25):
        await wf.engine.binding("wf").create(id=f"i{n}", params=n)
    await wf.settle()
    await wf.restart()
    started.clear()
    await wf.engine.start()
    await wf.settle()
    assert len(wf.engine._runs) == 4
    gate.set()
    for _ in range(20):
        await wf.settle()
    assert sorted(started) == list(range(15, 25))


async def test_instances_are_listed_in_pages(wf: Harness) -> None:
    from emulator.bindings.workflows import store as st

    class Noop(WorkflowEntrypoint):
        async def run(self, event: Any, step: Any) -> Any:
            return None

    wf.register("wf", Noop)
    await wf.engine.start()
    for n in range(7):
        wf.clock._now += 1 if n != 3 else 0  # two instances created in the same millisecond
        await wf.engine.binding("wf").create(id=f"i{n}")
    await wf.settle()
    everything = [i["id"] for i in wf.engine.list_instances("wf")]
    pages, cursor = [], None
    while True:
        page = wf.engine.list_instances("wf", limit=3, cursor=cursor)
        pages.append([i["id"] for i in page])
        if len(page) < 3:
            break
        cursor = st.instances_cursor(page[-1])
    assert [i for p in pages for i in p] == everything and len(everything) == 7
    assert [len(p) for p in pages] == [3, 3, 1]
