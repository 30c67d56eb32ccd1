"""The durable Workflows engine: instances, steps, timers and events over SQLite.

Model (Cloudflare's; docs/workflows.md, "Steps"): an instance runs ``run(event, step)``;
each ``step.do`` result is cached under ``<name>-<count>`` (``count`` = occurrence of the
name in this run), and whenever the instance resumes — process restart, ``resume()``
after ``pause()`` — ``run()`` is replayed from the top: cached steps return their stored
results without running, and the first uncached step runs for real.

Durability rule: every step result, attempt start, sleep deadline, event and status change
is committed (``WorkflowStore.write``) *before* the engine acts on it. An attempt whose
start was committed but whose end was not (the process died mid-step) is counted when the
instance resumes and the step runs again as the next attempt.

Time: every deadline (sleeps, event timeouts, retry delays, per-attempt timeouts) is an
epoch-millisecond value persisted in the state file and waited on through the injected
``Clock``, so ``FakeClock.advance()`` drives them in tests and a restart keeps them.
"""

from __future__ import annotations

import asyncio
import builtins
import datetime as _dt
import json
import math
import re
import sqlite3
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Awaitable, Callable, Mapping, Sequence

from emulator.bindings.workflows import store as st
from emulator.bindings.workflows.errors import (
    DefinitionUnavailable,
    WorkflowError,
    WorkflowFatalError,
    WorkflowTimeoutError,
)
from emulator.bindings.workflows.entrypoint import (
    NonRetryableDelayError,
    NonRetryableError,
    WorkflowEntrypoint,
    WorkflowEvent,
    WorkflowStep,
    error_message,
    error_name,
    is_non_retryable,
    parse_duration_ms,
)
from emulator.clock import Clock, Deadline
from emulator.jsobject import JsObject, to_js_object
from emulator.logs import EventLog

DEFAULT_STEP_LIMIT = 10_000
MAX_STEP_NAME = 256
MAX_OUTPUT_BYTES = 1024 * 1024
MAX_INSTANCE_ID = 100
INSTANCE_ID_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9-_]*$")
DEFAULT_RETRIES: dict[str, Any] = {"limit": 5, "delay": 1000, "backoff": "exponential"}
DEFAULT_TIMEOUT = "10 minutes"
DEFAULT_EVENT_TIMEOUT = "24 hours"
DELAY_FUNCTION_TIMEOUT_MS = 5000
CONFIG_DOC = "https://developers.cloudflare.com/workflows/build/sleeping-and-retrying/"
NON_RETRYABLE_FATAL = ("The execution of the Workflow instance was terminated, as a step threw an "
                       "NonRetryableError and it was not handled")
PARKED_RETRY_SECONDS = 0.25
# A run whose every branch waits on a timer at least this far away is unloaded (its state is
# all persisted) and replayed from the top when the timer is due or an event arrives, as
# Cloudflare's engine does after any interruption (docs/workflows.md, "Memory and start-up"): a sleeping
# instance costs a row on disk, not a task, its coroutine frames and its step results.
HIBERNATE_AFTER_MS = 30_000
# At most this many runs are live at once; further runnable instances wait in SQLite and are
# admitted in order (oldest first) as runs finish or unload.
MAX_LIVE_RUNS = 1000
ADMIT_BATCH = 100  # free slots that trigger one admission query


@dataclass
class WorkflowDefinition:
    """How to build the entrypoint of one workflow name."""

    name: str
    factory: Callable[[], WorkflowEntrypoint]
    step_limit: int = DEFAULT_STEP_LIMIT
    # Compat flag `workflows_preserve_non_retryable_error_message` (docs/workflows.md, "Errors").
    preserve_non_retryable_message: bool = False
    class_name: str | None = None
    script_name: str | None = None
    # How to call ``run()``: hosted apps run it as app code (output capture, ``workers.env``).
    runner: Callable[[WorkflowEntrypoint, WorkflowEvent, WorkflowStep], Awaitable[Any]] | None = None


@dataclass
class _StepConfig:
    limit: float
    delay: float | Callable[..., Any]
    backoff: str
    timeout_ms: float
    public: dict[str, Any] = field(default_factory=dict)
    public_json: str = ""


# --- helpers -------------------------------------------------------------------------
def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _fmt_ms(ms: float) -> str:
    return str(int(ms)) if float(ms).is_integer() else str(ms)


def _error_json(exc: BaseException) -> dict[str, str]:
    return {"name": error_name(exc), "message": error_message(exc)}


_REBUILT: dict[str, type[Exception]] = {}


def rebuild_error(err: Mapping[str, Any]) -> Exception:
    """An exception equivalent to a persisted ``{name, message}`` (rethrown on replay)."""
    name, message = str(err.get("name") or "Error"), str(err.get("message") or "")
    known: dict[str, type[Exception]] = {
        "NonRetryableError": NonRetryableError, "NonRetryableDelayError": NonRetryableDelayError,
        "WorkflowTimeoutError": WorkflowTimeoutError, "WorkflowFatalError": WorkflowFatalError,
        "WorkflowError": WorkflowError,
    }
    if name in known:
        return known[name](message)
    builtin = getattr(builtins, name, None)
    if isinstance(builtin, type) and issubclass(builtin, Exception):
        try:
            return builtin(message)
        except Exception:  # noqa: BLE001 - exotic constructor signatures (UnicodeDecodeError, ...)
            pass
    if name not in _REBUILT:
        _REBUILT[name] = type(name, (Exception,), {"name": name})
    return _REBUILT[name](message)


def _to_epoch_ms(value: Any) -> int:
    """``sleep_until`` targets: datetime (naive = UTC), epoch ms, or an ISO 8601 string."""
    if isinstance(value, _dt.datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=_dt.UTC)
        return round(aware.timestamp() * 1000)
    if isinstance(value, _dt.date):
        return _to_epoch_ms(_dt.datetime(value.year, value.month, value.day, tzinfo=_dt.UTC))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            return _to_epoch_ms(_dt.datetime.fromisoformat(text))
        except ValueError:
            pass
    raise TypeError(f"step.sleep_until needs a datetime, epoch milliseconds or an ISO 8601 string, got {value!r}")


def _event_value(stored: Mapping[str, Any]) -> JsObject:
    return JsObject(
        payload=to_js_object(stored.get("payload")),
        type=stored.get("type"),
        timestamp=_dt.datetime.fromtimestamp(int(stored.get("timestamp", 0)) / 1000, tz=_dt.UTC),
    )


_DEFAULT_CONFIG: _StepConfig | None = None


