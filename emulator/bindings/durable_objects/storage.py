"""``ctx.storage``: the Durable Object storage API as Python code sees it.

Shapes follow the SDK, which wraps the JS storage object (docs/durable_objects.md,
"Storage"): options come as a positional dict or as keyword arguments; values go in and
out through the platform's serialization (``serialize.py``); multi-key results are dicts
in key order. Every asynchronous method does its work when called, as a JS promise does,
and returns an awaitable of the result (so a ``put`` that is not awaited still happens,
and errors of the platform surface at the ``await``); the SDK's own argument checks
(tuples and awaitables refused) raise at the call.

Limits are production's: keys of KV-backed classes up to 2,048 bytes and values up to
128 KiB; at most 128 keys per call; SQLite-backed objects keep SQLite's limits (2 MB per
string or BLOB). ``transaction``, ``transactionSync`` and the synchronous ``kv`` API follow
workerd, including their error texts.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import inspect
import sqlite3
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from collections.abc import Callable, Generator, Iterator

from emulator.bindings.durable_objects.errors import DurableObjectError
from emulator.bindings.durable_objects.serialize import (
    SAFE_INTEGER,
    date_ms,
    decode,
    encode,
    js_string,
)
from emulator.errors import JsError
from emulator.jsobject import JsObject
from emulator.sqlite import prefix_upper_bound

if TYPE_CHECKING:
    from emulator.bindings.durable_objects.actor import ObjectActor
    from emulator.bindings.durable_objects.sql import SqlStorage

MAX_KEY_BYTES = 2048
MAX_VALUE_BYTES = 128 * 1024
ENFORCED_VALUE_BYTES = MAX_VALUE_BYTES + 34  # workerd's slack for the serializer's header
MAX_KEYS = 128
_MISSING: Any = object()
_SQLITE_ERROR = sqlite3.Error

NOT_SQL = "Durable Object is not backed by SQL."
SQL_NOT_ENABLED = (
    "SQL is not enabled for this Durable Object class. To enable it, change `new_classes` to "
    "`new_sqlite_classes` within the 'migrations' field in your wrangler.jsonc or wrangler.toml file. If "
    "using workerd directly,set `enableSql = true` in your workerd config for the class. Note that this "
    "change cannot be made after the class is already deployed to production.")
KV_NOT_ENABLED = (
    "The storage.kv (synchronous KV) API is only available for SQLite-backed Durable Objects, but this "
    "object's namespace is not declared to use SQLite. You can use the older, asyncronous interface via "
    "methods of `storage` itself (e.g. `storage.get()`). Alternatively, to enable SQLite, change "
    "`new_classes` to `new_sqlite_classes` within the 'migrations' field in your wrangler.jsonc or "
    "wrangler.toml file. If using workerd directly, set `enableSql = true` in your workerd config for the "
    "class. Note that this change cannot be made after the class is already deployed to production.")
PUT_FORMS = ("put() may only be called with a single key-value pair and optional options as put(key, value, "
             "options) or with multiple key-value pairs and optional options as put(entries, options)")


class Settled:
    """An already-settled promise: ``await`` gives the value or raises the error."""

    __slots__ = ("_value", "_error")

    def __init__(self, value: Any = None, error: BaseException | None = None) -> None:
        self._value = value
        self._error = error

    def __await__(self) -> Generator[Any, None, Any]:
        if self._error is not None:
            raise self._error
        return self._value
        yield  # pragma: no cover - makes this a generator

    def __repr__(self) -> str:
        return f"<settled {'error' if self._error is not None else 'value'}>"


_DONE = Settled(None)  # what a put resolves to (immutable: shared)


def _options(options: Any, kwargs: dict[str, Any], what: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    if options is not None:
        if not isinstance(options, Mapping):
            raise DurableObjectError(f"{what} options must be an object (a dict or keyword arguments).", "TypeError")
        merged.update(options)
    merged.update(kwargs)
    return merged


def well_formed(key: str) -> str:
    """A key as the runtime stores it: lone surrogates become U+FFFD (UTF-8 has no room for them)."""
    if key.isascii():
        return key
    try:
        key.encode("utf-8")
        return key
    except UnicodeEncodeError:
        return key.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def key_text(key: Any) -> str:
    """A storage key: a string (numbers and booleans are converted, as JS does)."""
    if type(key) is str:
        return key if key.isascii() else well_formed(key)
    if isinstance(key, (str, int, float, bool)):
        return well_formed(js_string(key))
    raise DurableObjectError(f"Storage keys must be strings, got {type(key).__name__}.", "TypeError")


def alarm_time(when: Any) -> int:
    """``setAlarm``'s argument in ms since the epoch: a number or a ``datetime``."""
    if isinstance(when, _dt.datetime):
        ms = date_ms(when)
    elif isinstance(when, (int, float)) and not isinstance(when, bool):
        if when != when or when in (float("inf"), float("-inf")):
            raise DurableObjectError("Invalid alarm time.", "TypeError")
        ms = int(when)
    else:
        raise DurableObjectError(f"setAlarm() expects a number of milliseconds since the epoch or a datetime, got "
                                 f"{type(when).__name__}.", "TypeError")
    if ms <= 0:
        raise DurableObjectError("setAlarm() cannot be called with an alarm time <= 0", "TypeError")
    if ms > 8_640_000_000_000_000:
        raise DurableObjectError("Invalid alarm time.", "TypeError")
    return ms


