"""A Durable Object namespace: its objects, its index of stored objects and its alarms.

One ``NamespaceEngine`` per class (``"<script>-<ClassName>"``, the defining app and the
class it was first created as), shared by every app that binds it. Under
``<state>/durable_objects/<script>-<ClassName>/``: one ``<id>.sqlite3`` per object that
stored something (``store.py``) and ``metadata.sqlite3``, this module's index:

- ``objects(id, name, created_ms)``: every object that has a file, with the name it was
  reached by (for the CLI and the dashboard; nothing is loaded at start-up);
- ``alarms(id, scheduled_ms, retry_count, generation)``: one alarm per object, written when
  the object's writes are committed (so an alarm is durable before the ``setAlarm`` call's
  event returns).

Objects live in memory only while active (or while they hold hibernatable WebSockets):
memory does not grow with the number of objects stored. Alarms are fired on the injected
clock from one timer armed for the earliest (docs/durable_objects.md, "Alarms"): a handler
that raises is retried up to 6 times, after 2, 4, 8, 16, 32 and 64 s plus up to 25 %
jitter (workerd's schedule), with ``retryCount`` and ``isRetry``; a retry counts survive a
restart, and an alarm due while the emulator was stopped fires when it starts.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import random
import sqlite3
import traceback
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emulator.bindings.durable_objects.actor import ObjectActor
from emulator.bindings.durable_objects.errors import DurableObjectsConfigError
from emulator.bindings.durable_objects.ids import DurableObjectId, IdFactory
from emulator.bindings.durable_objects.store import connect
from emulator.clock import Deadline
from emulator.jsobject import JsObject

if TYPE_CHECKING:
    from emulator.clock import Clock
    from emulator.config.model import AppConfig
    from emulator.logs import EventLog
    from emulator.platform import Platform

INDEX_FILE = "metadata.sqlite3"
ALARM_RETRY_START = 2.0  # seconds (workerd's alarm-scheduler.c++)
ALARM_MAX_RETRIES = 6
ALARM_RETRY_JITTER = 0.25
ALARM_WALL_TIME = 15 * 60.0
NO_GLOBAL_HANDLERS_DATE = "2025-08-14"
DELETE_ALL_DELETES_ALARM_DATE = "2026-02-24"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT,
    created_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alarms (
    id TEXT PRIMARY KEY NOT NULL,
    scheduled_ms INTEGER NOT NULL,
    retry_count INTEGER NOT NULL DEFAULT 0,
    generation INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS alarms_by_time ON alarms(scheduled_ms);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
"""


def flag_on(app: AppConfig | None, enable: str, disable: str, date: str) -> bool:
    """A compatibility flag: on when named, off when its disable flag is, else by date."""
    if app is None:
        return False
    if enable in app.compatibility_flags:
        return True
    if disable in app.compatibility_flags:
        return False
    return (app.compatibility_date or "") >= date


class AlarmRow:
    __slots__ = ("id", "scheduled_ms", "retry_count", "generation")

    def __init__(self, row: tuple[Any, ...]) -> None:
        self.id, self.scheduled_ms, self.retry_count, self.generation = row


