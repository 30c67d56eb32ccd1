"""`cf-emulator d1 execute|migrations`: wrangler's D1 commands on the local databases.

    cf-emulator d1 execute DB (--command SQL | --file F) [--json] [--local] [--persist-to DIR] [-c CONFIG] [-y]
    cf-emulator d1 migrations create DB MESSAGE [--json]
    cf-emulator d1 migrations list DB [--json]
    cf-emulator d1 migrations apply DB [--json]

``execute`` prints what wrangler prints: a table per statement that returned rows on a
terminal (NULL shown as ``null``), the JSON list of ``{results, success, meta}`` with
``--json`` *or when stdout is not a terminal* (wrangler's rule), and on failure with JSON
``{"error": {"text": ...}}``. A ``--file`` run shows a progress bar per statement on a
terminal. ``migrations list`` reads without writing: it creates neither the database
nor its migrations table. The first ``execute`` or ``migrations apply`` on a database
the config declares creates its file, as ``wrangler d1 execute --local`` does.

``DB`` matches a ``database_name`` or a ``binding`` of the config (found via ``-c`` or by
looking upward from the current folder; a workspace file covers all its apps). With a
``dev`` running on the same state directory the statements go through its internal API
(``/_emulator/d1``), so its worker thread serialises them with the apps' queries;
otherwise the SQLite file is opened directly. ``--local`` is accepted (it is what these
commands always do here) so scripts written for wrangler run unchanged.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from emulator.bindings.d1.config import D1DatabaseBinding
from emulator.cli import JsonErrors, output
from emulator.cli._common import (
    ServerError,
    add_command_group,
    add_json_argument,
    add_state_arguments,
    api_path,
    call_server,
    nearest_config,
    resolve_state_dir,
    running_server,
)
from emulator.errors import CliError


def _in_folder(folder: Path) -> Path:
    """The config of an app folder (``wrangler.toml`` when it has none, for the message)."""
    from emulator.config.loader import find_config

    return find_config(folder, upward=False) or folder / "wrangler.toml"


def _config_file(config: str | None) -> Path:
    if config:
        path = Path(config).resolve()
        return _in_folder(path) if path.is_dir() else path
    found = nearest_config()
    if found is None:
        raise CliError("No configuration file found. Create a wrangler.jsonc file to define your D1 database.")
    return found


def _read_raw(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".toml":
        import tomllib

        return tomllib.loads(text)
    from emulator.config.jsonc import parse_jsonc

    value, _positions = parse_jsonc(text)
    return value if isinstance(value, dict) else {}


def _apps(config_file: Path) -> list[tuple[Path, list[D1DatabaseBinding]]]:
    """Every app's D1 bindings (a workspace file lists its apps' folders or files)."""
    from emulator.bindings.d1.config import d1_config
    from emulator.config import check_paths

    report = check_paths([config_file])
    if report.apps:
        return [(app.config_path, list(d1_config(app).databases)) for app in report.apps]
        # A config with validation errors has no apps; still find its databases, as
        # wrangler's d1 commands only need the d1_databases entries.
    try:
        raw = _read_raw(config_file)
    except (OSError, ValueError, RecursionError) as exc:
        raise CliError(f"Could not read {config_file}: {exc}") from None
    workspace = raw.get("workspace")
    if isinstance(workspace, dict):
        found = []
        for entry in workspace.get("apps", []):
            target = (config_file.parent / str(entry)).resolve()
            if target.is_dir():
                target = _in_folder(target)
            if target.is_file():
                found += _apps(target)
        return found
    bindings = []
    for item in raw.get("d1_databases", []) or []:
        if not isinstance(item, dict) or not isinstance(item.get("binding"), str):
            continue
        bindings.append(D1DatabaseBinding(
            binding=item["binding"], database_name=item.get("database_name"),
            database_id=item.get("database_id"),
            migrations_dir=(config_file.parent / item.get("migrations_dir", "migrations")).resolve(),
            migrations_table=item.get("migrations_table", "d1_migrations")))
    return [(config_file, bindings)]


def find_d1_binding(name: str, config: str | None) -> tuple[D1DatabaseBinding, Path]:
    """The binding whose database_name or binding is ``name`` (wrangler's lookup); the
    error lists the databases the config declares."""
    config_file = _config_file(config)
    if not config_file.is_file():
        raise CliError(f"Couldn't find a D1 DB with the name or binding '{name}' in your {config_file.name} file.")
    known: list[str] = []
    for _path, bindings in _apps(config_file):
        for b in bindings:
            if name in (b.database_name, b.binding):
                return b, config_file
            known.append(f"{b.database_name} (binding {b.binding})" if b.database_name else b.binding)
    listing = (f" Known databases: {', '.join(sorted(set(known)))}." if known
               else f" {config_file} declares no d1_databases.")
    raise CliError(f"Couldn't find a D1 DB with the name or binding '{name}' in your "
                   f"{config_file.name} file.{listing}")


def register(subparsers: Any) -> None:
    d1_sub = add_command_group(subparsers, "d1", "d1_command", help="D1 databases: execute SQL, apply migrations",
                               description="Manage the local D1 databases (wrangler's `d1` commands, locally).")

    execute = d1_sub.add_parser(
        "execute", help="execute a command or SQL file on a local database",
        description="Execute a command or SQL file. You must provide either --command or --file. "
                    "Prints a table per statement on a terminal, JSON otherwise (and with --json).")
    execute.add_argument("database", metavar="DB", help="the name or binding of the DB")
    source = execute.add_mutually_exclusive_group(required=True)
    source.add_argument("--command", metavar="SQL",
                        help="the SQL query you wish to execute, or multiple queries separated by ';'")
    source.add_argument("--file", metavar="F", help="a .sql file to ingest")
    execute.add_argument("--json", action="store_true",
                         help="return output as JSON (a list of {results, success, meta}); the default "
                              "when stdout is not a terminal")
    execute.add_argument("-y", "--yes", action="store_true", help='answer "yes" to any prompts (never prompts)')
    execute.add_argument("--remote", action="store_true", help=argparse.SUPPRESS)
    execute.add_argument("--preview", action="store_true", help=argparse.SUPPRESS)
    add_state_arguments(execute)
    # wrangler: JSON errors (and no banner) only with --json, though results are JSON when piped too.
    execute.set_defaults(func=run_execute, json_errors=JsonErrors(lambda args: bool(args.json),
                                                                    lambda text: {"error": {"text": text}}))

    m_sub = add_command_group(d1_sub, "migrations", "migrations_command", help="list or apply migrations")
    create = m_sub.add_parser("create", help="create a new, empty migration file")
    create.add_argument("database", metavar="DB", help="database_name or binding")
    create.add_argument("message", help="what the migration does (becomes part of its file name)")
    add_json_argument(create, "the new file's path")
    add_state_arguments(create)
    create.set_defaults(func=run_create)
    for name, helptext in (("list", "view a list of unapplied migration files"),
                           ("apply", "apply any unapplied D1 migrations")):
        p = m_sub.add_parser(name, help=helptext, description=helptext[0].upper() + helptext[1:] + ".")
        p.add_argument("database", metavar="DB", help="the name or binding of the DB")
        p.add_argument("-y", "--yes", action="store_true", help="accepted; never prompts")
        p.add_argument("--remote", action="store_true", help=argparse.SUPPRESS)
        p.add_argument("--preview", action="store_true", help=argparse.SUPPRESS)
        add_json_argument(p, "the migration names (pending, or applied)")
        add_state_arguments(p)
        p.set_defaults(func=run_migrations, action=name)


class _RemoteTarget:
    """A ``MigrationTarget`` that runs SQL through a running `dev`'s internal API."""

    def __init__(self, url: str, local_id: str) -> None:
        self.url = url
        self.local_id = local_id

    async def script(self, sql: str) -> list[dict[str, Any]]:
        return _remote_script(self.url, self.local_id, sql)


def _remote_script(url: str, local_id: str, sql: str) -> list[dict[str, Any]]:
    from emulator.bindings.d1.errors import D1Error

    path = api_path(url, "d1", "databases", local_id, "execute")
    try:
        result: list[dict[str, Any]] = call_server(url, "POST", path, {"sql": sql})
    except ServerError as exc:
        raise D1Error(exc.message) from None
    return result


def _local_script(db_path: Path, sql: str, progress: output.Progress | None = None) -> list[dict[str, Any]]:
    from emulator.bindings.d1.engine import D1Engine

    engine = D1Engine(db_path)
    report = (lambda done, _total: progress.update(done)) if progress is not None and progress.enabled else None
    try:
        results = engine.call_sync(lambda conn: engine.script(conn, sql, report))
        return [json.loads(json.dumps(r.shaped("objects"))) for r in results]
    finally:
        engine.close()


def _resolve(args: argparse.Namespace) -> tuple[Any, Any, Path]:
    """(binding, state dir, config file) or raises ``CliError``."""
    if getattr(args, "remote", False) or getattr(args, "preview", False):
        raise CliError("--remote and --preview are not supported: cf-emulator only has local databases.")
    binding, config_file = find_d1_binding(args.database, args.config)
    return binding, resolve_state_dir(args), config_file


def run_execute(args: argparse.Namespace) -> int:
    from emulator.bindings.d1.engine import database_path, split_statements
    from emulator.bindings.d1.errors import D1Error
    from emulator.bindings.d1.migrations import strip_dump_transaction

    # wrangler: JSON results with --json or when stdout is not a terminal.
    as_json = output.wants_json(args, when_piped=True)
    binding, state, _config_file = _resolve(args)
    if args.file:
        try:
            sql = Path(args.file).read_text(encoding="utf-8")
        except OSError as exc:
            raise CliError(f"Unable to read SQL text file \"{args.file}\": {exc.strerror}") from None
    else:
        sql = args.command
    try:
        sql = strip_dump_transaction(sql)
    except D1Error as exc:
        raise CliError(str(exc)) from None
    url = running_server(state)
    db_path = database_path(state.binding_dir("d1"), binding.local_id)
    if not args.json:
        output.info(f"🌀 Executing on local database {binding.database_name or binding.binding} "
                    f"({binding.local_id}) from {db_path}:")
    try:
        if args.file:
            total = len(split_statements(sql))
            with output.Progress(f"Executing {Path(args.file).name}", None if url else total, "statements") as bar:
                results = _remote_script(url, binding.local_id, sql) if url else _local_script(db_path, sql, bar)
        elif url:
            results = _remote_script(url, binding.local_id, sql)
        else:
            results = _local_script(db_path, sql)
    except D1Error as exc:
        raise CliError(str(exc)) from None
    if not args.json:
        output.info(f"🚣 {len(results)} command{'s' if len(results) != 1 else ''} executed successfully.")
    if as_json:
        output.print_json(results)
        return 0
    statements = split_statements(sql)
    for index, result in enumerate(results):
        rows = result["results"]
        if rows:
            query = statements[index] if index < len(statements) else ""
            output.table(rows, list(rows[0].keys()), title=_shorten(query, 48))
    return 0


def _shorten(query: str, width: int) -> str:
    """wrangler's short form of a statement, shown above its rows."""
    flat = " ".join(query.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def run_create(args: argparse.Namespace) -> int:
    from emulator.bindings.d1.errors import MigrationError
    from emulator.bindings.d1.migrations import create_migration

    binding, _state, _config = _resolve(args)
    try:
        path = create_migration(binding.migrations_dir, args.message)
    except MigrationError as exc:
        raise CliError(str(exc)) from None
    output.outcome(args, {"path": str(path)}, f"✅ Successfully created Migration '{path.name}'!\n"
                                              f"The migration is available for editing here\n{path}")
    return 0


def run_migrations(args: argparse.Namespace) -> int:
    from emulator.bindings.d1.engine import D1Engine, database_path
    from emulator.bindings.d1.errors import D1Error, MigrationError
    from emulator.bindings.d1.migrations import (
        EngineTarget, apply_migrations, format_table, list_migrations, pending_readonly)

    as_json = output.wants_json(args)
    say = (lambda _line: None) if as_json else output.say
    binding, state, config_file = _resolve(args)
    if not binding.migrations_dir.is_dir():
        output.warn(f"No migrations folder found. Set `migrations_dir` in your {config_file.name} file to "
                    "choose a different path.")
        raise CliError(f"No migrations present at {binding.migrations_dir}.")
    reading = args.action == "list"
    url = running_server(state, create=not reading)

    async def go() -> list[str]:
        engine = None
        if url:
            target: Any = _RemoteTarget(url, binding.local_id)
        elif reading:
            # Read without writing: no database file, no migrations table created.
            pending = pending_readonly(database_path(state.root / "d1", binding.local_id), binding)
            if pending:
                say("Migrations to be applied:")
                say(format_table(pending))
            else:
                say("✅ No migrations to apply!")
            return pending
        else:
            engine = D1Engine(database_path(state.binding_dir("d1"), binding.local_id))
            target = EngineTarget(engine)
        try:
            if reading:
                return await list_migrations(target, binding, progress=say)
            return await apply_migrations(target, binding, progress=say)
        finally:
            if engine is not None:
                engine.close()

    import asyncio

    try:
        names = asyncio.run(go())
    except (MigrationError, D1Error) as exc:
        raise CliError(str(exc)) from None
    if as_json:
        output.print_json({"pending" if reading else "applied": names})
    return 0