class _Operations:
    """What ``storage`` and a transaction's ``txn`` share: the key-value operations."""

    _actor: ObjectActor

    def _check_open(self, op: str) -> None:
        """A transaction refuses calls after it ended."""

    def _limits(self) -> bool:
        """Whether production's KV-backed limits apply (key and value sizes)."""
        return not self._actor.namespace.sqlite

    def _key(self, key: Any) -> str:
        text = key_text(key)
        if self._limits():
            size = len(text) if text.isascii() else len(text.encode("utf-8"))
            if size > MAX_KEY_BYTES:
                raise DurableObjectError(f"Keys cannot be larger than {MAX_KEY_BYTES} bytes. A key of size {size} was "
                                         "provided.", "RangeError")
        return text

    def _value(self, value: Any) -> bytes:
        data = encode(value)
        if self._limits() and len(data) > ENFORCED_VALUE_BYTES:
            raise DurableObjectError(f"Values cannot be larger than {MAX_VALUE_BYTES} bytes. A value of size "
                                     f"{len(data)} was provided.", "RangeError")
        return data

    @staticmethod
    def _count(n: int) -> None:
        if n > MAX_KEYS:
            raise DurableObjectError(f"Maximum number of key value pairs is {MAX_KEYS}. {n} pairs were provided.",
                                     "RangeError")

    def _run(self, op: str, work: Callable[[], Any]) -> Settled:
        """Do a storage operation now; its platform errors surface at the ``await``."""
        try:
            self._check_open(op)
            return Settled(work())
        except JsError as exc:
            return Settled(error=exc)
        except _sqlite_error() as exc:
            return Settled(error=DurableObjectError(_sqlite_message(exc)))

    # --- get / put / delete / list ------------------------------------------------------------
    def get(self, key: Any, options: Any = None, **kwargs: Any) -> Settled:
        _options(options, kwargs, "get()")
        store = self._actor.store
        if isinstance(key, list):
            def many() -> JsObject:
                keys = [self._key(k) for k in key]
                self._count(len(keys))
                return JsObject((k, decode(v)) for k, v in store.get_many(keys))
            return self._run("get()", many)
        if type(key) is str and key.isascii() and len(key) <= MAX_KEY_BYTES:
            # The common case, without the checks' calls (a plain ASCII key within every limit).
            try:
                self._check_open("get()")
                data = store.get(key)
                return Settled(None if data is None else decode(data))
            except JsError as exc:
                return Settled(error=exc)
        if isinstance(key, tuple):
            raise TypeError(f"{type(key)} cannot be sent over RPC.")

        def one() -> Any:
            data = store.get(self._key(key))
            return None if data is None else decode(data)
        return self._run("get()", one)

    def put(self, key: Any, value: Any = _MISSING, options: Any = None, **kwargs: Any) -> Settled:
        store = self._actor.store
        if isinstance(key, Mapping):
            if value is not _MISSING and value is not None and not isinstance(value, Mapping):
                return Settled(error=DurableObjectError(PUT_FORMS, "TypeError"))
            _options(value if value is not _MISSING else options, kwargs, "put()")
            # The SDK converts the whole argument first (its TypeErrors raise at the call).
            encoded = [(k, encode(v)) for k, v in key.items()]

            def many() -> None:
                self._count(len(encoded))
                pairs = [(self._key(k), self._checked(data)) for k, data in encoded]
                store.put_many(pairs)
            return self._run("put()", many)
        _options(options, kwargs, "put()")
        if value is _MISSING:
            return Settled(error=DurableObjectError("put() called with undefined value.", "TypeError"))
        data = encode(value)
        if type(key) is str and key.isascii() and len(key) <= MAX_KEY_BYTES and len(data) <= ENFORCED_VALUE_BYTES:
            try:
                self._check_open("put()")
                store.put(key, data)
                return Settled(None)
            except JsError as exc:
                return Settled(error=exc)
            except _sqlite_error() as exc:
                return Settled(error=DurableObjectError(_sqlite_message(exc)))
        if isinstance(key, tuple):
            raise TypeError(f"{type(key)} cannot be sent over RPC.")
        return self._run("put()", lambda: store.put(self._key(key), self._checked(data)))

    def _checked(self, data: bytes) -> bytes:
        if self._limits() and len(data) > ENFORCED_VALUE_BYTES:
            raise DurableObjectError(f"Values cannot be larger than {MAX_VALUE_BYTES} bytes. A value of size "
                                     f"{len(data)} was provided.", "RangeError")
        return data

    def delete(self, key: Any, options: Any = None, **kwargs: Any) -> Settled:
        _options(options, kwargs, "delete()")
        store = self._actor.store
        if isinstance(key, list):
            def many() -> int:
                keys = [self._key(k) for k in key]
                self._count(len(keys))
                return store.delete_many(keys)
            return self._run("delete()", many)
        if isinstance(key, tuple):
            raise TypeError(f"{type(key)} cannot be sent over RPC.")
        return self._run("delete()", lambda: store.delete(self._key(key)))

    def list(self, options: Any = None, **kwargs: Any) -> Settled:
        opts = _options(options, kwargs, "list()")
        store = self._actor.store

        def run() -> JsObject:
            bounds = compile_list_options(opts)
            if bounds is None:
                return JsObject()
            start, end, reverse, limit = bounds
            return JsObject((k, decode(v)) for k, v in store.list(start, end, reverse, limit))
        return self._run("list()", run)


