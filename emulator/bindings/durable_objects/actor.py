"""One Durable Object at run time: its instance, its gates, its storage, its sockets.

This is the execution model of docs/durable_objects.md ("Execution model"):

- **One instance per id.** The class is constructed on the first event after the object
  was created, evicted or reset (``__init__`` runs once per activation), as app code of the
  defining app.
- **Events go through one gate, in order.** An RPC call, a ``fetch``, an alarm or a
  WebSocket message is an event; events wait in FIFO order while a critical section
  (``blockConcurrencyWhile``, ``storage.transaction``) holds the gate.
- **Input gate.** Storage calls are synchronous SQLite work that never yields to the event
  loop, so while an object awaits its own storage no other event can run:
  ``v = await storage.get("n"); await storage.put("n", v + 1)`` never interleaves. Events
  interleave only at awaits that really wait (an outbound ``fetch``, an RPC call to another
  object, a sleep), so re-entrant calls (A → B → A) do not deadlock; different objects run
  concurrently.
- **Output gate.** The writes of an object are committed before any output that may depend
  on them leaves: the event's result, a WebSocket message, an RPC call to another object;
  and at the latest at the next turn of the event loop. A write that fails to commit resets
  the object and fails the events in flight.
- **Eviction.** An object idle for ``idle_timeout`` seconds on the emulator's clock (nothing
  running, queued, in a critical section, in ``waitUntil``, and no WebSocket accepted with
  ``accept()``) is evicted: its storage file is closed and its instance dropped. Sockets
  accepted with ``ctx.acceptWebSocket`` stay connected (hibernation) and wake it up.

Events run in the caller's task (an RPC call costs no task switch); ``current_actor`` says
which object's code is running, for the output gate and for ``ctx`` lookups.
"""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
import traceback
from collections import deque
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any
from collections.abc import Awaitable, Callable

from emulator.bindings.durable_objects.errors import DurableObjectError
from emulator.bindings.durable_objects.store import ObjectStore, object_path
from emulator.clock import Deadline
from emulator.runtime.invocation import invoke
from emulator.runtime.websocket import Frame, current_socket_owner

if TYPE_CHECKING:
    from emulator.bindings.durable_objects.context import DurableObjectState
    from emulator.bindings.durable_objects.engine import NamespaceEngine
    from emulator.bindings.durable_objects.ids import DurableObjectId
    from emulator.bindings.durable_objects.websocket import WebSocket

# The object whose code is running in this context (None outside Durable Object code): the
# runtime's socket owner, so a WebSocket accepted in an object's code belongs to the object.
current_actor: ContextVar[Any] = current_socket_owner
# The critical section (blockConcurrencyWhile / transaction) this context runs inside.
_section: ContextVar[_Section | None] = ContextVar("cf_emulator_do_section", default=None)

# workerd's limits (docs/durable_objects.md): a critical section may run 30 s.
CRITICAL_SECTION_TIMEOUT = 30.0
MAX_SECTION_DEPTH = 8
ABORTED = "Application called abort() to reset Durable Object."
BCW_TIMEOUT = ("A call to blockConcurrencyWhile() in a Durable Object waited for too long. The call was "
               "canceled and the Durable Object was reset.")


class _Section:
    """One critical section of an object (nested ones share the outermost's gate hold)."""

    __slots__ = ("actor", "depth")

    def __init__(self, actor: ObjectActor, depth: int) -> None:
        self.actor = actor
        self.depth = depth


