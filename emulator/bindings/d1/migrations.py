"""D1 migrations, as ``wrangler d1 migrations list|apply`` does them (docs/d1.md, "Migrations").

Files ``<migrations_dir>/*.sql`` are ordered by the leading number of their name (the part
before the first ``_``), numbered before unnumbered, ties by name. Applied migrations are
recorded in ``migrations_table`` (default ``d1_migrations``), created as wrangler creates
it. Each migration runs as *its file + the INSERT of its name* in one transaction, so a
failing migration leaves no trace and the earlier ones stay applied.

Public functions (``dev`` calls ``apply_migrations`` at start for a workspace with
``apply_migrations = true``; the CLI calls both)::

    path = create_migration(binding.migrations_dir, "add users")  -> Path (NNNN_add_users.sql)
    pending = await list_migrations(target, binding)             -> list[str]  (unapplied names)
    applied = await apply_migrations(target, binding, progress=print) -> list[str]  (newly applied)

``target`` is a ``Platform`` (the database of ``binding`` is opened through its ``d1``
plugin) or any ``MigrationTarget`` (an object with ``async script(sql) -> list[dict]``
running SQL text atomically — the CLI's client of a running ``dev`` is one). ``binding`` is
the app's ``D1DatabaseBinding`` (``migrations_dir``, ``migrations_table``, ``local_id``).
A missing folder raises ``MigrationError("No migrations present at <dir>.")``; ``progress``
receives one line per event (``Migrations to be applied:``, ``✅ <name>``, ...); by
default a ``Platform`` target logs them to ``platform.log`` (source ``d1``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from collections.abc import Callable

from emulator.bindings.d1.engine import D1Engine
from emulator.bindings.d1.errors import D1Error, MigrationError

if TYPE_CHECKING:
    from emulator.bindings.d1.config import D1DatabaseBinding
    from emulator.platform import Platform

Progress = Callable[[str], None]
_LEADING = re.compile(r"^(\d+)")


class MigrationTarget(Protocol):
    async def script(self, sql: str) -> list[dict[str, Any]]:
        """Run every statement of ``sql`` in one transaction; one result per statement."""


@dataclass(frozen=True)
class Migration:
    name: str  # path relative to migrations_dir, as recorded in the table
    path: Path


class EngineTarget:
    """A ``MigrationTarget`` over a local ``D1Engine``."""

    def __init__(self, engine: D1Engine) -> None:
        self.engine = engine

    async def script(self, sql: str) -> list[dict[str, Any]]:
        results = await self.engine.call(lambda conn: self.engine.script(conn, sql))
        return [r.shaped("objects") for r in results]


def strip_dump_transaction(sql: str) -> str:
    """``sql`` without the ``BEGIN TRANSACTION;`` … ``COMMIT;`` that ``sqlite3 .dump`` wraps
    around a file, as wrangler removes them before ``d1 execute`` and ``d1 migrations
    apply``: D1 runs every request in a transaction of its own and refuses these statements
    (docs/d1.md). A file still holding a transaction after that is refused with wrangler's
    message."""
    if "BEGIN TRANSACTION" not in sql:
        return sql
    trimmed = sql.replace("BEGIN TRANSACTION;", "", 1).replace("COMMIT;", "", 1)
    if "BEGIN TRANSACTION" in trimmed:
        raise D1Error("Wrangler could not process the provided SQL file, as it contains several "
                      "transactions.\nD1 runs your SQL in a transaction for you.\nPlease export an "
                      "SQL file from your SQLite database and try again.")
    return trimmed


def _sort_key(name: str) -> tuple[int, int, str]:
    m = _LEADING.match(name.split("_", 1)[0])
    return (0, int(m.group(1)), name) if m else (1, 0, name)


def read_migrations(migrations_dir: Path) -> list[Migration]:
    """The migration files in wrangler's order."""
    folder = Path(migrations_dir)
    if not folder.is_dir():
        raise MigrationError(f"No migrations present at {folder}.")
    files = [p for p in folder.glob("*.sql") if p.is_file()]
    found = [Migration(p.relative_to(folder).as_posix(), p) for p in files]
    return sorted(found, key=lambda m: _sort_key(m.name))


def create_migration(migrations_dir: Path, message: str, now: datetime | None = None) -> Path:
    """A new empty migration, named as wrangler names it: ``NNNN_<message>.sql`` with NNNN
    one above the highest leading number in the folder (created if missing)."""
    if "/" in message or "\\" in message:
        raise MigrationError(f"The migration name \"{message}\" must not contain a path separator.")
    folder = Path(migrations_dir)
    folder.mkdir(parents=True, exist_ok=True)
    highest = 0
    for path in folder.glob("*.sql"):
        m = _LEADING.match(path.name.split("_", 1)[0])
        if m:
            highest = max(highest, int(m.group(1)))
    number = f"{highest + 1:04d}"
    path = folder / f"{number}_{message.replace(' ', '_')}.sql"
    stamp = (now or datetime.now(UTC)).astimezone(UTC)
    iso = stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"
    path.write_text(f"-- Migration number: {number} \t {iso}\n", encoding="utf-8")
    return path


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _table_sql(table: str) -> str:
    return (f"CREATE TABLE IF NOT EXISTS {_quote_ident(table)}(id INTEGER PRIMARY KEY AUTOINCREMENT,"
            f" name TEXT UNIQUE, applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL);")


