"""Read-only SQL over a D1 database file, for the dashboard's query box.

The dashboard is a viewer: a query typed into it must never change an app's data, even
if the page is reached by something other than our own JavaScript. Three independent
guards enforce that on the server:

1. the statement must start with ``SELECT``, ``WITH``, ``VALUES`` or ``EXPLAIN``;
2. the file is opened with a ``mode=ro`` URI and ``PRAGMA query_only = ON``, so SQLite
   itself refuses writes (a ``WITH ... DELETE`` passes guard 1 but fails here);
3. an authorizer denies every action but reads, selects, functions and recursive CTEs (no ``ATTACH``,
   no ``PRAGMA`` writes, no ``load_extension``).

Results are capped (rows and run time) so a careless ``SELECT *`` on a large table
cannot stall the emulator.
"""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator.errors import EmulatorError

MAX_ROWS = 1000
# A wall-clock budget for one query: a UI safeguard, not emulated platform time.
MAX_SECONDS = 5.0

_READ_KEYWORDS = {"SELECT", "WITH", "VALUES", "EXPLAIN"}
_COMMENT = re.compile(r"^\s*(?:--[^\n]*(?:\n|$)|/\*.*?\*/)", re.S)
_ALLOWED_ACTIONS = {sqlite3.SQLITE_READ, sqlite3.SQLITE_SELECT, sqlite3.SQLITE_FUNCTION,
                    sqlite3.SQLITE_RECURSIVE}
# Internal tables users should not need to see in the table list.
_HIDDEN_TABLE_PREFIXES = ("sqlite_", "_cf_")


# Also a ValueError, as the query is a bad value the user typed (the dashboard's SQL console).
class ReadOnlyQueryError(EmulatorError, ValueError):
    """The query was refused or failed; the message is shown to the user as is."""


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool

    def to_json(self) -> dict[str, Any]:
        return {"columns": self.columns, "rows": self.rows, "truncated": self.truncated,
                "rowCount": len(self.rows)}


def _first_keyword(sql: str) -> str:
    rest = sql
    while True:
        stripped = _COMMENT.sub("", rest, count=1)
        if stripped == rest:
            break
        rest = stripped
    match = re.match(r"\s*([A-Za-z]+)", rest)
    return match.group(1).upper() if match else ""


def _json_value(value: Any) -> Any:
    # D1 returns BLOBs as arrays of bytes; for a viewer a short hex literal reads better.
    if isinstance(value, bytes):
        shown = value[:64].hex()
        return f"x'{shown}'" + ("…" if len(value) > 64 else "") + f" ({len(value)} bytes)"
    return value


def _authorizer(action: int, _a: str | None, _b: str | None, _db: str | None,
                _trigger: str | None) -> int:
    return sqlite3.SQLITE_OK if action in _ALLOWED_ACTIONS else sqlite3.SQLITE_DENY


def _connect(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise ReadOnlyQueryError(f"database file {path.name} does not exist yet (no query has created it)")
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=2.0,
                           check_same_thread=False)
    conn.execute("PRAGMA query_only = ON")
    return conn


def run_query(path: Path, sql: str, params: list[Any] | None = None,
              max_rows: int = MAX_ROWS) -> QueryResult:
    """Run one read-only statement; blocking (call it in a thread)."""
    sql = sql.strip().rstrip(";").strip()
    if not sql:
        raise ReadOnlyQueryError("empty query")
    if _first_keyword(sql) not in _READ_KEYWORDS:
        raise ReadOnlyQueryError("the dashboard runs read-only queries only "
                                 "(SELECT, WITH, VALUES or EXPLAIN); use `cf-emulator d1 execute` to write")
    conn = _connect(path)
    deadline = time.monotonic() + MAX_SECONDS
    conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 10_000)
    conn.set_authorizer(_authorizer)
    try:
        cursor = conn.execute(sql, params or [])
        columns = [d[0] for d in cursor.description or []]
        fetched = cursor.fetchmany(max_rows + 1)
    except sqlite3.Warning as exc:  # "You can only execute one statement at a time."
        raise ReadOnlyQueryError(str(exc)) from None
    except sqlite3.DatabaseError as exc:
        message = str(exc)
        if message == "interrupted":
            message = f"query took longer than {MAX_SECONDS:g} s and was stopped"
        elif "not authorized" in message or "readonly" in message or "query_only" in message:
            message = f"refused: the dashboard is read-only ({message})"
        raise ReadOnlyQueryError(message) from None
    finally:
        conn.close()
    rows = [[_json_value(v) for v in row] for row in fetched[:max_rows]]
    return QueryResult(columns, rows, truncated=len(fetched) > max_rows)


def list_tables(path: Path) -> list[dict[str, Any]]:
    """User tables and views with their columns and row counts; blocking."""
    if not path.is_file():
        return []
    conn = _connect(path)
    try:
        rows = conn.execute(
            "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name"
        ).fetchall()
        tables: list[dict[str, Any]] = []
        for name, kind in rows:
            if name.startswith(_HIDDEN_TABLE_PREFIXES):
                continue
            quoted = '"' + name.replace('"', '""') + '"'
            columns = [
                {"name": c[1], "type": c[2], "pk": bool(c[5])}
                for c in conn.execute(f"PRAGMA table_info({quoted})").fetchall()
            ]
            count = conn.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0] if kind == "table" else None  # noqa: S608 - a quoted identifier
            tables.append({"name": name, "type": kind, "columns": columns, "rows": count})
        return tables
    except sqlite3.DatabaseError as exc:
        raise ReadOnlyQueryError(str(exc)) from None
    finally:
        conn.close()