class ObjectActor:
    """One object id of a namespace."""

    def __init__(self, namespace: NamespaceEngine, object_id: DurableObjectId) -> None:
        self.namespace = namespace
        self.id = object_id
        self.hex = object_id.toString()
        self.store = ObjectStore(object_path(namespace.directory, self.hex), self._opened_transaction)
        self.instance: Any = None
        self.cls: type | None = None
        self.state: DurableObjectState | None = None
        self.host: Any = None
        self.activations = 0
        # Bumped when the object is reset or evicted: events of an older generation fail.
        self.generation = 0
        self._reset_error: BaseException | None = None
        self.running = 0
        self.constructing = False
        self._sections = 0  # outermost critical sections holding the gate
        self._section_lock = asyncio.Lock()
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._release_scheduled = False
        self._flush_scheduled = False
        self.last_active = namespace.clock.now()
        self._evict_timer: Any = None
        self.background: set[asyncio.Future[Any]] = set()
        # setAlarm/deleteAlarm of the events since the last commit: applied with it.
        self.pending_alarm: tuple[str, int | None] | None = None
        self.alarm_running: int | None = None  # the index generation of the alarm being run
        self.indexed = False
        # WebSockets: accepted with ctx.acceptWebSocket (survive eviction), or with accept().
        self.hibernatable: list[WebSocket] = []
        self.standard_sockets = 0
        self.auto_response: Any = None
        self.event_timeout_ms: int | None = None

    # --- what the object is doing ------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self.instance is not None

    def busy(self) -> bool:
        return bool(self.running or self._sections or self._waiting or self.background or self.standard_sockets)

    @property
    def gate_closed(self) -> bool:
        return bool(self._sections)

    @property
    def waiting(self) -> int:
        """Events waiting at the gate."""
        return len(self._waiting)

    # --- activation ---------------------------------------------------------------------------
    def _activate(self, host: Any, cls: type) -> Any:
        """Construct ``cls`` for this activation (as app code of the defining app ``host``)."""
        from emulator.bindings.durable_objects.context import DurableObjectState

        if self.instance is not None:
            # The app's code was reloaded: new events meet a new instance (production resets
            # objects when a new version is deployed); events in flight finish on the old one.
            self._drop_instance()
        state = DurableObjectState(self)
        env = host.env
        self.constructing = True
        self.host = host
        token = current_actor.set(self)
        try:
            with invoke(host, env, state):
                instance = cls(state, env)
        finally:
            self.constructing = False
            current_actor.reset(token)
        self.instance, self.cls, self.state = instance, cls, state
        self.activations += 1
        self.last_active = self.namespace.clock.now()
        self.namespace.activated(self)
        self._arm_eviction()
        return instance

    # --- events ---------------------------------------------------------------------------------
    async def deliver(self, call: Callable[[Any], Any], convert: Callable[[Any], Any] | None = None) -> Any:
        """Run one event: ``call(instance)`` as app code, through the gate; release its output.

        ``convert`` turns the result into what leaves the object (RPC results are copied);
        it runs before the output gate, so a conversion error is the caller's error.
        """
        host, cls = self.namespace.resolve_class()
        instance = self.instance
        if instance is None or self.cls is not cls:
            instance = self._activate(host, cls)
        generation = self.generation
        if self._sections or self._waiting:
            await self._enter()
            if generation != self.generation:
                raise self._reset_failure()
        self.running += 1
        state = self.state
        assert state is not None  # set with the instance, by _activate
        token = current_actor.set(self)
        failure: BaseException | None = None
        result: Any = None
        try:
            with invoke(self.host, self.host.env, state):
                result = call(instance)
                if inspect.isawaitable(result):
                    result = await result
                if convert is not None:
                    result = convert(result)
        except BaseException as exc:  # noqa: BLE001 - app code; re-raised below
            failure = exc
        finally:
            current_actor.reset(token)
            self.running -= 1
            self.last_active = self.namespace.clock.now()
        if generation != self.generation:
            # The object was reset while this event ran: its output is discarded.
            if failure is not None and (failure is self._reset_error or
                                        (not isinstance(failure, Exception) and not _is_abort(failure))):
                raise failure  # the error that reset the object, or a cancellation
            raise self._reset_failure()
        if failure is not None:
            if _is_abort(failure):
                raise self._reset_failure()
            if self.store.in_txn:
                self.flush()  # writes are not undone because the event failed
            raise failure
        if self.store.in_txn or self.pending_alarm is not None:
            self.flush()
        return result

    async def _enter(self) -> None:
        """Wait for the gate (FIFO behind the events already waiting)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(fut)
        self._release_next()
        await self._wait_turn(fut)

    async def _wait_turn(self, fut: asyncio.Future[None]) -> None:
        """Wait until ``_release_next`` lets ``fut`` (queued in ``_waiting``) in; cancelled
        meanwhile, leave the queue, or pass the turn on if it had already come."""
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self._release_next()  # this event's turn came: pass it on
            else:
                try:
                    self._waiting.remove(fut)
                except ValueError:
                    pass
            raise

    def _release_next(self) -> None:
        """Let the first waiting event in, if the gate is open.

        The next one is let in only after that event ran until it first yields (it may
        start a critical section that must hold the others back).
        """
        self._release_scheduled = False
        while self._waiting and not self._sections:
            fut = self._waiting.popleft()
            if fut.done():
                continue
            fut.set_result(None)
            if self._waiting and not self._release_scheduled:
                self._release_scheduled = True
                asyncio.get_running_loop().call_soon(self._release_next)
            return

    # --- critical sections ----------------------------------------------------------------------
    def block_concurrency_while(self, callback: Callable[[], Any], reset_on_error: bool = True) -> asyncio.Task[Any]:
        """``ctx.blockConcurrencyWhile(callback)``: hold every other event back until it settles.

        Starts at once (like a JS promise: awaiting it is optional, as in constructors);
        returns the task, whose result is the callback's. A failure or a 30 s timeout resets
        the object.
        """
        parent = _section.get()
        nested = parent is not None and parent.actor is self
        if nested and parent is not None and parent.depth + 1 > MAX_SECTION_DEPTH:
            raise DurableObjectError("blockConcurrencyWhile() calls are nested too deeply.")
        depth = parent.depth + 1 if nested and parent is not None else 1
        if not nested:
            self._sections += 1
        generation = self.generation

        async def run() -> Any:
            _section.set(_Section(self, depth))
            try:
                if not nested:
                    await self._section_lock.acquire()
                try:
                    return await self._run_section(callback, generation, reset_on_error)
                finally:
                    if not nested:
                        self._section_lock.release()
            finally:
                if not nested:
                    self._sections -= 1
                    self._release_next()

        return asyncio.get_running_loop().create_task(run())

    async def _run_section(self, callback: Callable[[], Any], generation: int, reset_on_error: bool) -> Any:
        if generation != self.generation:
            raise self._reset_failure()
        deadline = Deadline(self.namespace.clock, CRITICAL_SECTION_TIMEOUT)
        try:
            result = callback()
            if inspect.isawaitable(result):
                result = await result
            return result
        except asyncio.CancelledError:
            if deadline.expired:
                error = DurableObjectError(BCW_TIMEOUT, reset=True)
                self.reset(error)
                raise error from None
            raise
        except BaseException as exc:
            if reset_on_error and not _is_abort(exc):
                self.reset(exc)
            raise
        finally:
            deadline.cancel()

    async def resume_after_io(self) -> None:
        """After this object's code awaited real I/O (an RPC call elsewhere): wait for the gate
        if a critical section it is not part of started meanwhile (workerd's input gate
        holds the completions of other events' I/O back too)."""
        if not self._sections:
            return
        section = _section.get()
        if section is not None and section.actor is self:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.appendleft(fut)
        await self._wait_turn(fut)

    # --- alarms -------------------------------------------------------------------------------------
    def get_alarm(self) -> int | None:
        """``getAlarm()``: a change not yet committed, else the stored alarm (None while the
        alarm handler runs, unless it set a new one)."""
        if self.pending_alarm is not None:
            return self.pending_alarm[1]
        return self.namespace.stored_alarm(self)

    def set_pending_alarm(self, ms: int | None) -> None:
        """``setAlarm`` (ms) / ``deleteAlarm`` (None): applied with the next commit."""
        self.pending_alarm = ("set", ms) if ms is not None else ("delete", None)
        self.schedule_flush()

    def check_can_set_alarm(self) -> None:
        """workerd's check (skipped while the constructor runs): the class needs an alarm handler."""
        if self.constructing:
            return
        cls = self.cls if self.cls is not None else self.namespace.resolve_class()[1]
        if not callable(getattr(cls, self.namespace.handler_name("alarm"), None)):
            raise DurableObjectError("Your Durable Object class must have an alarm() handler in order to call "
                                     "setAlarm()", "TypeError")

    # --- output gate ----------------------------------------------------------------------------
    def _opened_transaction(self) -> None:
        """The store opened its implicit transaction: commit it at the next loop turn."""
        if not self.indexed:
            self.indexed = True
            self.namespace.index.record_object(self.hex, self.id.name, self.namespace.clock.now_ms())
        self.schedule_flush()

    def schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_soon)

    def _flush_soon(self) -> None:
        self._flush_scheduled = False
        try:
            self.flush()
        except Exception as exc:  # noqa: BLE001 - reported to the object's next caller
            self.namespace.log.error("durable_objects", f"{self.describe()}: storage commit failed: {exc}")

    def flush(self) -> None:
        """Make every write so far durable, then apply a pending alarm change."""
        store = self.store
        if store.in_txn and not store.savepoints:
            try:
                store.commit()
            except sqlite3.Error as exc:
                error = DurableObjectError(f"Durable Object storage operation failed: {exc}", reset=True)
                self.reset(error)
                raise error from None
        if self.pending_alarm is not None and not store.savepoints:
            kind, when = self.pending_alarm
            self.pending_alarm = None
            self.namespace.alarm_changed(self, when if kind == "set" else None)

    # --- reset and eviction ---------------------------------------------------------------------
    def reset(self, error: BaseException | str | None = None) -> None:
        """Reset the object (abort, failed critical section, failed write): writes not yet
        committed are discarded, events in flight fail, the next event constructs anew."""
        if isinstance(error, BaseException):
            self._reset_error = error
        else:
            self._reset_error = DurableObjectError(error or ABORTED, reset=True)
        self.store.rollback()
        self.pending_alarm = None
        self._drop_instance()

    def _reset_failure(self) -> BaseException:
        error = self._reset_error
        if error is None:
            return DurableObjectError("The Durable Object was reset while this call was in flight.", reset=True)
        if isinstance(error, DurableObjectError):
            return DurableObjectError(error.message, error.name, reset=True)
        out = DurableObjectError(f"{type(error).__name__}: {error}" if str(error) else type(error).__name__,
                                 reset=True)
        return out

    def _drop_instance(self) -> None:
        self.generation += 1
        self.instance = None
        self.cls = None
        self.state = None
        self.standard_sockets = 0
        for task in list(self.background):
            task.cancel()
        self.background.clear()
        self.namespace.deactivated(self)

    def evict(self) -> None:
        """Drop the instance and close the storage file; storage and hibernatable sockets stay."""
        if self.instance is None and self.store.conn is None:
            return
        self.flush()
        self.store.close()
        if self.instance is not None:
            self._drop_instance()
        self._reset_error = DurableObjectError("The Durable Object was evicted while this call was in flight.")
        self.namespace.log.debug("durable_objects", f"{self.describe()} evicted")

    def _arm_eviction(self) -> None:
        timeout = self.namespace.idle_timeout
        if not timeout or self._evict_timer is not None:
            return
        self._evict_timer = self.namespace.clock.call_at(self.last_active + timeout, self._check_idle)

    def _check_idle(self) -> None:
        self._evict_timer = None
        if self.instance is None:
            return
        timeout = self.namespace.idle_timeout
        if not timeout:
            return
        now = self.namespace.clock.now()
        if self.busy():
            self.last_active = now
        if now < self.last_active + timeout:
            self._evict_timer = self.namespace.clock.call_at(self.last_active + timeout, self._check_idle)
            return
        self.evict()

    def cancel_timers(self) -> None:
        if self._evict_timer is not None:
            self._evict_timer.cancel()
            self._evict_timer = None

    # --- waitUntil ------------------------------------------------------------------------------
    def wait_until(self, awaitable: Awaitable[Any]) -> None:
        if not inspect.isawaitable(awaitable):
            raise TypeError("waitUntil() expects an awaitable (a coroutine, task or future)")
        task = asyncio.ensure_future(self._background(awaitable))
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def _background(self, awaitable: Awaitable[Any]) -> None:
        try:
            await awaitable
        except asyncio.CancelledError:
            raise
        except BaseException:  # noqa: BLE001 - logged as workerd does
            self.namespace.log.error(f"app:{self.namespace.script}",
                                     "Uncaught (in waitUntil): " + traceback.format_exc().rstrip())
        finally:
            self.last_active = self.namespace.clock.now()
            if self.store.in_txn:
                self.flush()

    # --- WebSockets (the runtime's SocketOwner) -------------------------------------------------
    def release_output(self) -> None:
        """The output gate: a frame leaves the object only after its writes are durable."""
        if self.store.in_txn or self.pending_alarm is not None:
            self.flush()

    def socket_accepted(self, ws: WebSocket) -> None:
        self.standard_sockets += 1  # a standard socket keeps the object from being evicted

    def socket_closed(self, ws: WebSocket) -> None:
        if ws.mode == "hibernatable":
            try:
                self.hibernatable.remove(ws)
            except ValueError:
                pass
            self.namespace.sockets_changed(self)
        elif ws.mode == "standard":
            self.standard_sockets = max(0, self.standard_sockets - 1)

    def log_socket_error(self, text: str) -> None:
        self.namespace.log.error(f"app:{self.namespace.script}",
                                 f"Uncaught exception in a WebSocket handler of {self.describe()}:\n" + text.rstrip())

    async def hibernatable_event(self, ws: WebSocket, frame: Frame) -> None:
        """A frame of a socket this object accepted with ``ctx.acceptWebSocket``, as an event."""
        from emulator.runtime.relaxed_call import relaxed_call

        if frame.kind == "message":
            pair = self.auto_response
            if pair is not None and isinstance(frame.data, str) and frame.data == pair.request:
                # Answered without waking the object (it is not even constructed).
                ws.auto_response_ms = self.namespace.clock.now_ms()
                ws.reply(pair.response)
                return
            args: tuple[Any, ...] = (ws, frame.data)
            name = "webSocketMessage"
        elif frame.kind == "close":
            args = (ws, frame.code, frame.reason, frame.clean)
            name = "webSocketClose"
        else:
            args = (ws, frame.data)
            name = "webSocketError"
        handler_name = self.namespace.handler_name(name)

        def call(instance: Any) -> Any:
            handler = getattr(instance, handler_name, None)
            if not callable(handler):
                if name != "webSocketError":
                    self.namespace.log.warn("durable_objects", f"{self.describe()} received a WebSocket "
                                            f"{frame.kind} but defines no {handler_name}() handler; it was dropped")
                return None
            return relaxed_call(handler, *args)

        await self.deliver(call)

    def describe(self) -> str:
        return f"{self.namespace.class_name} {self.id.name or self.hex[:12]}"

    def __repr__(self) -> str:
        return f"<ObjectActor {self.describe()} {'active' if self.active else 'inactive'}>"


def _is_abort(exc: BaseException) -> bool:
    from emulator.bindings.durable_objects.entrypoint import DurableObjectAbort

    return isinstance(exc, DurableObjectAbort)
