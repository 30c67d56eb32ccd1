"""`cf-emulator d1 execute|migrations`: wrangler's D1 commands on the local databases.

    cf-emulator d1 execute DB (--command SQL | --file F) [--json] [--local] [--persist-to DIR] [-c CONFIG] [-y]
    cf-emulator d1 migrations create DB MESSAGE
    cf-emulator d1 migrations list DB
    cf-emulator d1 migrations apply DB

``DB`` matches a ``database_name`` or a ``binding`` of the config (found via ``-c`` or by
looking upward from the current folder; a workspace file covers all its apps). With a
``dev`` running on the same state directory the statements go through its internal API
(``/_emulator/d1``), so its worker thread serialises them with the apps' queries;
otherwise the SQLite file is opened directly. ``--local`` is accepted (it is what these
commands always do here) so scripts written for wrangler run unchanged.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.parse
from pathlib import Path
from typing import Any

from emulator.bindings.d1.config import D1DatabaseBinding, d1_config
from emulator.cli._common import (
    CONFIG_NAMES,
    ServerError,
    add_state_arguments,
    call_server,
    print_table,
    project_root,
    resolve_state_dir,
    running_server,
)


class ConfigLookupError(Exception):
    """The database argument could not be resolved (message is wrangler's)."""


def _config_file(config: str | None) -> Path:
    if config:
        path = Path(config).resolve()
        if path.is_dir():
            path = next((path / n for n in CONFIG_NAMES if (path / n).is_file()), path / "wrangler.toml")
        return path
    root = project_root()
    for name in CONFIG_NAMES:
        if (root / name).is_file():
            return root / name
    raise ConfigLookupError("No configuration file found. Create a wrangler.jsonc file to "
                            "define your D1 database.")


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
    try:
        from emulator.config import check_paths  # the full loader, once it exists
    except ImportError:
        loader = None
    else:
        loader = check_paths
    if loader is not None:
        report = loader([config_file])
        if report.apps:
            return [(app.config_path, list(d1_config(app).databases)) for app in report.apps]
        # A config with validation errors has no apps; still find its databases, as
        # wrangler's d1 commands only need the d1_databases entries.
    try:
        raw = _read_raw(config_file)
    except (OSError, ValueError) as exc:
        raise ConfigLookupError(f"Could not read {config_file}: {exc}") from None
    workspace = raw.get("workspace")
    if isinstance(workspace, dict):
        found = []
        for entry in workspace.get("apps", []):
            target = (config_file.parent / str(entry)).resolve()
            if target.is_dir():
                target = next((target / n for n in CONFIG_NAMES if (target / n).is_file()),
                              target / "wrangler.toml")
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
    """The binding whose database_name or binding is ``name`` (wrangler's lookup)."""
    config_file = _config_file(config)
    if not config_file.is_file():
        raise ConfigLookupError(f"Couldn't find a D1 DB with the name or binding '{name}' in "
                                f"your {config_file.name} file.")
    for _path, bindings in _apps(config_file):
        for b in bindings:
            if name in (b.database_name, b.binding):
                return b, config_file
    raise ConfigLookupError(f"Couldn't find a D1 DB with the name or binding '{name}' in your "
                            f"{config_file.name} file.")


def register(subparsers: Any) -> None:
    d1 = subparsers.add_parser("d1", help="D1 databases: execute SQL, apply migrations")
    d1_sub = d1.add_subparsers(dest="d1_command", metavar="COMMAND")
    d1.set_defaults(func=lambda args: (d1.print_help(), 2)[1])

    execute = d1_sub.add_parser("execute", help="execute SQL on a local database")
    execute.add_argument("database", metavar="DB", help="database_name or binding")
    source = execute.add_mutually_exclusive_group(required=True)
    source.add_argument("--command", metavar="SQL", help="SQL text to execute")
    source.add_argument("--file", metavar="F", help="a .sql file to execute")
    execute.add_argument("--json", action="store_true",
                         help="print wrangler's JSON: a list of {results, success, meta}")
    execute.add_argument("-y", "--yes", action="store_true", help="accepted; never prompts")
    execute.add_argument("--remote", action="store_true", help=argparse.SUPPRESS)
    add_state_arguments(execute)
    execute.set_defaults(func=run_execute)

    migrations = d1_sub.add_parser("migrations", help="list or apply migrations")
    m_sub = migrations.add_subparsers(dest="migrations_command", metavar="COMMAND")
    migrations.set_defaults(func=lambda args: (migrations.print_help(), 2)[1])
    create = m_sub.add_parser("create", help="create a new, empty migration file")
    create.add_argument("database", metavar="DB", help="database_name or binding")
    create.add_argument("message", help="what the migration does (becomes part of its file name)")
    add_state_arguments(create)
    create.set_defaults(func=run_create)
    for name, helptext in (("list", "list unapplied migrations"), ("apply", "apply pending migrations")):
        p = m_sub.add_parser(name, help=helptext)
        p.add_argument("database", metavar="DB", help="database_name or binding")
        p.add_argument("-y", "--yes", action="store_true", help="accepted; never prompts")
        p.add_argument("--remote", action="store_true", help=argparse.SUPPRESS)
        add_state_arguments(p)
        p.set_defaults(func=run_migrations, action=name)


def _fail(message: str) -> int:
    print(f"✘ [ERROR] {message}", file=sys.stderr)
    return 1


class _RemoteTarget:
    """A ``MigrationTarget`` that runs SQL through a running `dev`'s internal API."""

    def __init__(self, url: str, local_id: str) -> None:
        self.url = url
        self.local_id = local_id

    async def script(self, sql: str) -> list[dict[str, Any]]:
        return _remote_script(self.url, self.local_id, sql)


def _remote_script(url: str, local_id: str, sql: str) -> list[dict[str, Any]]:
    from emulator.bindings.d1.engine import D1Error

    # server.json's internal_url is an app's base URL; tolerate one already ending in /_emulator.
    prefix = "/d1" if url.rstrip("/").endswith("/_emulator") else "/_emulator/d1"
    path = f"{prefix}/databases/{urllib.parse.quote(local_id, safe='')}/execute"
    try:
        result: list[dict[str, Any]] = call_server(url, "POST", path, {"sql": sql})
    except ServerError as exc:
        payload = exc.payload
        raise D1Error(str(payload.get("error")) if isinstance(payload, dict) else str(payload)) from None
    return result


async def _local_script(db_path: Path, sql: str) -> list[dict[str, Any]]:
    from emulator.bindings.d1.engine import D1Engine

    engine = D1Engine(db_path)
    try:
        results = engine.call_sync(lambda conn: engine.script(conn, sql))
        return [json.loads(json.dumps(r.shaped("objects"))) for r in results]
    finally:
        engine.close()


def _resolve(args: argparse.Namespace) -> tuple[Any, Any, Path]:
    """(binding, state dir, config file) or raises ConfigLookupError."""
    if getattr(args, "remote", False):
        raise ConfigLookupError("--remote is not supported: cf-emulator only has local databases.")
    binding, config_file = find_d1_binding(args.database, args.config)
    return binding, resolve_state_dir(args), config_file


def run_execute(args: argparse.Namespace) -> int:
    from emulator.bindings.d1.engine import D1Error, database_path

    try:
        binding, state, config_file = _resolve(args)
    except ConfigLookupError as exc:
        return _fail(str(exc))
    if args.file:
        try:
            sql = Path(args.file).read_text(encoding="utf-8")
        except OSError as exc:
            return _fail(f"Unable to read SQL text file \"{args.file}\": {exc.strerror}")
    else:
        sql = args.command
    db_path = database_path(state.binding_dir("d1"), binding.local_id)
    url = running_server(state)
    if not args.json:
        print(f"🌀 Executing on local database {binding.database_name or binding.binding} "
              f"({binding.local_id}) from {db_path}:", file=sys.stderr)
    try:
        if url:
            results = _remote_script(url, binding.local_id, sql)
        else:
            results = asyncio.run(_local_script(db_path, sql))
    except D1Error as exc:
        if args.json:
            print(json.dumps({"error": {"text": str(exc)}}, indent=2))
            return 1
        return _fail(str(exc))
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for result in results:
        rows = result["results"]
        if rows:
            print_table(rows, list(rows[0].keys()))
    print(f"🚣 {len(results)} command{'s' if len(results) != 1 else ''} executed successfully.",
          file=sys.stderr)
    return 0


def run_create(args: argparse.Namespace) -> int:
    from emulator.bindings.d1.migrations import MigrationError, create_migration

    try:
        binding, _state, _config = _resolve(args)
        path = create_migration(binding.migrations_dir, args.message)
    except (ConfigLookupError, MigrationError) as exc:
        return _fail(str(exc))
    print(f"✅ Successfully created Migration '{path.name}'!")
    print(f"The migration is available for editing here\n{path}")
    return 0


def run_migrations(args: argparse.Namespace) -> int:
    from emulator.bindings.d1.engine import D1Engine, D1Error, database_path
    from emulator.bindings.d1.migrations import EngineTarget, MigrationError, apply_migrations, list_migrations

    try:
        binding, state, config_file = _resolve(args)
    except ConfigLookupError as exc:
        return _fail(str(exc))
    if not binding.migrations_dir.is_dir():
        print(f"▲ [WARNING] No migrations folder found. Set `migrations_dir` in your "
              f"{config_file.name} file to choose a different path.", file=sys.stderr)
        return _fail(f"No migrations present at {binding.migrations_dir}.")
    url = running_server(state)

    async def go() -> list[str]:
        engine = None
        if url:
            target: Any = _RemoteTarget(url, binding.local_id)
        else:
            engine = D1Engine(database_path(state.binding_dir("d1"), binding.local_id))
            target = EngineTarget(engine)
        try:
            if args.action == "list":
                return await list_migrations(target, binding, progress=print)
            return await apply_migrations(target, binding, progress=print)
        finally:
            if engine is not None:
                engine.close()

    try:
        asyncio.run(go())
    except (MigrationError, D1Error) as exc:
        return _fail(str(exc))
    return 0