def resolve_config(name: str, config: Any) -> _StepConfig:
    """Merge a step config over Cloudflare's defaults; invalid shapes are fatal
    (docs/workflows.md, "Step config and retries")."""
    global _DEFAULT_CONFIG
    if config is None:
        # The common case, resolved once (a hot path: one call per step).
        if _DEFAULT_CONFIG is None:
            _DEFAULT_CONFIG = _resolve_config(name, {})
        return _DEFAULT_CONFIG
    return _resolve_config(name, config)


def _resolve_config(name: str, config: Any) -> _StepConfig:
    invalid = WorkflowFatalError(f'Step config for "{name}" is in a invalid format. See {CONFIG_DOC}')
    if config is None:
        config = {}
    if not isinstance(config, Mapping) or set(config) - {"retries", "timeout", "sensitive"}:
        raise invalid
    retries_in = config.get("retries", {})
    if not isinstance(retries_in, Mapping) or set(retries_in) - {"limit", "delay", "backoff"}:
        raise invalid
    retries = {**DEFAULT_RETRIES, **retries_in}

    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)

    limit = retries["limit"]
    if not number(limit) or limit < 0:
        raise invalid
    delay: float | Callable[..., Any]
    if callable(retries["delay"]):
        delay = retries["delay"]
    else:
        try:
            delay = parse_duration_ms(retries["delay"])
        except ValueError:
            raise invalid from None
        if delay < 0:
            raise invalid
    if retries["backoff"] not in ("constant", "linear", "exponential"):
        raise invalid
    try:
        timeout_ms = parse_duration_ms(config.get("timeout", DEFAULT_TIMEOUT))
    except ValueError:
        raise invalid from None
    if timeout_ms <= 0:
        raise invalid
    if "sensitive" in config and config["sensitive"] != "output":
        raise invalid
    public: dict[str, Any] = {
        "retries": {"limit": limit, "delay": "function" if callable(delay) else retries["delay"],
                    "backoff": retries["backoff"]},
        "timeout": config.get("timeout", DEFAULT_TIMEOUT),
    }
    if "sensitive" in config:
        public["sensitive"] = config["sensitive"]
    return _StepConfig(limit=limit, delay=delay, backoff=retries["backoff"], timeout_ms=timeout_ms,
                       public=public, public_json=_dumps(public))