def compile_list_options(opts: Mapping[str, Any]) -> tuple[str | None, str | None, bool, int | None] | None:
    """``list()`` options as a key range (workerd's ``compileListOptions``); None: nothing matches."""
    start: str | None = None
    end: str | None = None
    if opts.get("start") is not None:
        if opts.get("startAfter") is not None:
            raise DurableObjectError("list() cannot be called with both start and startAfter values.", "TypeError")
        start = key_text(opts["start"])
    if opts.get("startAfter") is not None:
        start = key_text(opts["startAfter"]) + "\0"
    if opts.get("end") is not None:
        end = key_text(opts["end"])
    reverse = bool(opts.get("reverse"))
    limit: int | None = None
    if opts.get("limit") is not None:
        raw = opts["limit"]
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise DurableObjectError("List limit must be a number.", "TypeError")
        if raw <= 0:
            raise DurableObjectError("List limit must be positive.", "TypeError")
        limit = int(min(raw, SAFE_INTEGER))
    prefix = opts.get("prefix")
    if prefix is not None:
        prefix = key_text(prefix)
    if prefix:
        if start is None or start < prefix:
            start = prefix
        elif not start.startswith(prefix):
            return None
        after = prefix_upper_bound(prefix)
        if after is not None:
            if end is not None:
                if end <= prefix:
                    return None
                if not end.startswith(prefix):
                    end = after
            else:
                end = after
    if end is not None and start is not None and end <= start:
        return None
    return start, end, reverse, limit


def _sqlite_error() -> type[Exception]:
    return _SQLITE_ERROR


def _sqlite_message(exc: BaseException) -> str:
    name = getattr(exc, "sqlite_errorname", None)
    return f"{exc}: {name}" if name else str(exc)


