"""`cf-emulator durable-objects`: list namespaces and objects, read an object's storage, run SQL.

    cf-emulator durable-objects list [--binding B | --namespace NS]
    cf-emulator durable-objects storage get KEY  (--binding B | --namespace NS) (--name N | --id HEX)
    cf-emulator durable-objects storage list     (--binding B | --namespace NS) (--name N | --id HEX)
                                                 [--prefix P] [--limit N] [--reverse]
    cf-emulator durable-objects storage sql SQL  (--binding B | --namespace NS) (--name N | --id HEX)
                                                 [--param VALUE ...]
    cf-emulator durable-objects evict            (--binding B | --namespace NS) [--name N | --id HEX]

``NS`` is a namespace's key (``<script>-<ClassName>``, what ``list`` prints) or class name;
``--binding`` resolves it from the wrangler config (``-c``, else the nearest one). Output
is JSON (stored values as JSON: bytes as ``{"$bytes": base64}``, dates as ``{"$date": ISO}``).
With a ``dev`` running on the state directory, every command goes through its internal API
(``/_emulator/durable_objects``), so the running objects see SQL writes at once;
otherwise the commands open the state directory's files (``evict`` needs a running ``dev``).
"""

from __future__ import annotations

import argparse
import urllib.parse
from typing import Any

from emulator.cli._common import (
    add_command_group,
    add_state_arguments,
    api_path,
    call_server,
    cli_errors,
    require_config,
    resolve_state_dir,
    running_server,
)
from emulator.cli.output import print_json
from emulator.errors import CliError


def register(subparsers: Any) -> None:
    sub = add_command_group(subparsers, "durable-objects", "do_command",
                            help="Durable Objects: namespaces, objects, storage, SQL")

    lst = sub.add_parser("list", help="namespaces, or the objects of one namespace (JSON)")
    _namespace_arguments(lst, required=False)
    lst.set_defaults(func=run_list)

    storage_sub = add_command_group(sub, "storage", "storage_command",
                                    help="read one object's key-value storage or run SQL on it")
    get = storage_sub.add_parser("get", help="one stored value (JSON)")
    get.add_argument("key", metavar="KEY")
    _object_arguments(get)
    get.set_defaults(func=run_get)
    slist = storage_sub.add_parser("list", help="stored keys and values in key order (JSON)")
    slist.add_argument("--prefix", default=None, help="only keys starting with this")
    slist.add_argument("--limit", type=int, default=1000, help="at most this many (default 1000)")
    slist.add_argument("--reverse", action="store_true", help="descending key order")
    _object_arguments(slist)
    slist.set_defaults(func=run_storage_list)
    sql = storage_sub.add_parser("sql", help="run SQL on a SQLite-backed object (JSON rows)")
    sql.add_argument("sql", metavar="SQL")
    sql.add_argument("--param", action="append", default=[], metavar="VALUE",
                     help="a bound parameter (repeat for several; numbers stay numbers)")
    _object_arguments(sql)
    sql.set_defaults(func=run_sql)

    evict = sub.add_parser("evict", help="evict an object (or every active one) of a running dev")
    _namespace_arguments(evict)
    which = evict.add_mutually_exclusive_group()
    which.add_argument("--name", help="the object's name (idFromName)")
    which.add_argument("--id", help="the object's id (64 hex digits)")
    evict.set_defaults(func=run_evict)


def _namespace_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    which = parser.add_mutually_exclusive_group(required=required)
    which.add_argument("--binding", metavar="NAME", help="the binding name in the wrangler config")
    which.add_argument("--namespace", metavar="NS", help="the namespace key (<script>-<Class>) or class name")
    add_state_arguments(parser)


def _object_arguments(parser: argparse.ArgumentParser) -> None:
    _namespace_arguments(parser)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--name", help="the object's name (idFromName)")
    which.add_argument("--id", help="the object's id (64 hex digits)")


