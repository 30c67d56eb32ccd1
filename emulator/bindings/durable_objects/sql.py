"""``ctx.storage.sql``: the SQL API of SQLite-backed Durable Objects.

``sql.exec(query, *bindings)`` runs at once, synchronously, inside the object's implicit
transaction (so its writes are coalesced with the event's others and committed by the
output gate), and returns a cursor (docs/durable_objects.md, "SQL API"):
``toArray()``, ``one()``, ``raw()``, ``next()``, iteration, ``columnNames``, ``rowsRead``,
``rowsWritten``. A query may hold several statements: the bindings and the cursor are the
last one's. Values come back as workerd hands them to Python: INTEGER and REAL as JS
numbers (an ``int`` when integral and safe, else a ``float``), TEXT as ``str``, BLOB as a
``memoryview``, NULL as ``None``. Errors are ``Error`` with SQLite's message and code name
(``no such table: t: SQLITE_ERROR``), or workerd's own texts.

``rowsWritten`` is the statement's change count; ``rowsRead`` counts the rows the cursor
returned plus the rows written (SQLite does not tell Python how many rows a statement
scanned; workerd reports that number).
"""

from __future__ import annotations

import re
import sqlite3
from typing import TYPE_CHECKING, Any
from collections.abc import Iterator

from emulator.bindings.durable_objects.errors import DurableObjectError
from emulator.bindings.durable_objects.serialize import SAFE_INTEGER
from emulator.jsobject import JsObject

if TYPE_CHECKING:
    from emulator.bindings.durable_objects.actor import ObjectActor

NO_STATEMENT = "SQL code did not contain a statement."
WRONG_BINDINGS = "Wrong number of parameter bindings for SQL query."
TRANSACTIONS = (
    "To execute a transaction, please use the state.storage.transaction() or state.storage.transactionSync() "
    "APIs instead of the SQL BEGIN TRANSACTION or SAVEPOINT statements. The JavaScript API is safer because it "
    "will automatically roll back on exceptions, and because it interacts correctly with Durable Objects' "
    "automatic atomic write coalescing.")
_TRANSACTION_WORDS = re.compile(r"^\s*(BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE)\b", re.IGNORECASE)
_SPACE = " \t\r\n\f\v"


def sql_error(exc: BaseException, statement: str = "") -> DurableObjectError:
    """A SQLite failure as workerd reports it: ``Error: <message>: <SQLITE_CODE>``."""
    message = str(exc)
    if isinstance(exc, sqlite3.ProgrammingError) and "bindings" in message:
        return DurableObjectError(WRONG_BINDINGS)
    if "not authorized" in message and _TRANSACTION_WORDS.match(statement):
        return DurableObjectError(TRANSACTIONS)
    name = getattr(exc, "sqlite_errorname", None)
    if name:
        base = "_".join(name.split("_")[:2])
        if message == "not authorized" and base == "SQLITE_ERROR":
            base = "SQLITE_AUTH"
        return DurableObjectError(f"{message}: {base}")
    return DurableObjectError(message)


def _binding(value: Any) -> Any:
    """One binding as SQLite takes it (a BLOB for bytes, 1/0 for booleans)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        if -SAFE_INTEGER <= value <= SAFE_INTEGER:
            return int(value)
        # Pyodide sends such an int as a BigInt, which the binding does not take.
        raise DurableObjectError("Cannot convert a BigInt value to a number", "TypeError")
    if isinstance(value, (str, float)):
        return value
    if isinstance(value, (bytes, memoryview)):
        return bytes(value)
    if isinstance(value, (tuple, bytearray)):
        raise TypeError(f"{type(value)} cannot be sent over RPC.")
    raise DurableObjectError(f"SQL bindings must be strings, numbers, bytes or None, got {type(value).__name__}.",
                             "TypeError")


def _bindings(values: tuple[Any, ...]) -> tuple[Any, ...]:
    for v in values:
        t = type(v)
        if not (t is str or t is float or v is None or (t is int and -SAFE_INTEGER <= v <= SAFE_INTEGER)):
            return tuple(_binding(x) for x in values)
    return values


def _value(value: Any) -> Any:
    """A column value as Python receives it from workerd (JS numbers, ArrayBuffers)."""
    t = type(value)
    if t is str or value is None:
        return value
    if t is int:
        return value if -SAFE_INTEGER <= value <= SAFE_INTEGER else float(value)
    if t is float:
        return int(value) if value.is_integer() and -SAFE_INTEGER <= value <= SAFE_INTEGER else value
    if t is bytes:
        return memoryview(value)
    return value


class SqlStorage:
    """``ctx.storage.sql`` of one object."""

    __slots__ = ("_actor", "_store")

    def __init__(self, actor: ObjectActor) -> None:
        self._actor = actor
        self._store = actor.store

    def exec(self, query: Any, *bindings: Any) -> SqlCursor:
        if type(query) is not str:
            if not isinstance(query, str):
                raise DurableObjectError(f"exec() expects the SQL text as a string, got {type(query).__name__}.",
                                         "TypeError")
            query = str.__str__(query)
        if query and query[0] in _SPACE:
            # Never the text of one of the store's own (trusted) statements: they start with a space.
            query = query.lstrip(_SPACE)
        if (not query or query[0] == ";") and not query.strip(_SPACE + ";"):
            raise DurableObjectError(NO_STATEMENT)
        params = _bindings(bindings) if bindings else ()
        store = self._store
        conn = store.conn
        if conn is None or not store.in_txn:
            conn = store.begin()
        try:
            return SqlCursor(conn.execute(query, params))
        except sqlite3.ProgrammingError as exc:
            if "one statement at a time" in str(exc):
                return self._exec_several(conn, query, params)
            raise sql_error(exc, query) from None
        except sqlite3.Error as exc:
            raise sql_error(exc, query) from None

    def _exec_several(self, conn: sqlite3.Connection, query: str, params: tuple[Any, ...]) -> SqlCursor:
        """A query of several statements: each runs in turn; the bindings and the cursor are the last one's."""
        from emulator.bindings.d1.engine import split_statements_cached

        statements = split_statements_cached(query)
        if not statements:
            raise DurableObjectError(NO_STATEMENT)
        cursor: sqlite3.Cursor | None = None
        for i, statement in enumerate(statements):
            last = i == len(statements) - 1
            try:
                cursor = conn.execute(statement, params if last else ())
                if not last:
                    cursor.fetchall()
            except sqlite3.Error as exc:
                raise sql_error(exc, statement) from None
        assert cursor is not None
        return SqlCursor(cursor)

    @property
    def databaseSize(self) -> int:  # noqa: N802 - JS spelling
        try:
            return self._store.database_size()
        except sqlite3.Error as exc:
            raise sql_error(exc) from None


    def __repr__(self) -> str:
        return f"<SqlStorage of {self._actor.describe()}>"