# --- one run of one instance -------------------------------------------------------------
class _Run:
    """One execution of ``run()`` for an instance; the durable backend of its ``step``."""

    def __init__(self, engine: WorkflowEngine, workflow: str, instance_id: str, fresh: bool) -> None:
        self.engine = engine
        self.workflow = workflow
        self.instance_id = instance_id
        self.key = (workflow, instance_id)
        self.fresh = fresh
        self.counts: dict[str, int] = {}
        self.seq = 0
        self.steps_used = 0
        self.step_limit = DEFAULT_STEP_LIMIT
        self.executing = 0   # step.do attempts in flight
        self.blocked = 0     # waits on a timer or an event (sleep, waitForEvent, retry delay, pause gate)
        self.deadlines: list[int] = []  # of the blocked waits that have one (epoch ms)
        self.wakes_at: int | None = None  # when unloaded: its earliest deadline
        self.progressed = False  # started a new step or finished a pending one
        self.wake_requested = False  # an event arrived while the run was unloading
        self.forgotten = False
        self.status = st.QUEUED
        self.fatal: WorkflowFatalError | None = None
        self.pause_requested = False
        self.gate: asyncio.Future[None] | None = None
        self.cancel_reason: str | None = None
        self.event_waiters: dict[str, list[asyncio.Future[str]]] = {}
        self.claimed_events: set[int] = set()
        self.task: asyncio.Task[None] | None = None

    # state ------------------------------------------------------------------------
    @property
    def idle(self) -> bool:
        return self.blocked > 0 and self.executing == 0

    def _where(self) -> tuple[str, str]:
        return (self.workflow, self.instance_id)

    def cached(self, key: str) -> dict[str, Any] | None:
        """The persisted row of step ``key`` from an earlier run of this instance, if any.

        Read when the step is reached (one primary-key lookup), not loaded with every other
        step result when the run starts: a replay holds one step result at a time.
        """
        if self.fresh:
            return None
        rows = self.engine.store.query("SELECT * FROM steps WHERE workflow = ? AND instance = ? AND key = ?",
                                       (self.workflow, self.instance_id, key))
        return dict(rows[0]) if rows else None

    def _status_op(self, status: str) -> st.Op:
        self.status = status
        return ("UPDATE instances SET status = ? WHERE workflow = ? AND id = ? AND status IN "
                "('queued', 'running', 'waiting')", (status, *self._where()))

    def _fatal(self, message: str) -> WorkflowFatalError:
        err = WorkflowFatalError(message)
        if self.fatal is None:
            self.fatal = err
        return err

    def cancel(self, reason: str) -> None:
        self.cancel_reason = reason
        if self.task is not None and not self.task.done():
            self.task.cancel()

    async def _block_until(self, deadline_ms: int | None, signal: asyncio.Future[str] | None = None) -> str:
        """Wait for a persisted deadline (through the clock) or a signal, counted as idle."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[str] = signal if signal is not None else loop.create_future()
        handle = None
        if deadline_ms is not None:
            if deadline_ms <= self.engine.clock.now_ms():
                return "timeout"

            def expire() -> None:
                if not fut.done():
                    fut.set_result("timeout")
            handle = self.engine.clock.call_at(deadline_ms / 1000, expire)
            self.deadlines.append(deadline_ms)
            if deadline_ms - self.engine.clock.now_ms() >= HIBERNATE_AFTER_MS:
                loop.call_soon(self.engine._maybe_hibernate, self)
        self.blocked += 1
        try:
            return await fut
        finally:
            self.blocked -= 1
            if deadline_ms is not None:
                self.deadlines.remove(deadline_ms)
            if handle is not None:
                handle.cancel()

    async def _enter(self, name: Any) -> tuple[str, int]:
        """Common entry of every step call: pause gate, name rules, step limit, cache key."""
        while self.gate is not None:
            gate = self.gate
            self.blocked += 1
            try:
                await asyncio.shield(gate)
            finally:
                self.blocked -= 1
        if (not isinstance(name, str) or len(name) > MAX_STEP_NAME
                or any(ord(c) < 0x20 for c in name)):
            raise self._fatal(f'Step name "{name}" exceeds max length ({MAX_STEP_NAME} chars) '
                              "or invalid characters found")
        self.steps_used += 1
        if self.steps_used > self.step_limit:
            raise self._fatal(f"The limit of {self.step_limit} steps has been reached. "
                              "This limit can be changed in your worker configuration.")
        count = self.counts.get(name, 0) + 1
        self.counts[name] = count
        return f"{name}-{count}", count

    def _new_seq(self) -> int:
        self.seq += 1
        self.progressed = True
        return self.seq

    async def _after_step(self) -> None:
        """A deferred pause (``waitingForPause``) completes when no step.do is in flight."""
        self.progressed = True
        if self.pause_requested and self.executing == 0:
            await self.engine._enter_paused(self)
            await asyncio.sleep(0)  # the cancellation lands here

    # step.do ----------------------------------------------------------------------
    def missing_callback(self, name: str) -> BaseException:
        return self._fatal(f'Step "{name}" requires a callback function')

    async def do(self, name: str, config: Mapping[str, Any] | None,
                 invoke: Callable[[JsObject], Awaitable[Any]]) -> Any:
        key, count = await self._enter(name)
        cfg = resolve_config(name, config) if not isinstance(config, _StepConfig) else config
        clock, write = self.engine.clock, self.engine.store.write
        row = self.cached(key)
        if row is not None:
            if row["status"] == "complete":
                return to_js_object(json.loads(row["output"]))
            if row["status"] == "errored":
                err = json.loads(row["error"])
                if err.get("name") == "WorkflowFatalError":
                    raise self._fatal(err.get("message", ""))
                raise rebuild_error(err)
        where = self._where()
        attempts = int(row["attempts"]) if row else 0
        retry_at = row["deadline_ms"] if row else None
        started_ms = row["started_ms"] if row else None
        seq = int(row["seq"]) if row else self._new_seq()
        config_json = cfg.public_json
        if row is not None and attempts > 0 and retry_at is None:
            # The process stopped mid-attempt: that attempt counts (it may have had effects).
            if attempts >= cfg.limit + 1:
                err = {"name": "Error", "message": (
                    f'Step "{name}" was interrupted by an emulator restart during its last attempt '
                    f"({attempts} of {_fmt_ms(cfg.limit + 1)})")}
                await write(("UPDATE steps SET status = 'errored', error = ?, ended_ms = ? WHERE workflow = ? "
                             "AND instance = ? AND key = ?", (_dumps(err), clock.now_ms(), *where, key)))
                raise rebuild_error(err)
        elif retry_at is not None:
            await self._block_until(int(retry_at))
        step_info = JsObject(name=name, count=count)
        while True:
            attempt = attempts + 1
            now = clock.now_ms()
            if started_ms is None:
                started_ms = now
            await write(
                ("INSERT INTO steps (workflow, instance, key, seq, name, count, type, status, attempts, config, "
                 "started_ms) VALUES (?, ?, ?, ?, ?, ?, 'do', 'running', ?, ?, ?) ON CONFLICT (workflow, instance, "
                 "key) DO UPDATE SET status = 'running', attempts = excluded.attempts, deadline_ms = NULL",
                 (*where, key, seq, name, count, attempt, config_json, started_ms)),
                ("INSERT OR REPLACE INTO attempts (workflow, instance, key, attempt, started_ms) "
                 "VALUES (?, ?, ?, ?, ?)", (*where, key, attempt, now)),
            )
            ctx = JsObject(step=step_info, attempt=attempt, config=to_js_object(json.loads(config_json)))
            self.executing += 1
            failure: Exception | None = None
            try:
                value = await self._attempt(invoke, ctx, cfg.timeout_ms)
            except asyncio.CancelledError:
                self.executing -= 1
                raise
            except Exception as exc:  # noqa: BLE001 - app code may raise anything; the step's retry policy decides
                self.executing -= 1
                failure = exc
            else:
                self.executing -= 1
            if self.deadlines and not self.executing:
                # Other branches may be left waiting on long timers only.
                asyncio.get_running_loop().call_soon(self.engine._maybe_hibernate, self)
            end = clock.now_ms()
            if failure is None:
                fatal: WorkflowFatalError | None = None
                try:
                    encoded = _dumps(value)
                except (TypeError, ValueError):
                    fatal = self._fatal("The execution of the Workflow instance was terminated, as the step "
                                        f'"{name}" returned a value which is not serialisable')
                else:
                    if len(encoded.encode()) > MAX_OUTPUT_BYTES:
                        fatal = self._fatal(f"Step {name}-{count} output is too large. "
                                            "Maximum allowed size is 1MiB.")
                if fatal is not None:
                    err_text = _dumps(_error_json(fatal))
                    await write(
                        ("UPDATE steps SET status = 'errored', error = ?, ended_ms = ? WHERE workflow = ? "
                         "AND instance = ? AND key = ?", (err_text, end, *where, key)),
                        ("UPDATE attempts SET ended_ms = ?, error = ? WHERE workflow = ? AND instance = ? "
                         "AND key = ? AND attempt = ?", (end, err_text, *where, key, attempt)),
                    )
                    raise fatal
                await write(
                    ("UPDATE steps SET status = 'complete', output = ?, ended_ms = ? WHERE workflow = ? "
                     "AND instance = ? AND key = ?", (encoded, end, *where, key)),
                    ("UPDATE attempts SET ended_ms = ? WHERE workflow = ? AND instance = ? AND key = ? "
                     "AND attempt = ?", (end, *where, key, attempt)),
                )
                self.engine._log_step(self, name, count, attempt, end - started_ms, None)
                await self._after_step()
                return to_js_object(json.loads(encoded))
            err_text = _dumps(_error_json(failure))
            final = is_non_retryable(failure) or attempt >= cfg.limit + 1
            delay_ms = 0.0
            if not final:
                try:
                    delay_ms = await self._retry_delay(cfg, ctx, failure, attempt, name, count)
                except NonRetryableDelayError as delay_error:
                    failure, final = delay_error, True
                    err_text = _dumps(_error_json(failure))
            if final:
                await write(
                    ("UPDATE steps SET status = 'errored', error = ?, ended_ms = ? WHERE workflow = ? "
                     "AND instance = ? AND key = ?", (err_text, end, *where, key)),
                    ("UPDATE attempts SET ended_ms = ?, error = ? WHERE workflow = ? AND instance = ? "
                     "AND key = ? AND attempt = ?", (end, err_text, *where, key, attempt)),
                )
                self.engine._log_step(self, name, count, attempt, end - started_ms, failure)
                await self._after_step()
                raise failure
            retry_at = end + int(delay_ms)
            await write(
                ("UPDATE steps SET deadline_ms = ?, error = ? WHERE workflow = ? AND instance = ? AND key = ?",
                 (retry_at, err_text, *where, key)),
                ("UPDATE attempts SET ended_ms = ?, error = ? WHERE workflow = ? AND instance = ? "
                 "AND key = ? AND attempt = ?", (end, err_text, *where, key, attempt)),
            )
            self.engine.log.warn("workflows", f"{self.workflow}/{self.instance_id}: step {name} attempt "
                                 f"{attempt} failed: {error_name(failure)}: {error_message(failure)}; retrying in "
                                 f"{_fmt_ms(delay_ms)} ms", workflow=self.workflow, instance=self.instance_id,
                                 step=name, attempt=attempt)
            await self._after_step()
            await self._block_until(retry_at)
            attempts = attempt

    async def _attempt(self, invoke: Callable[[JsObject], Awaitable[Any]], ctx: JsObject,
                       timeout_ms: float) -> Any:
        """One attempt, cancelled by a clock timer after the step's timeout (per attempt)."""
        task = asyncio.ensure_future(invoke(ctx))
        deadline = Deadline(self.engine.clock, timeout_ms / 1000, task)
        try:
            return await task
        except asyncio.CancelledError:
            if deadline.expired:
                raise WorkflowTimeoutError(f"Execution timed out after {_fmt_ms(timeout_ms)}ms") from None
            raise
        finally:
            deadline.cancel()

    async def _retry_delay(self, cfg: _StepConfig, ctx: JsObject, failure: Exception, attempt: int,
                           name: str, count: int) -> float:
        """Cloudflare's backoff after the k-th failure: constant d, linear d·k, exponential d·2^(k−1)."""
        if not callable(cfg.delay):
            base = float(cfg.delay)
            if cfg.backoff == "linear":
                return base * attempt
            if cfg.backoff == "exponential":
                return base * 2.0 ** (attempt - 1)
            return base
        prefix = f'The delay function for step "{name}-{count}" '
        try:
            result = cfg.delay(JsObject(ctx=ctx, error=failure))
            if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                task = asyncio.ensure_future(result)
                timer: asyncio.Future[None] = asyncio.get_running_loop().create_future()

                def expire() -> None:
                    if not timer.done():
                        timer.set_result(None)

                handle = self.engine.clock.call_later(DELAY_FUNCTION_TIMEOUT_MS / 1000, expire)
                try:
                    done, _ = await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    handle.cancel()
                if task not in done:
                    task.cancel()
                    raise NonRetryableDelayError(prefix + "did not return within 5 seconds")
                result = task.result()
        except NonRetryableDelayError:
            raise
        except Exception as exc:
            raise NonRetryableDelayError(prefix + f"threw an error: {error_message(exc)}") from exc
        try:
            value = parse_duration_ms(result)
        except ValueError:
            value = -1
        if value < 0:
            raise NonRetryableDelayError(prefix + 'returned an invalid delay value (expected a number of ms '
                                         'or a duration string like "30 seconds")')
        return value

    # sleeps -----------------------------------------------------------------------
    async def sleep(self, name: str, duration: Any) -> None:
        key, count = await self._enter(name)
        row = self.cached(key)
        if row is not None and row["status"] == "complete":
            return
        try:
            ms = parse_duration_ms(duration)
        except ValueError:
            raise TypeError(f'step.sleep("{name}") needs milliseconds or a duration string like '
                            f'"10 seconds", got {duration!r}') from None
        deadline = int(row["deadline_ms"]) if row else self.engine.clock.now_ms() + int(ms)
        await self._sleep_to(key, name, count, row, deadline, {"duration": duration})

    async def sleep_until(self, name: str, when: Any) -> None:
        key, count = await self._enter(name)
        row = self.cached(key)
        if row is not None and row["status"] == "complete":
            return
        target = _to_epoch_ms(when)
        if row is None and target <= self.engine.clock.now_ms():
            raise ValueError("You can't sleep until a time in the past, time-traveler")
        deadline = int(row["deadline_ms"]) if row else target
        await self._sleep_to(key, name, count, row, deadline, {"until": target})

    async def _sleep_to(self, key: str, name: str, count: int, row: dict[str, Any] | None,
                        deadline: int, config: dict[str, Any]) -> None:
        clock, write, where = self.engine.clock, self.engine.store.write, self._where()
        now = clock.now_ms()
        ops: list[st.Op] = []
        if row is None:
            ops.append(("INSERT OR REPLACE INTO steps (workflow, instance, key, seq, name, count, type, status, "
                        "config, started_ms, deadline_ms) VALUES (?, ?, ?, ?, ?, ?, 'sleep', 'sleeping', ?, ?, ?)",
                        (*where, key, self._new_seq(), name, count, _dumps(config), now, deadline)))
        if deadline > now and self.executing == 0:
            ops.append(self._status_op(st.WAITING))
        if ops:
            await write(*ops)
        await self._block_until(deadline)
        ops = [("UPDATE steps SET status = 'complete', ended_ms = ? WHERE workflow = ? AND instance = ? AND key = ?",
                (clock.now_ms(), *where, key))]
        if self.status == st.WAITING:
            ops.append(self._status_op(st.RUNNING))
        await write(*ops)
        self.progressed = True

    # events -------------------------------------------------------------------------
    async def wait_for_event(self, name: str, event_type: str, timeout: Any) -> JsObject:
        key, count = await self._enter(name)
        row = self.cached(key)
        if row is not None:
            if row["status"] == "complete":
                return _event_value(json.loads(row["output"]))
            if row["status"] == "errored":
                raise rebuild_error(json.loads(row["error"]))
        timeout = DEFAULT_EVENT_TIMEOUT if timeout is None else timeout
        try:
            timeout_ms = parse_duration_ms(timeout)
        except ValueError:
            raise TypeError(f'step.wait_for_event("{name}"): timeout must be milliseconds or a duration '
                            f'string like "1 hour", got {timeout!r}') from None
        clock, write, where = self.engine.clock, self.engine.store.write, self._where()
        deadline = int(row["deadline_ms"]) if row else clock.now_ms() + int(timeout_ms)
        if row is None:
            await write(("INSERT OR REPLACE INTO steps (workflow, instance, key, seq, name, count, type, status, "
                         "config, started_ms, deadline_ms) VALUES (?, ?, ?, ?, ?, ?, 'waitForEvent', 'waiting', "
                         "?, ?, ?)", (*where, key, self._new_seq(), name, count,
                                      _dumps({"type": event_type, "timeout": timeout}), clock.now_ms(), deadline)))
        while True:
            event = self._take_event(event_type)
            if event is not None:
                seq, stored = event
                ops: list[st.Op] = [
                    ("UPDATE events SET consumed_by = ? WHERE seq = ?", (key, seq)),
                    ("UPDATE steps SET status = 'complete', output = ?, ended_ms = ? WHERE workflow = ? "
                     "AND instance = ? AND key = ?", (_dumps(stored), clock.now_ms(), *where, key)),
                ]
                if self.status == st.WAITING:
                    ops.append(self._status_op(st.RUNNING))
                await write(*ops)
                self.progressed = True
                return _event_value(stored)
            if clock.now_ms() >= deadline:
                err = WorkflowTimeoutError(f"Execution timed out after {_fmt_ms(timeout_ms)}ms")
                ops = [("UPDATE steps SET status = 'errored', error = ?, ended_ms = ? WHERE workflow = ? "
                        "AND instance = ? AND key = ?", (_dumps(_error_json(err)), clock.now_ms(), *where, key))]
                if self.status == st.WAITING:
                    ops.append(self._status_op(st.RUNNING))
                await write(*ops)
                self.progressed = True
                raise err
            if self.status != st.WAITING and self.executing == 0:
                await write(self._status_op(st.WAITING))
            signal: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            waiters = self.event_waiters.setdefault(event_type, [])
            waiters.append(signal)
            try:
                await self._block_until(deadline, signal)
            finally:
                if signal in waiters:
                    waiters.remove(signal)

    def _take_event(self, event_type: str) -> tuple[int, dict[str, Any]] | None:
        """The oldest unconsumed event of this type (FIFO, events sent before the wait count)."""
        rows = self.engine.store.query(
            "SELECT seq, type, payload, timestamp_ms FROM events WHERE workflow = ? AND instance = ? AND type = ? "
            "AND consumed_by IS NULL ORDER BY seq LIMIT ?",
            (*self._where(), event_type, len(self.claimed_events) + 1))
        for r in rows:
            if r["seq"] not in self.claimed_events:
                self.claimed_events.add(r["seq"])
                return r["seq"], {"payload": json.loads(r["payload"]), "type": r["type"],
                                  "timestamp": r["timestamp_ms"]}
        return None