class DurableObjectStorage(_Operations):
    """``ctx.storage`` of one object."""

    def __init__(self, actor: ObjectActor) -> None:
        self._actor = actor
        self._store = actor.store
        self._namespace = actor.namespace
        self._sql: SqlStorage | None = None
        self._kv: SyncKvStorage | None = None

    def _check_open(self, op: str) -> None:
        if self._namespace.closed:
            raise DurableObjectError("The emulator is stopping: Durable Object storage is closed.")

    # The common calls, inline (a plain ASCII key within every limit, no options): they are
    # an object's hot path (bench/durable_objects.py); everything else takes the checked one.
    def get(self, key: Any, options: Any = None, **kwargs: Any) -> Settled:
        if type(key) is str and options is None and not kwargs and len(key) <= MAX_KEY_BYTES and key.isascii() \
                and not self._namespace.closed:
            try:
                data = self._store.get(key)
            except _SQLITE_ERROR as exc:
                return Settled(error=DurableObjectError(_sqlite_message(exc)))
            return Settled(None if data is None else decode(data))
        return super().get(key, options, **kwargs)

    def put(self, key: Any, value: Any = _MISSING, options: Any = None, **kwargs: Any) -> Settled:
        if type(key) is str and type(value) is str and options is None and not kwargs and len(key) <= MAX_KEY_BYTES \
                and len(value) <= MAX_VALUE_BYTES // 4 and key.isascii() and not self._namespace.closed:
            try:
                self._store.put(key, b"s" + value.encode("utf-8", "surrogatepass"))
            except _SQLITE_ERROR as exc:
                return Settled(error=DurableObjectError(_sqlite_message(exc)))
            return _DONE
        return super().put(key, value, options, **kwargs)

    def deleteAll(self, options: Any = None, **kwargs: Any) -> Settled:  # noqa: N802 - JS spelling
        _options(options, kwargs, "deleteAll()")
        actor = self._actor

        def run() -> None:
            actor.store.delete_all()
            if actor.namespace.delete_all_deletes_alarm:
                actor.set_pending_alarm(None)
        return self._run("deleteAll()", run)


    def transaction(self, closure: Callable[[Any], Any], options: Any = None) -> asyncio.Task[Any]:
        """Run ``closure(txn)`` as a critical section; a raise (or ``txn.rollback()``) undoes its writes."""
        if not callable(closure):
            raise DurableObjectError("transaction() expects a function.", "TypeError")
        actor = self._actor
        store = actor.store

        async def run() -> Any:
            depth = store.savepoints
            name = f"_cf_txn_{depth}"
            store.savepoint(name)
            store.savepoints += 1
            txn = DurableObjectTransaction(self, name)
            try:
                result = closure(txn)
                if inspect.isawaitable(result):
                    result = await result
            except BaseException:
                store.savepoints -= 1
                if not txn.rolled_back:
                    store.rollback_to(name)
                txn.finish()
                raise
            store.savepoints -= 1
            if not txn.rolled_back:
                store.release(name)
                if txn.pending_alarm is not None:
                    actor.set_pending_alarm(txn.pending_alarm[1])
            txn.finish()
            if not store.savepoints:
                actor.flush()
            return result

        return actor.block_concurrency_while(run, reset_on_error=False)

    def transactionSync(self, fn: Callable[[], Any]) -> Any:  # noqa: N802 - JS spelling
        """Run ``fn()`` inside a savepoint (SQLite-backed objects): a raise rolls its writes back."""
        actor = self._actor
        if not actor.namespace.sqlite:
            raise DurableObjectError(NOT_SQL)
        store = actor.store
        depth = store.savepoints
        name = f"_cf_sync_savepoint_{depth}"
        store.savepoint(name)
        store.savepoints += 1
        try:
            result = fn()
        except BaseException:
            store.savepoints -= 1
            store.rollback_to(name)
            raise
        store.savepoints -= 1
        store.release(name)
        return result


    def sync(self) -> Settled:
        """Resolves when every write so far is durable."""
        try:
            self._actor.flush()
        except JsError as exc:
            return Settled(error=exc)
        return Settled(None)

    # --- alarms -----------------------------------------------------------------------------------
    def getAlarm(self, options: Any = None, **kwargs: Any) -> Settled:  # noqa: N802 - JS spelling
        _options(options, kwargs, "getAlarm()")
        return self._run("getAlarm()", self._actor.get_alarm)

    def setAlarm(self, when: Any, options: Any = None, **kwargs: Any) -> Settled:  # noqa: N802 - JS spelling
        _options(options, kwargs, "setAlarm()")
        actor = self._actor

        def run() -> None:
            ms = alarm_time(when)
            actor.check_can_set_alarm()
            actor.set_pending_alarm(ms)
        return self._run("setAlarm()", run)

    def deleteAlarm(self, options: Any = None, **kwargs: Any) -> Settled:  # noqa: N802 - JS spelling
        _options(options, kwargs, "deleteAlarm()")
        return self._run("deleteAlarm()", lambda: self._actor.set_pending_alarm(None))


    # --- SQL and the synchronous KV API -----------------------------------------------------------
    @property
    def sql(self) -> SqlStorage:
        if not self._actor.namespace.sqlite:
            raise DurableObjectError(SQL_NOT_ENABLED)
        if self._sql is None:
            from emulator.bindings.durable_objects.sql import SqlStorage

            self._sql = SqlStorage(self._actor)
        return self._sql

    @property
    def kv(self) -> SyncKvStorage:
        if not self._actor.namespace.sqlite:
            raise DurableObjectError(KV_NOT_ENABLED)
        if self._kv is None:
            self._kv = SyncKvStorage(self)
        return self._kv

    # --- point-in-time recovery: production only ---------------------------------------------------
    def _not_emulated(self, what: str) -> Any:
        raise DurableObjectError(f"storage.{what}() (point-in-time recovery) is not emulated by cf-emulator: there "
                                 "are no bookmarks locally.")

    def getCurrentBookmark(self) -> Any:  # noqa: N802 - JS spelling
        return self._not_emulated("getCurrentBookmark")

    def getBookmarkForTime(self, timestamp: Any) -> Any:  # noqa: N802 - JS spelling
        return self._not_emulated("getBookmarkForTime")

    def onNextSessionRestoreBookmark(self, bookmark: Any) -> Any:  # noqa: N802 - JS spelling
        return self._not_emulated("onNextSessionRestoreBookmark")

    def __repr__(self) -> str:
        return f"<DurableObjectStorage of {self._actor.describe()}>"