class SqlCursor:
    """The result of ``sql.exec``: rows as dicts (``toArray``, ``one``, iteration) or lists (``raw``)."""

    __slots__ = ("_cur", "_names", "_returned", "_done", "__weakref__")

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cur = cursor
        self._names: list[str] | None = None
        self._returned = 0
        self._done = cursor.description is None

    @property
    def columnNames(self) -> list[str]:  # noqa: N802 - JS spelling
        names = self._names
        if names is None:
            desc = self._cur.description
            names = self._names = [d[0] for d in desc] if desc else []
        return list(names)


    @property
    def rowsWritten(self) -> int:  # noqa: N802 - JS spelling
        count = self._cur.rowcount
        return count if count > 0 else 0

    @property
    def rowsRead(self) -> int:  # noqa: N802 - JS spelling
        return self._returned + self.rowsWritten


    def _next_values(self) -> list[Any] | None:
        if self._done:
            return None
        try:
            row = self._cur.fetchone()
        except sqlite3.Error as exc:
            self._done = True
            raise sql_error(exc) from None
        if row is None:
            self._done = True
            return None
        self._returned += 1
        return [_value(v) for v in row]

    def _row(self, values: list[Any]) -> JsObject:
        names = self._names
        if names is None:
            desc = self._cur.description
            names = self._names = [d[0] for d in desc] if desc else []
        return JsObject(zip(names, values))  # noqa: B905 - one name per value

    def __iter__(self) -> Iterator[JsObject]:
        return self

    def __next__(self) -> JsObject:
        values = self._next_values()
        if values is None:
            raise StopIteration
        return self._row(values)

    def next(self) -> JsObject:
        """The JS iterator protocol: ``{done, value}``."""
        values = self._next_values()
        if values is None:
            return JsObject(done=True, value=None)
        return JsObject(done=False, value=self._row(values))

    def toArray(self) -> list[JsObject]:  # noqa: N802 - JS spelling
        rows = []
        while (values := self._next_values()) is not None:
            rows.append(self._row(values))
        return rows


    def one(self) -> JsObject:
        values = self._next_values()
        if values is None:
            raise DurableObjectError("Expected exactly one result from SQL query, but got no results.")
        if self._next_values() is not None:
            self._done = True
            raise DurableObjectError("Expected exactly one result from SQL query, but got multiple results.")
        return self._row(values)

    def raw(self) -> RawIterator:
        return RawIterator(self)

    def __repr__(self) -> str:
        return f"<SqlCursor columns={self.columnNames} rowsRead={self.rowsRead} rowsWritten={self.rowsWritten}>"


class RawIterator:
    """``cursor.raw()``: the remaining rows as lists of values."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: SqlCursor) -> None:
        self._cursor = cursor

    def __iter__(self) -> Iterator[list[Any]]:
        return self

    def __next__(self) -> list[Any]:
        values = self._cursor._next_values()
        if values is None:
            raise StopIteration
        return values

    def next(self) -> JsObject:
        values = self._cursor._next_values()
        return JsObject(done=values is None, value=values)

    def toArray(self) -> list[list[Any]]:  # noqa: N802 - JS spelling
        return list(self)


    @property
    def columnNames(self) -> list[str]:  # noqa: N802 - JS spelling
        return self._cursor.columnNames