# --- the engine ------------------------------------------------------------------------------
class WorkflowEngine:
    """All workflow instances of one state directory."""

    def __init__(self, db_path: Path, clock: Clock, log: EventLog | None = None) -> None:
        self.store = st.WorkflowStore(Path(db_path))
        self.clock = clock
        self.log = log or EventLog()
        self.definitions: dict[str, WorkflowDefinition] = {}
        self._runs: dict[tuple[str, str], _Run] = {}
        self._parked: dict[tuple[str, str], str] = {}
        self._parked_timer: asyncio.TimerHandle | None = None
        self._started = False
        self._finish_waiters: dict[tuple[str, str], list[asyncio.Future[None]]] = {}
        # The one timer for every unloaded instance: the earliest persisted deadline.
        self._wake_handle: Any = None
        self._wake_at: int | None = None
        # Runnable instances were left in SQLite because MAX_LIVE_RUNS runs were live.
        self._backlogged = False
        self._admitting = False
        # Instances that unloaded right after being woken without doing anything (a replay
        # that does not reach its pending step: run() is not deterministic) → their wake
        # time: not admitted again before it, or they would wake and unload in a loop.
        self._dormant: dict[tuple[str, str], int] = {}

    # definitions -----------------------------------------------------------------------
    def register(self, name: str, factory: Callable[[], WorkflowEntrypoint], *,
                 step_limit: int = DEFAULT_STEP_LIMIT, preserve_non_retryable_message: bool = False,
                 class_name: str | None = None, script_name: str | None = None,
                 runner: Callable[[WorkflowEntrypoint, WorkflowEvent, WorkflowStep], Awaitable[Any]] | None = None,
                 ) -> WorkflowDefinition:
        """Define (or redefine) the workflow ``name``; ``factory()`` builds its entrypoint per run."""
        definition = WorkflowDefinition(name, factory, step_limit, preserve_non_retryable_message,
                                        class_name, script_name, runner)
        self.definitions[name] = definition
        if self._started:
            self._record_definition(definition)
            self._retry_parked()
        return definition

    def _record_definition(self, d: WorkflowDefinition) -> None:
        self._ensure_open()
        self.store.record_definition(d.name, d.class_name, d.script_name)

    def binding(self, name: str) -> Any:
        """The ``env.WF`` object for workflow ``name`` (for tests and the pytest plugin)."""
        from emulator.bindings.workflows.binding import Workflow
        return Workflow(self, name)

    # lifecycle -------------------------------------------------------------------------
    def _ensure_open(self) -> None:
        self.store.open()  # once: opening an open store does nothing

    async def start(self) -> None:
        """Open the state file and resume the instances that can run now.

        Queued and running instances, and waiting ones whose deadline has passed or that have
        an event to take, are scheduled (at most ``MAX_LIVE_RUNS``; the rest are admitted as
        runs finish). An instance whose every pending step waits on a future deadline stays
        on disk until the wake timer reaches it: nothing is loaded per sleeping instance.
        """
        if self._started:
            return
        self._ensure_open()
        for d in self.definitions.values():
            self._record_definition(d)
        self._started = True
        # The pause was waiting for in-flight steps; after a restart none are in flight.
        await self.store.write(("UPDATE instances SET status = 'paused', paused_ms = ? WHERE status = ?",
                                (self.clock.now_ms(), st.WAITING_FOR_PAUSE)))
        resumed = self._admit()
        self._wake()
        if resumed:
            self.log.info("workflows", f"resuming {resumed} workflow instance(s)")

    async def stop(self) -> None:
        """Stop every run where it is; its persisted state resumes on the next start."""
        self._started = False
        if self._wake_handle is not None:
            self._wake_handle.cancel()
            self._wake_handle = self._wake_at = None
        if self._parked_timer is not None:
            self._parked_timer.cancel()
            self._parked_timer = None
        runs = list(self._runs.values())
        for run in runs:
            run.cancel("stop")
        tasks = [r.task for r in runs if r.task is not None]
        if tasks:
            await asyncio.wait(tasks)
        await self.store.aclose()

    def is_idle(self) -> bool:
        """Nothing runnable: every live run waits on a timer or an event, nothing is
        uncommitted and no runnable instance waits in SQLite for a free slot."""
        if self.store.pending or self._backlogged or self._admitting:
            return False
        return all(run.idle for run in self._runs.values())

    # scheduling ------------------------------------------------------------------------
    def _schedule(self, workflow: str, instance_id: str, fresh: bool, *, asked: bool = False) -> None:
        """Start a run of the instance (``asked``: by an explicit call — resume, restart, an
        event — which also ends a dormant period)."""
        key = (workflow, instance_id)
        if asked:
            self._dormant.pop(key, None)
        if key in self._runs or not self._started:
            return
        if len(self._runs) >= MAX_LIVE_RUNS:
            # Its row says what to do next (queued, or a step to replay): _admit finds it.
            self._backlogged = True
            return
        self._parked.pop(key, None)
        run = _Run(self, workflow, instance_id, fresh)
        self._runs[key] = run
        run.task = asyncio.get_running_loop().create_task(self._drive(run))
        # A task cancelled before it first runs never enters _drive's `finally`.
        run.task.add_done_callback(lambda _task: self._forget(run))

    def _forget(self, run: _Run) -> None:
        if run.forgotten:
            return
        run.forgotten = True
        if self._runs.get(run.key) is run:
            del self._runs[run.key]
        if not self._started:
            return
        if run.cancel_reason == "hibernate":
            if run.wake_requested:  # an event arrived while it was unwinding
                self._schedule(run.workflow, run.instance_id, fresh=False, asked=True)
            elif run.wakes_at is not None:
                if not run.progressed and not run.fresh:
                    if len(self._dormant) >= MAX_LIVE_RUNS * 10:  # a bound, not a registry
                        self._dormant.clear()
                    self._dormant[run.key] = run.wakes_at
                self._arm_wake(run.wakes_at)
        if (self._backlogged and not self._admitting
                and (len(self._runs) <= MAX_LIVE_RUNS - ADMIT_BATCH or not self._runs)):
            self._admitting = True  # one admission pass per batch of free slots
            asyncio.get_running_loop().call_soon(self._admit)

    # unloading and waking ------------------------------------------------------------------
    def _maybe_hibernate(self, run: _Run) -> None:
        """Unload ``run`` if every branch of it waits on a timer ``HIBERNATE_AFTER_MS`` or more
        away: all it did is committed, so the wake timer (or an event) replays it later."""
        if (self._runs.get(run.key) is not run or not self._started or run.executing
                or run.cancel_reason is not None or run.pause_requested or run.gate is not None
                or not run.deadlines or run.blocked != len(run.deadlines)):
            return
        wakes_at = min(run.deadlines)
        if wakes_at - self.clock.now_ms() < HIBERNATE_AFTER_MS:
            return
        run.wakes_at = wakes_at
        run.cancel("hibernate")

    def _arm_wake(self, at_ms: int) -> None:
        if not self._started or (self._wake_at is not None and self._wake_at <= at_ms):
            return
        if self._wake_handle is not None:
            self._wake_handle.cancel()
        self._wake_at = at_ms
        self._wake_handle = self.clock.call_at(at_ms / 1000, self._wake)

    def _wake(self) -> None:
        """Schedule the unloaded instances that are due, then arm the timer for the next."""
        self._wake_handle = self._wake_at = None
        if not self._started:
            return
        now = self.clock.now_ms()
        for key, wakes_at in list(self._dormant.items()):
            if wakes_at <= now:
                del self._dormant[key]
        for workflow, instance_id in self.store.due_instances(now, MAX_LIVE_RUNS):
            key = (workflow, instance_id)
            if key not in self._parked and key not in self._dormant:
                self._schedule(workflow, instance_id, fresh=False)
        following = self.store.next_deadline(now)
        if following is not None:
            self._arm_wake(following)

    def _admit(self) -> int:
        """Schedule runnable instances that are not live, oldest first, up to MAX_LIVE_RUNS."""
        self._admitting = False
        if not self._started:
            return 0
        self._backlogged = False
        admitted = 0
        free = MAX_LIVE_RUNS - len(self._runs)
        if free <= 0:
            self._backlogged = True
            return 0
        # Enough candidates to fill the free slots even if every live run is among them.
        for workflow, instance_id in self.store.runnable_instances(self.clock.now_ms(), free, len(self._runs)):
            key = (workflow, instance_id)
            if key in self._runs or key in self._parked or key in self._dormant:
                continue
            if len(self._runs) >= MAX_LIVE_RUNS:
                break
            self._schedule(workflow, instance_id, fresh=False)
            admitted += 1
        # Every free slot taken: more may be waiting (the next admission looks).
        self._backlogged = admitted >= free
        return admitted

    def _park(self, run: _Run, reason: str) -> None:
        """No class to run yet (app not loaded): keep the instance queued and retry soon."""
        if run.key not in self._parked:
            self.log.warn("workflows", f"{run.workflow}/{run.instance_id}: waiting for its workflow class: {reason}",
                          workflow=run.workflow, instance=run.instance_id)
        self._parked[run.key] = reason
        if self._parked_timer is None and self._started:
            # Infrastructure polling (not workflow time), so it uses the loop, not the clock.
            self._parked_timer = asyncio.get_running_loop().call_later(PARKED_RETRY_SECONDS, self._retry_parked)

    def _retry_parked(self) -> None:
        self._parked_timer = None
        for workflow, instance_id in list(self._parked):
            if workflow in self.definitions:
                self._schedule(workflow, instance_id, fresh=False)

    async def _drive(self, run: _Run) -> None:
        try:
            definition = self.definitions.get(run.workflow)
            if definition is None:
                self._park(run, f'no app defines workflow "{run.workflow}"')
                return
            run.step_limit = definition.step_limit
            row = self.store.query("SELECT params, created_ms, status FROM instances WHERE workflow = ? AND id = ?",
                                   run.key)
            if not row or row[0]["status"] not in (st.QUEUED, st.RUNNING, st.WAITING):
                return
            try:
                entry = definition.factory()
            except DefinitionUnavailable as exc:
                self._park(run, str(exc))
                return
            except Exception as exc:  # noqa: BLE001 - the app's constructor may raise anything; the instance errors
                await self._finish(run, definition, None, exc)
                return
            if not run.fresh:
                # Step results are read one at a time as the replay reaches them (_Run.cached).
                run.seq = int(self.store.query("SELECT COALESCE(MAX(seq), 0) FROM steps WHERE workflow = ? "
                                               "AND instance = ?", run.key)[0][0])
            run.status = st.RUNNING
            await self.store.write(
                ("UPDATE instances SET status = 'running', started_ms = COALESCE(started_ms, ?) WHERE workflow = ? "
                 "AND id = ? AND status IN ('queued', 'running', 'waiting')", (self.clock.now_ms(), *run.key)))
            if run.fresh:
                self.log.info("workflows", f"{run.workflow}/{run.instance_id}: started",
                              workflow=run.workflow, instance=run.instance_id)
            event = WorkflowEvent.build(json.loads(row[0]["params"]), int(row[0]["created_ms"]),
                                        run.instance_id, run.workflow)
            try:
                step = WorkflowStep(run)
                if definition.runner is not None:
                    output = await definition.runner(entry, event, step)
                else:
                    output = await entry.run(event, step)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - app code may raise anything; the instance errors
                await self._finish(run, definition, None, exc)
            else:
                await self._finish(run, definition, output, None)
        except asyncio.CancelledError:
            # pause / terminate / restart wrote their own status; "stop" leaves it for the next start.
            pass
        finally:
            self._forget(run)

    async def _finish(self, run: _Run, definition: WorkflowDefinition, output: Any,
                      exc: BaseException | None) -> None:
        error: dict[str, str] | None = None
        encoded: str | None = None
        if run.fatal is not None:
            error = _error_json(run.fatal)
        elif exc is not None:
            if is_non_retryable(exc):
                error = ({"name": "NonRetryableError", "message": error_message(exc)}
                         if definition.preserve_non_retryable_message
                         else {"name": "WorkflowFatalError", "message": NON_RETRYABLE_FATAL})
            else:
                error = _error_json(exc)
        else:
            try:
                encoded = _dumps(output)
            except (TypeError, ValueError):
                error = {"name": "WorkflowFatalError", "message": (
                    "The execution of the Workflow instance was terminated, as run() returned a value "
                    "which is not serialisable")}
        status = st.ERRORED if error is not None else st.COMPLETE
        run.status = status
        await self.store.write(
            ("UPDATE instances SET status = ?, output = ?, error = ?, ended_ms = ? WHERE workflow = ? AND id = ? "
             "AND status IN ('queued', 'running', 'waiting', 'waitingForPause')",
             (status, encoded, _dumps(error) if error else None, self.clock.now_ms(), *run.key)))
        self._notify_finished(run.key)
        if error is None:
            self.log.info("workflows", f"{run.workflow}/{run.instance_id}: complete",
                          workflow=run.workflow, instance=run.instance_id, status=status)
        else:
            self.log.error("workflows", f"{run.workflow}/{run.instance_id}: errored: {error['name']}: "
                           f"{error['message']}", workflow=run.workflow, instance=run.instance_id, status=status)

    def _log_step(self, run: _Run, name: str, count: int, attempt: int, duration_ms: int,
                  failure: BaseException | None) -> None:
        label = name if count == 1 else f"{name} (#{count})"
        if failure is None:
            self.log.info("workflows", f"{run.workflow}/{run.instance_id}: step {label} complete "
                          f"(attempt {attempt}, {duration_ms} ms)", workflow=run.workflow,
                          instance=run.instance_id, step=name, attempt=attempt)
        else:
            self.log.warn("workflows", f"{run.workflow}/{run.instance_id}: step {label} failed after {attempt} "
                          f"attempt(s): {error_name(failure)}: {error_message(failure)}", workflow=run.workflow,
                          instance=run.instance_id, step=name, attempt=attempt)

    async def _enter_paused(self, run: _Run) -> None:
        run.pause_requested = False
        run.cancel_reason = "pause"
        if run.gate is None:
            run.gate = asyncio.get_running_loop().create_future()
        run.status = st.PAUSED
        await self.store.write(("UPDATE instances SET status = 'paused', paused_ms = ? WHERE workflow = ? AND id = ?",
                                (self.clock.now_ms(), *run.key)))
        self.log.info("workflows", f"{run.workflow}/{run.instance_id}: paused",
                      workflow=run.workflow, instance=run.instance_id)
        run.cancel("pause")

    async def _wait_run_gone(self, run: _Run) -> None:
        task = run.task
        if task is not None and task is not asyncio.current_task() and not task.done():
            await asyncio.wait([task])

    # instance API (what the binding calls) -----------------------------------------------
    def _row(self, workflow: str, instance_id: str) -> sqlite3.Row:
        self._ensure_open()
        rows = self.store.query("SELECT * FROM instances WHERE workflow = ? AND id = ?", (workflow, instance_id))
        if not rows:
            raise WorkflowError("(instance.not_found) Instance does not exist")
        return rows[0]

    def exists(self, workflow: str, instance_id: str) -> bool:
        self._ensure_open()
        return bool(self.store.query("SELECT 1 FROM instances WHERE workflow = ? AND id = ?",
                                     (workflow, instance_id)))

    @staticmethod
    def _check_id(instance_id: Any) -> str:
        if (not isinstance(instance_id, str) or len(instance_id) > MAX_INSTANCE_ID
                or not INSTANCE_ID_RE.match(instance_id)):
            raise WorkflowError("Workflow instance has invalid id")
        return instance_id

    async def create(self, workflow: str, instance_id: str | None = None, params: Any = None) -> str:
        ids = await self.create_batch(workflow, [(instance_id, params)])
        return ids[0]

    async def create_batch(self, workflow: str, items: Sequence[tuple[str | None, Any]]) -> list[str]:
        """Create instances (queued, committed), then start them in the background."""
        if not items:
            raise WorkflowError("batchCreate should have at least 1 instance")
        self._ensure_open()
        now = self.clock.now_ms()
        ops: list[st.Op] = []
        ids: list[str] = []
        for instance_id, params in items:
            instance_id = str(uuid.uuid4()) if instance_id is None else self._check_id(instance_id)
            if instance_id in ids or self.exists(workflow, instance_id):
                # Production refuses an existing id (Miniflare returns the old instance):
                # docs/parity.md, "Workflows".
                raise WorkflowError(f'(instance.already_exists) Instance "{instance_id}" already exists')
            try:
                encoded = _dumps({} if params is None else params)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"workflow params must be JSON-serialisable: {exc}") from None
            ids.append(instance_id)
            ops.append(("INSERT INTO instances (workflow, id, status, params, created_ms) "
                        "VALUES (?, ?, 'queued', ?, ?)", (workflow, instance_id, encoded, now)))
        try:
            await self.store.write(*ops)
        except sqlite3.IntegrityError:
            raise WorkflowError("(instance.already_exists) Instance already exists") from None
        for instance_id in ids:
            self._schedule(workflow, instance_id, fresh=True)
        return ids

    def _notify_finished(self, key: tuple[str, str]) -> None:
        for fut in self._finish_waiters.pop(key, []):
            if not fut.done():
                fut.set_result(None)

    async def wait_finished(self, workflow: str, instance_id: str) -> JsObject:
        """Wait (without polling) until the instance is complete, errored or terminated; its status.

        Not part of Cloudflare's API: for tests, the pytest plugin and benchmarks.
        """
        while True:
            status = await self.status(workflow, instance_id)
            if status["status"] in st.FINITE:
                return status
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._finish_waiters.setdefault((workflow, instance_id), []).append(fut)
            await fut

    async def status(self, workflow: str, instance_id: str) -> JsObject:
        row = self._row(workflow, instance_id)
        status = row["status"] if row["status"] in st.STATUSES else st.UNKNOWN
        return JsObject(
            status=status,
            output=to_js_object(json.loads(row["output"])) if row["output"] is not None else None,
            error=to_js_object(json.loads(row["error"])) if row["error"] is not None else None,
        )

    async def pause(self, workflow: str, instance_id: str) -> None:
        """running/waiting → paused once no step.do is in flight (``waitingForPause`` meanwhile)."""
        row = self._row(workflow, instance_id)
        if row["status"] not in (st.QUEUED, st.RUNNING, st.WAITING):
            return
        run = self._runs.get((workflow, instance_id))
        if run is not None and run.executing > 0:
            run.pause_requested = True
            if run.gate is None:
                run.gate = asyncio.get_running_loop().create_future()
            run.status = st.WAITING_FOR_PAUSE
            await self.store.write(("UPDATE instances SET status = 'waitingForPause' WHERE workflow = ? AND id = ?",
                                    (workflow, instance_id)))
            return
        if run is not None:
            await self._enter_paused(run)
            await self._wait_run_gone(run)
        else:
            await self.store.write(("UPDATE instances SET status = 'paused', paused_ms = ? WHERE workflow = ? "
                                    "AND id = ?", (self.clock.now_ms(), workflow, instance_id)))

    async def resume(self, workflow: str, instance_id: str) -> None:
        """waitingForPause → running; paused → running, timers shifted by the paused time."""
        row = self._row(workflow, instance_id)
        key = (workflow, instance_id)
        if row["status"] == st.WAITING_FOR_PAUSE:
            run = self._runs.get(key)
            if run is not None:
                run.pause_requested = False
                gate, run.gate = run.gate, None
                if gate is not None and not gate.done():
                    gate.set_result(None)
                run.status = st.RUNNING
            await self.store.write(("UPDATE instances SET status = 'running' WHERE workflow = ? AND id = ? "
                                    "AND status = 'waitingForPause'", key))
            return
        if row["status"] != st.PAUSED:
            return
        run = self._runs.get(key)
        if run is not None:
            # A deferred pause may still be unwinding its run; start the new one after it.
            await self._wait_run_gone(run)
        delta = self.clock.now_ms() - int(row["paused_ms"] or self.clock.now_ms())
        await self.store.write(*st.shift_ops(workflow, instance_id, delta),
                               ("UPDATE instances SET status = 'running', paused_ms = NULL WHERE workflow = ? "
                                "AND id = ?", key))
        self.log.info("workflows", f"{workflow}/{instance_id}: resumed", workflow=workflow, instance=instance_id)
        self._schedule(workflow, instance_id, fresh=False, asked=True)

    async def terminate(self, workflow: str, instance_id: str) -> None:
        row = self._row(workflow, instance_id)
        if row["status"] in st.FINITE:
            raise WorkflowError("(instance.cannot_terminate) Cannot terminate instance since its on a finite state")
        await self.store.write(("UPDATE instances SET status = 'terminated', ended_ms = ? WHERE workflow = ? "
                                "AND id = ? AND status NOT IN ('complete', 'errored', 'terminated')",
                                (self.clock.now_ms(), workflow, instance_id)))
        self.log.info("workflows", f"{workflow}/{instance_id}: terminated", workflow=workflow, instance=instance_id)
        self._notify_finished((workflow, instance_id))
        run = self._runs.get((workflow, instance_id))
        self._parked.pop((workflow, instance_id), None)
        if run is not None:
            run.cancel("terminate")
            await self._wait_run_gone(run)

    async def restart(self, workflow: str, instance_id: str) -> None:
        """Abort and run again from scratch (step cache cleared)."""
        self._row(workflow, instance_id)
        run = self._runs.get((workflow, instance_id))
        if run is not None:
            run.cancel("restart")
            await self._wait_run_gone(run)
        await self.store.write(*st.restart_ops(workflow, instance_id))
        self.log.info("workflows", f"{workflow}/{instance_id}: restarted", workflow=workflow, instance=instance_id)
        self._schedule(workflow, instance_id, fresh=True, asked=True)

    async def delete(self, workflow: str, instance_id: str) -> None:
        """Remove the instance and all its state; the id can be created again."""
        self._row(workflow, instance_id)
        run = self._runs.get((workflow, instance_id))
        if run is not None:
            run.cancel("delete")
            await self._wait_run_gone(run)
        self._parked.pop((workflow, instance_id), None)
        await self.store.write(*st.delete_ops(workflow, instance_id))
        self._notify_finished((workflow, instance_id))

    async def delete_instances(self, workflow: str) -> int:
        """Remove every instance of a workflow (``workflows delete`` on a local session)."""
        self._ensure_open()
        ids = [str(r["id"]) for r in self.store.query("SELECT id FROM instances WHERE workflow = ?", (workflow,))]
        for instance_id in ids:
            await self.delete(workflow, instance_id)
        return len(ids)

    async def send_event(self, workflow: str, instance_id: str, event_type: Any, payload: Any) -> None:
        """Persist the event, then wake a matching ``wait_for_event`` (queued FIFO per type)."""
        self._row(workflow, instance_id)
        if not isinstance(event_type, str) or not event_type:
            raise TypeError('send_event needs an event type: send_event(type="...", payload=...)')
        try:
            encoded = _dumps(payload)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"event payload must be JSON-serialisable: {exc}") from None
        await self.store.write(("INSERT INTO events (workflow, instance, type, payload, timestamp_ms) "
                                "VALUES (?, ?, ?, ?, ?)", (workflow, instance_id, event_type, encoded,
                                                           self.clock.now_ms())))
        run = self._runs.get((workflow, instance_id))
        if run is not None:
            run.wake_requested = True  # in case it is unloading right now (see _forget)
            for fut in run.event_waiters.get(event_type, []):
                if not fut.done():
                    fut.set_result("event")
        elif self._row(workflow, instance_id)["status"] in (st.RUNNING, st.WAITING):
            # Unloaded while it waits: the replay takes the event (Cloudflare: an event
            # arriving while the engine is idle wakes it).
            self._schedule(workflow, instance_id, fresh=False, asked=True)

    # inspection ------------------------------------------------------------------------
    def list_workflows(self) -> list[dict[str, Any]]:
        self._ensure_open()
        extra = [{"name": d.name, "class_name": d.class_name, "script_name": d.script_name}
                 for d in self.definitions.values()]
        return self.store.list_workflows(extra)

    def list_instances(self, workflow: str, status: str | None = None, limit: int | None = None,
                       cursor: str | None = None) -> list[dict[str, Any]]:
        """Instances of ``workflow``, newest first; ``limit``/``cursor`` page them
        (``st.instances_cursor`` of the last one continues)."""
        self._ensure_open()
        return self.store.list_instances(workflow, status, limit, cursor)

    def describe(self, workflow: str, instance_id: str) -> dict[str, Any] | None:
        self._ensure_open()
        return self.store.describe_instance(workflow, instance_id)