# --- resolving names -----------------------------------------------------------------------
def namespace_key(args: argparse.Namespace) -> str:
    """The namespace a command works on: ``--namespace`` as given, or ``--binding`` resolved."""
    if args.namespace:
        return str(args.namespace)
    from emulator.bindings.durable_objects.config import durable_objects_config
    from emulator.config import ConfigLookupError, check_paths

    config = require_config(args, "--namespace")
    try:
        report = check_paths([config])
    except ConfigLookupError as exc:
        raise CliError(str(exc)) from None
    apps = {app.name: app for app in report.apps}
    for app in report.apps:
        for b in durable_objects_config(app).bindings:
            if b.binding != args.binding:
                continue
            script = b.defining_app(app.name)
            definer = apps.get(script)
            info = durable_objects_config(definer).class_info(b.class_name) if definer is not None else None
            return f"{script}-{info.storage_name if info is not None else b.class_name}"
    raise CliError(f'A Durable Object binding named "{args.binding}" was not found in {config}.')


def _object_query(args: argparse.Namespace) -> str:
    if getattr(args, "id", None):
        return "id=" + urllib.parse.quote(args.id)
    if getattr(args, "name", None) is not None:
        return "name=" + urllib.parse.quote(args.name)
    return ""


def _base(url: str, key: str) -> str:
    return api_path(url, "durable_objects", "namespaces", key)


# --- the state directory without a running dev ----------------------------------------------------
class _Offline:
    """A namespace's files in the state directory, opened by this process."""

    def __init__(self, args: argparse.Namespace, key: str) -> None:
        from emulator.bindings.durable_objects.engine import INDEX_FILE, NamespaceIndex
        from emulator.bindings.durable_objects.ids import IdFactory
        from emulator.state import safe_component

        state = resolve_state_dir(args)
        base = state.root / "durable_objects"
        folder = base / safe_component(key)
        if not (folder / INDEX_FILE).is_file():
            matches = [f for f in sorted(base.iterdir()) if f.is_dir() and f.name.endswith("-" + safe_component(key))] \
                if base.is_dir() else []
            if len(matches) != 1:
                known = ", ".join(f.name for f in sorted(base.iterdir())) if base.is_dir() else "none"
                raise CliError(f"No Durable Object namespace {key!r} has data in {state.root} "
                               f"(namespaces: {known or 'none'}).")
            folder = matches[0]
        self.folder = folder
        self.key = NamespaceIndex.stored_key(folder / INDEX_FILE) or folder.name
        self.index = NamespaceIndex(folder / INDEX_FILE, self.key)
        self.ids = IdFactory(self.key)

    def hex_id(self, args: argparse.Namespace) -> str:
        if args.id:
            return self.ids.from_string(args.id).toString()
        return self.ids.from_name(args.name).toString()

    def store(self, args: argparse.Namespace) -> Any | None:
        """The object's storage; None when it has stored nothing (no file is created)."""
        from emulator.bindings.durable_objects.store import ObjectStore, object_path

        path = object_path(self.folder, self.hex_id(args))
        return ObjectStore(path) if path.exists() else None


# --- commands --------------------------------------------------------------------------------------
@cli_errors
def run_list(args: argparse.Namespace) -> int:
    state = resolve_state_dir(args)
    url = running_server(state)
    if not (args.binding or args.namespace):
        if url:
            print_json(call_server(url, "GET", api_path(url, "durable_objects", "namespaces")))
            return 0
        from emulator.bindings.durable_objects.engine import INDEX_FILE, NamespaceIndex

        base = state.root / "durable_objects"
        found = []
        for folder in sorted(base.iterdir()) if base.is_dir() else []:
            if (folder / INDEX_FILE).is_file():
                index = NamespaceIndex(folder / INDEX_FILE, folder.name)
                found.append({"key": NamespaceIndex.stored_key(folder / INDEX_FILE) or folder.name,
                              "stored": index.object_count(), "alarms": index.alarm_count()})
                index.close()
        print_json(found)
        return 0
    key = namespace_key(args)
    if url:
        objects: list[Any] = []
        after = None
        while True:
            page = call_server(url, "GET", f"{_base(url, key)}/objects?limit=1000"
                                           + (f"&after={after}" if after else ""))
            objects.extend(page["objects"])
            after = page["cursor"]
            if not after:
                break
        print_json(objects)
        return 0
    offline = _Offline(args, key)
    try:
        out = []
        after = None
        while True:
            rows = offline.index.objects(after, 1000)
            for hex_id, name, _created in rows:
                alarm = offline.index.alarm(hex_id)
                out.append({"id": hex_id, "name": name, "alarm": alarm.scheduled_ms if alarm else None})
            if len(rows) < 1000:
                break
            after = rows[-1][0]
        print_json(out)
    finally:
        offline.index.close()
    return 0