def _target(target: Platform | MigrationTarget, binding: D1DatabaseBinding) -> MigrationTarget:
    if hasattr(target, "script"):
        return target
    plugin: Any = target.plugin("d1")
    return EngineTarget(plugin.engine(binding.local_id))


def _default_progress(target: Any) -> Progress:
    log = getattr(target, "log", None)
    if log is not None and not hasattr(target, "script"):
        return lambda line: log.info("d1", line)
    return lambda _line: None


async def _unapplied(target: MigrationTarget, binding: D1DatabaseBinding) -> list[Migration]:
    migrations = read_migrations(binding.migrations_dir)
    table = binding.migrations_table
    results = await target.script(_table_sql(table) + f"\nSELECT name FROM {_quote_ident(table)} ORDER BY id;")
    applied = {row["name"] for row in results[-1]["results"]}
    return [m for m in migrations if m.name not in applied]


def pending_readonly(db_path: Path, binding: D1DatabaseBinding) -> list[str]:
    """Names of the migrations not applied to the database file ``db_path``, found without
    writing anything: no migrations table created, no database file, no WAL (the start-up
    warning, the "pending migrations" note on a missing table, `migrations list` on a
    database that does not exist yet). No migrations folder: nothing pending."""
    import sqlite3
    from urllib.request import pathname2url

    try:
        migrations = read_migrations(binding.migrations_dir)
    except MigrationError:
        return []
    applied: set[str] = set()
    if Path(db_path).is_file():
        try:
            conn = sqlite3.connect(f"file:{pathname2url(str(db_path))}?mode=ro", uri=True)
        except sqlite3.Error:
            return []
        try:
            rows = conn.execute(f"SELECT name FROM {_quote_ident(binding.migrations_table)}").fetchall()  # noqa: S608 - a quoted identifier
            applied = {row[0] for row in rows}
        except sqlite3.Error:
            pass  # no migrations table yet: every migration is pending
        finally:
            conn.close()
    return [m.name for m in migrations if m.name not in applied]


def format_table(names: list[str]) -> str:
    """wrangler's boxed table of migration names."""
    width = max(len("Name"), *(len(n) for n in names))
    rule = "├" + "─" * (width + 2) + "┤"
    lines = ["┌" + "─" * (width + 2) + "┐", f"│ {'Name'.ljust(width)} │", rule]
    lines += [f"│ {n.ljust(width)} │" for n in names]
    lines.append("└" + "─" * (width + 2) + "┘")
    return "\n".join(lines)


async def list_migrations(target: Platform | MigrationTarget, binding: D1DatabaseBinding,
                          progress: Progress | None = None) -> list[str]:
    """Names of the migrations not yet applied, in order."""
    pending = [m.name for m in await _unapplied(_target(target, binding), binding)]
    if progress is not None:
        if not pending:
            progress("✅ No migrations to apply!")
        else:
            progress("Migrations to be applied:")
            progress(format_table(pending))
    return pending


async def apply_migrations(target: Platform | MigrationTarget, binding: D1DatabaseBinding,
                           progress: Progress | None = None) -> list[str]:
    """Apply pending migrations in order, each atomically with its bookkeeping INSERT.

    Without ``progress``, a ``Platform`` target logs each line to ``platform.log`` (source
    ``d1``), so ``dev`` shows one line per migration; other targets stay silent."""
    say: Progress = progress or _default_progress(target)
    db = _target(target, binding)
    pending = await _unapplied(db, binding)
    if not pending:
        say("✅ No migrations to apply!")
        return []
    say("Migrations to be applied:")
    say(format_table([m.name for m in pending]))
    applied: list[str] = []
    table = _quote_ident(binding.migrations_table)
    for migration in pending:
        sql = migration.path.read_text(encoding="utf-8")
        insert = f"INSERT INTO {table} (name) values ({_quote_text(migration.name)});"  # noqa: S608 - quoted identifier and text: a script takes no parameters
        try:
            await db.script(f"{strip_dump_transaction(sql)}\n{insert}")
        except (D1Error, MigrationError) as exc:
            say(f"❌ {migration.name}")
            say(f"Migration {migration.name} failed with the following errors:")
            raise MigrationError(str(exc)) from None
        applied.append(migration.name)
        say(f"✅ {migration.name}")
    return applied