class DurableObjectTransaction(_Operations):
    """``txn`` of ``storage.transaction(closure)``: the key-value and alarm calls, ``rollback()``."""

    def __init__(self, storage: DurableObjectStorage, savepoint: str) -> None:
        self._actor = storage._actor
        self._storage = storage
        self._savepoint = savepoint
        self.rolled_back = False
        self.committed = False
        self.pending_alarm: tuple[str, int | None] | None = None

    def _check_open(self, op: str) -> None:
        if self.rolled_back:
            raise DurableObjectError(f"Cannot {op} on rolled back transaction")
        if self.committed:
            raise DurableObjectError(f"Cannot call {op} on transaction that has already committed: did you move "
                                     "`txn` outside of the closure?")

    def finish(self) -> None:
        if not self.rolled_back:
            self.committed = True

    def rollback(self) -> None:
        if self.rolled_back:
            return
        self._check_open("rollback()")
        self._actor.store.rollback_to(self._savepoint)
        self.rolled_back = True
        self.pending_alarm = None

    def deleteAll(self, *_: Any, **__: Any) -> Any:  # noqa: N802 - JS spelling
        raise DurableObjectError("Cannot call deleteAll() within a transaction")

    def getAlarm(self, options: Any = None, **kwargs: Any) -> Settled:  # noqa: N802 - JS spelling
        _options(options, kwargs, "getAlarm()")
        if self.pending_alarm is not None:
            pending = self.pending_alarm[1]
            return self._run("getAlarm()", lambda: pending)
        return self._run("getAlarm()", self._actor.get_alarm)

    def setAlarm(self, when: Any, options: Any = None, **kwargs: Any) -> Settled:  # noqa: N802 - JS spelling
        _options(options, kwargs, "setAlarm()")

        def run() -> None:
            ms = alarm_time(when)
            self._actor.check_can_set_alarm()
            self.pending_alarm = ("set", ms)
        return self._run("setAlarm()", run)

    def deleteAlarm(self, options: Any = None, **kwargs: Any) -> Settled:  # noqa: N802 - JS spelling
        _options(options, kwargs, "deleteAlarm()")

        def run() -> None:
            self.pending_alarm = ("delete", None)
        return self._run("deleteAlarm()", run)

    def __repr__(self) -> str:
        return f"<DurableObjectTransaction of {self._actor.describe()}>"


class SyncKvStorage:
    """``storage.kv`` (SQLite-backed objects): ``get``, ``put``, ``delete``, ``list``, synchronous."""

    def __init__(self, storage: DurableObjectStorage) -> None:
        self._storage = storage
        self._actor = storage._actor

    def get(self, key: Any) -> Any:
        data = self._actor.store.get(self._storage._key(key))
        return None if data is None else decode(data)

    def put(self, key: Any, value: Any) -> None:
        if isinstance(key, tuple):
            raise TypeError(f"{type(key)} cannot be sent over RPC.")
        self._actor.store.put(self._storage._key(key), encode(value))

    def delete(self, key: Any) -> bool:
        return self._actor.store.delete(self._storage._key(key))

    def list(self, options: Any = None, **kwargs: Any) -> Iterator[list[Any]]:
        bounds = compile_list_options(_options(options, kwargs, "list()"))
        if bounds is None:
            return iter(())
        start, end, reverse, limit = bounds
        return iter([[k, decode(v)] for k, v in self._actor.store.list(start, end, reverse, limit)])

    def __repr__(self) -> str:
        return f"<SyncKvStorage of {self._actor.describe()}>"