class NamespaceIndex:
    """``metadata.sqlite3``: stored objects and alarms (opened on first use)."""

    def __init__(self, path: Path, unique_key: str) -> None:
        self.path = path
        self.unique_key = unique_key
        self._conn: sqlite3.Connection | None = None

    @property
    def exists(self) -> bool:
        return self._conn is not None or self.path.exists()

    @staticmethod
    def stored_key(path: Path) -> str | None:
        """The namespace key recorded in an index file (None if it is not one of ours)."""
        try:
            conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
            try:
                row = conn.execute("SELECT value FROM meta WHERE name = 'namespace'").fetchone()
            finally:
                conn.close()
        except sqlite3.Error:
            return None
        return str(row[0]) if row else None

    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = connect(self.path)
            conn.executescript(_SCHEMA)
            conn.execute("INSERT OR IGNORE INTO meta (name, value) VALUES ('namespace', ?)", (self.unique_key,))
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def record_object(self, hex_id: str, name: str | None, now_ms: int) -> None:
        self.conn().execute("INSERT INTO objects (id, name, created_ms) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE "
                            "SET name = coalesce(objects.name, excluded.name)", (hex_id, name, now_ms))

    def object_name(self, hex_id: str) -> str | None:
        if not self.exists:
            return None
        row = self.conn().execute("SELECT name FROM objects WHERE id = ?", (hex_id,)).fetchone()
        return row[0] if row else None

    def objects(self, after: str | None, limit: int) -> list[tuple[str, str | None, int]]:
        if not self.exists:
            return []
        return list(self.conn().execute("SELECT id, name, created_ms FROM objects WHERE id > ? ORDER BY id LIMIT ?",
                                        (after or "", limit)).fetchall())

    def object_count(self) -> int:
        if not self.exists:
            return 0
        return int(self.conn().execute("SELECT count(*) FROM objects").fetchone()[0])

    # --- alarms ---------------------------------------------------------------------------------------
    def alarm(self, hex_id: str) -> AlarmRow | None:
        if not self.exists:
            return None
        row = self.conn().execute("SELECT id, scheduled_ms, retry_count, generation FROM alarms WHERE id = ?",
                                  (hex_id,)).fetchone()
        return AlarmRow(row) if row else None

    def set_alarm(self, hex_id: str, when_ms: int) -> None:
        self.conn().execute("INSERT INTO alarms (id, scheduled_ms, retry_count, generation) VALUES (?, ?, 0, 1) "
                            "ON CONFLICT(id) DO UPDATE SET scheduled_ms = excluded.scheduled_ms, retry_count = 0, "
                            "generation = alarms.generation + 1", (hex_id, when_ms))

    def delete_alarm(self, hex_id: str) -> None:
        if self.exists:
            self.conn().execute("DELETE FROM alarms WHERE id = ?", (hex_id,))

    def finish_alarm(self, hex_id: str, generation: int) -> None:
        """Drop an alarm that ran (unless it was set again meanwhile)."""
        self.conn().execute("DELETE FROM alarms WHERE id = ? AND generation = ?", (hex_id, generation))

    def retry_alarm(self, hex_id: str, generation: int, when_ms: int, retry_count: int) -> None:
        self.conn().execute("UPDATE alarms SET scheduled_ms = ?, retry_count = ? WHERE id = ? AND generation = ?",
                            (when_ms, retry_count, hex_id, generation))

    def next_alarms(self, limit: int) -> list[AlarmRow]:
        if not self.exists:
            return []
        return [AlarmRow(r) for r in self.conn().execute(
            "SELECT id, scheduled_ms, retry_count, generation FROM alarms ORDER BY scheduled_ms LIMIT ?",
            (limit,)).fetchall()]

    def due_alarms(self, now_ms: int, limit: int = 1000) -> list[AlarmRow]:
        if not self.exists:
            return []
        return [AlarmRow(r) for r in self.conn().execute(
            "SELECT id, scheduled_ms, retry_count, generation FROM alarms WHERE scheduled_ms <= ? "
            "ORDER BY scheduled_ms LIMIT ?", (now_ms, limit)).fetchall()]

    def alarm_count(self) -> int:
        if not self.exists:
            return 0
        return int(self.conn().execute("SELECT count(*) FROM alarms").fetchone()[0])