@cli_errors
def run_get(args: argparse.Namespace) -> int:
    key = namespace_key(args)
    url = running_server(resolve_state_dir(args))
    if url:
        found = call_server(url, "GET", f"{_base(url, key)}/object/value?{_object_query(args)}"
                                        f"&key={urllib.parse.quote(args.key)}", missing=None)
        print_json(None if found is None else found["value"])
        return 0
    from emulator.bindings.durable_objects.serialize import decode, to_json
    from emulator.bindings.durable_objects.storage import key_text

    store = _Offline(args, key).store(args)
    if store is None:
        print_json(None)
        return 0
    try:
        data = store.get(key_text(args.key))
        print_json(None if data is None else to_json(decode(data)))
    finally:
        store.close()
    return 0


@cli_errors
def run_storage_list(args: argparse.Namespace) -> int:
    key = namespace_key(args)
    url = running_server(resolve_state_dir(args))
    if args.limit <= 0:
        raise CliError("--limit must be positive.")
    if url:
        query = _object_query(args) + f"&limit={args.limit}" + ("&reverse=1" if args.reverse else "")
        if args.prefix is not None:
            query += "&prefix=" + urllib.parse.quote(args.prefix)
        print_json(call_server(url, "GET", f"{_base(url, key)}/object/storage?{query}")["entries"])
        return 0
    from emulator.bindings.durable_objects.serialize import decode, to_json
    from emulator.bindings.durable_objects.storage import compile_list_options

    store = _Offline(args, key).store(args)
    if store is None:
        print_json([])
        return 0
    try:
        bounds = compile_list_options({"prefix": args.prefix, "limit": args.limit, "reverse": args.reverse})
        entries = []
        if bounds is not None:
            start, end, reverse, limit = bounds
            entries = [{"key": k, "value": to_json(decode(v)), "size": len(v)}
                       for k, v in store.list(start, end, reverse, limit)]
        print_json(entries)
    finally:
        store.close()
    return 0


def _param(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


@cli_errors
def run_sql(args: argparse.Namespace) -> int:
    key = namespace_key(args)
    params = [_param(p) for p in args.param]
    url = running_server(resolve_state_dir(args))
    if url:
        result = call_server(url, "POST", f"{_base(url, key)}/object/sql?{_object_query(args)}",
                             body={"sql": args.sql, "params": params})
        print_json(result)
        return 0
    from emulator.bindings.durable_objects.sql import SqlStorage

    offline = _Offline(args, key)
    store = offline.store(args)
    if store is None:
        raise CliError(f"The object has no storage in {offline.folder}.")

    class _Actor:  # what SqlStorage needs of an object
        def __init__(self) -> None:
            self.store = store

        def describe(self) -> str:
            return offline.key

    from emulator.bindings.durable_objects.serialize import to_json

    try:
        cursor = SqlStorage(_Actor()).exec(args.sql, *params)  # type: ignore[arg-type]  # _Actor has the one attribute SqlStorage reads (store)
        rows = [[to_json(v) for v in row] for row in cursor.raw()]
        store.commit()
        print_json({"columns": cursor.columnNames, "rows": rows, "rowsRead": cursor.rowsRead,
                    "rowsWritten": cursor.rowsWritten})
    finally:
        store.close()
    return 0


@cli_errors
def run_evict(args: argparse.Namespace) -> int:
    key = namespace_key(args)
    url = running_server(resolve_state_dir(args))
    if not url:
        raise CliError("Eviction needs a running `cf-emulator dev` on this state directory (objects only "
                       "live in a running emulator).")
    query = _object_query(args)
    path = f"{_base(url, key)}/object/evict?{query}" if query else f"{_base(url, key)}/evict"
    print_json(call_server(url, "POST", path))
    return 0