class AlarmScheduler:
    """Fires a namespace's alarms on the clock: one timer, armed for the earliest alarm."""

    def __init__(self, engine: NamespaceEngine) -> None:
        self.engine = engine
        self._timer: Any = None
        self._armed_ms: int | None = None
        self.running: dict[str, asyncio.Task[None]] = {}
        self.started = False

    def start(self) -> None:
        self.started = True
        self.arm()

    async def stop(self) -> None:
        self.started = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        tasks = list(self.running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def arm(self) -> None:
        """(Re-)arm the timer for the earliest alarm that is not running."""
        if not self.started:
            return
        rows = [r for r in self.engine.index.next_alarms(len(self.running) + 1) if r.id not in self.running]
        when = rows[0].scheduled_ms if rows else None
        if when == self._armed_ms and self._timer is not None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._armed_ms = when
        if when is not None:
            clock = self.engine.clock
            self._timer = clock.call_at(max(when / 1000.0, clock.now()), self._fire)

    def changed(self, when_ms: int | None) -> None:
        """An alarm was set or deleted: re-arm if the earliest one changed."""
        if when_ms is None or self._armed_ms is None or when_ms < self._armed_ms or self._timer is None:
            self.arm()

    def _fire(self) -> None:
        self._timer = None
        self._armed_ms = None
        if not self.started:
            return
        for row in self.engine.index.due_alarms(self.engine.clock.now_ms()):
            if row.id not in self.running:
                task = asyncio.get_running_loop().create_task(self._run(row))
                self.running[row.id] = task
        self.arm()

    def due_now(self) -> bool:
        """Whether an alarm is due and not running yet (``drain`` waits for it)."""
        if not self.started:
            return False
        return any(r.id not in self.running for r in self.engine.index.due_alarms(self.engine.clock.now_ms(),
                                                                                      len(self.running) + 1))

    async def _run(self, row: AlarmRow) -> None:
        engine = self.engine
        ok = False
        try:
            ok = await engine.run_alarm(row)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - logged; the alarm is retried
            engine.log.error("durable_objects", f"alarm of {engine.class_name} {row.id[:12]} failed:\n"
                                                f"{traceback.format_exc().rstrip()}")
        finally:
            self.running.pop(row.id, None)
        current = engine.index.alarm(row.id)
        if current is not None and current.generation == row.generation:
            if ok:
                engine.index.finish_alarm(row.id, row.generation)
            else:
                retry = row.retry_count + 1
                if retry > ALARM_MAX_RETRIES:
                    engine.index.finish_alarm(row.id, row.generation)
                    engine.log.warn("durable_objects", f"alarm of {engine.class_name} {row.id[:12]} failed "
                                                       f"{retry} times; it is dropped")
                else:
                    delay = ALARM_RETRY_START * (2 ** (retry - 1)) * (1 + random.random() * ALARM_RETRY_JITTER)  # noqa: S311 - retry jitter, not a secret
                    when = engine.clock.now_ms() + int(delay * 1000)
                    engine.index.retry_alarm(row.id, row.generation, when, retry)
        self.arm()


class NamespaceEngine:
    """One Durable Object class's objects (``"<script>-<ClassName>"``)."""

    def __init__(self, platform: Platform, script: str, class_name: str, storage_name: str, sqlite: bool,
                 app: AppConfig | None, base_dir: Path, settings: Any) -> None:
        from emulator.state import safe_component

        self.platform = platform
        self.script = script
        self.class_name = class_name
        self.sqlite = sqlite
        self.app = app
        self._settings = settings
        self.unique_key = f"{script}-{storage_name}"
        self.ids = IdFactory(self.unique_key)
        self.directory = base_dir / safe_component(self.unique_key)
        self.index = NamespaceIndex(self.directory / INDEX_FILE, self.unique_key)
        self.alarms = AlarmScheduler(self)
        self._actors: weakref.WeakValueDictionary[str, ObjectActor] = weakref.WeakValueDictionary()
        # Strong references: active objects and objects holding hibernatable sockets.
        self._live: dict[str, ObjectActor] = {}
        self._valid_class: type | None = None
        self.closed = False
        self.legacy_handlers = not flag_on(app, "python_no_global_handlers", "disable_python_no_global_handlers",
                                           NO_GLOBAL_HANDLERS_DATE)
        self.delete_all_deletes_alarm = flag_on(app, "delete_all_deletes_alarm", "delete_all_preserves_alarm",
                                                DELETE_ALL_DELETES_ALARM_DATE)

    @property
    def clock(self) -> Clock:
        return self.platform.clock

    @property
    def log(self) -> EventLog:
        return self.platform.log

    @property
    def idle_timeout(self) -> float:
        return float(self._settings.idle_timeout)

    def handler_name(self, name: str) -> str:
        """A handler's method name: ``fetch``, or ``on_fetch`` before ``python_no_global_handlers``."""
        return f"on_{name}" if self.legacy_handlers else name

    # --- the class ------------------------------------------------------------------------------
    def resolve_class(self) -> tuple[Any, type]:
        """The defining app's host and the class, as currently loaded (hot reload safe)."""
        from emulator.bindings.durable_objects.entrypoint import DurableObject

        host = self.platform.hosts.get(self.script)
        if host is None:
            raise DurableObjectsConfigError(
                f'Durable Object class "{self.class_name}" is defined by app "{self.script}", which is not hosted. '
                f"Host it too (add it to the workspace or pass another -c CONFIG to `cf-emulator dev`).")
        try:
            cls = host.entrypoint_class(self.class_name)
        except LookupError as exc:
            raise DurableObjectsConfigError(
                f'Durable Object class "{self.class_name}" is not defined by app "{self.script}": {exc}') from None
        if cls is not self._valid_class:
            if not (isinstance(cls, type) and _is_durable_object_class(cls, DurableObject)):
                raise DurableObjectsConfigError(
                    f'Durable Object class "{self.class_name}" of app "{self.script}" must derive from '
                    "workers.DurableObject (`class " + self.class_name + "(DurableObject):`).")
            self._valid_class = cls
        return host, cls

    # --- objects --------------------------------------------------------------------------------
    def actor(self, object_id: DurableObjectId) -> ObjectActor:
        hex_id = object_id._hex
        actor = self._live.get(hex_id) or self._actors.get(hex_id)
        if actor is None:
            if self.closed:
                raise DurableObjectsConfigError("The emulator is stopping: Durable Objects take no more calls.")
            actor = ObjectActor(self, object_id if self.ids.owns(object_id) else
                                self.ids.stored(hex_id, object_id.name))
            self._actors[hex_id] = actor
        elif object_id.name is not None and actor.id.name is None:
            actor.id = object_id
            actor.indexed = False
        return actor

    def actor_by_hex(self, hex_id: str) -> ObjectActor:
        return self.actor(self.ids.stored(hex_id, self.index.object_name(hex_id)))

    def existing(self, hex_id: str) -> ObjectActor | None:
        return self._live.get(hex_id) or self._actors.get(hex_id)

    def activated(self, actor: ObjectActor) -> None:
        self._live[actor.hex] = actor

    def deactivated(self, actor: ObjectActor) -> None:
        if not actor.hibernatable:
            self._live.pop(actor.hex, None)

    def sockets_changed(self, actor: ObjectActor) -> None:
        if actor.hibernatable or actor.active:
            self._live[actor.hex] = actor
        else:
            self._live.pop(actor.hex, None)

    def live(self) -> list[ObjectActor]:
        return list(self._live.values())

    def evict(self, hex_id: str | None = None) -> int:
        """Evict one object (or every active one); returns how many were evicted."""
        actors = [a for a in self.live() if hex_id is None or a.hex == hex_id]
        count = 0
        for actor in actors:
            if actor.active:
                actor.cancel_timers()
                actor.evict()
                count += 1
            self.sockets_changed(actor)
        return count

    def busy(self) -> bool:
        """Whether an alarm, an event, background work or a WebSocket frame is being handled."""
        if self.alarms.running:
            return True
        for actor in self._live.values():
            if actor.running or actor.background or actor.gate_closed or actor.waiting:
                return True
            if any(ws.handling for ws in actor.hibernatable):
                return True
        return False

    # --- alarms ---------------------------------------------------------------------------------
    def stored_alarm(self, actor: ObjectActor) -> int | None:
        row = self.index.alarm(actor.hex)
        if row is None or (actor.alarm_running is not None and row.generation == actor.alarm_running):
            return None
        return int(row.scheduled_ms)

    def alarm_changed(self, actor: ObjectActor, when_ms: int | None) -> None:
        if when_ms is None:
            self.index.delete_alarm(actor.hex)
        else:
            self.index.record_object(actor.hex, actor.id.name, self.clock.now_ms())
            self.index.set_alarm(actor.hex, when_ms)
        self.alarms.changed(when_ms)

    async def run_alarm(self, row: AlarmRow) -> bool:
        """Deliver one alarm to its object; True when the handler returned."""
        from emulator.runtime.relaxed_call import relaxed_call

        actor = self.actor_by_hex(row.id)
        name = self.handler_name("alarm")
        info = JsObject(retryCount=row.retry_count, isRetry=row.retry_count > 0,
                        scheduledTime=_scheduled(row.scheduled_ms))
        cls = self.resolve_class()[1]
        if not callable(getattr(cls, name, None)):
            self.log.warn("durable_objects", f"{self.class_name} {row.id[:12]} has an alarm but no {name}() "
                                             "handler; the alarm is dropped")
            return True
        deadline = Deadline(self.clock, ALARM_WALL_TIME)
        actor.alarm_running = row.generation
        try:
            await actor.deliver(lambda instance: relaxed_call(getattr(instance, name), info))
            return True
        except asyncio.CancelledError:
            if deadline.expired:
                self.log.error("durable_objects", f"alarm of {actor.describe()} ran longer than "
                                                  f"{int(ALARM_WALL_TIME / 60)} minutes; it is retried")
                return False
            raise
        except Exception:  # noqa: BLE001 - app code: logged, retried
            self.log.error(f"app:{self.script}", f"Uncaught exception in alarm() of {actor.describe()} "
                                                 f"(retry {row.retry_count}):\n{traceback.format_exc().rstrip()}")
            return False
        finally:
            actor.alarm_running = None
            deadline.cancel()

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        self.alarms.start()

    async def stop(self) -> None:
        self.closed = True
        await self.alarms.stop()
        for actor in list(self._live.values()) + list(self._actors.values()):
            actor.cancel_timers()
            try:
                actor.flush()
                actor.store.close()
            except Exception as exc:  # noqa: BLE001 - keep stopping the others
                self.log.warn("durable_objects", f"closing {actor.describe()}: {exc}")
        self._live.clear()
        self.index.close()


def _is_durable_object_class(cls: type, base: type) -> bool:
    """Whether ``cls`` derives from the SDK's ``DurableObject`` (ours, or the ``workers``
    shim's own base class of that name: the runtime's SDK module may define it too)."""
    return issubclass(cls, base) or any(b.__name__ == "DurableObject" and b.__module__.startswith("emulator.")
                                        for b in cls.__mro__[1:])


def _scheduled(ms: int) -> Any:
    from emulator.bindings.durable_objects.websocket import JsDate

    d = _dt.datetime(1970, 1, 1) + _dt.timedelta(milliseconds=int(ms))
    return JsDate(d.year, d.month, d.day, d.hour, d.minute, d.second, d.microsecond)
