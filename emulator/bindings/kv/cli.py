"""`cf-emulator kv key|bulk|namespace`: wrangler's KV commands, locally.

    cf-emulator kv key put KEY [VALUE] (--binding B | --namespace-id ID) [--path F] [--ttl S]
                                       [--expiration S] [--metadata JSON] [--preview]
    cf-emulator kv key get KEY (--binding B | --namespace-id ID) [--text] [--json]
    cf-emulator kv key delete KEY (--binding B | --namespace-id ID)
    cf-emulator kv key list (--binding B | --namespace-id ID) [--prefix P]
    cf-emulator kv bulk put|get|delete FILE (--binding B | --namespace-id ID) [--force]
    cf-emulator kv namespace list

``--binding`` resolves the namespace from the wrangler config (``-c``, else the nearest one)
the way wrangler does (docs/kv.md, "CLI"); a ``--namespace-id`` neither the config nor the
state directory knows is an error listing the known ones, so a typo creates nothing.
Reading verbs (``key get``, ``key list``, ``bulk get``, ``namespace list``) create nothing,
not even the state directory. Writing verbs take ``--json`` for a machine-readable
outcome; ``bulk put``/``bulk delete`` show a progress bar on a terminal. With a ``dev`` running on the state directory
the commands go through its internal API (``/_emulator/kv``); otherwise they open the
namespace's file in the state directory. ``--local`` is accepted for wrangler
compatibility (always local); ``--remote`` is refused.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import urllib.parse
from pathlib import Path
from typing import Any
from collections.abc import Callable

from emulator.cli import output
from emulator.cli._common import (
    add_command_group,
    add_json_argument,
    add_state_arguments,
    api_path,
    call_server,
    cli_errors,
    config_path,
    require_config,
    resolve_state_dir,
    running_server,
    unknown_name,
)
from emulator.cli.output import print_json
from emulator.errors import CliError


def register(subparsers: Any) -> None:
    sub = add_command_group(subparsers, "kv", "kv_command", help="Workers KV: keys, bulk writes, namespaces",
                            description="Manage the local Workers KV namespaces (wrangler's `kv` commands).")
    key_sub = add_command_group(sub, "key", "key_command", help="write, read, delete and list keys of a namespace")

    put = key_sub.add_parser("put", help="write a single key/value pair")
    put.add_argument("key", metavar="KEY")
    put.add_argument("value", metavar="VALUE", nargs="?", help="the value (or --path)")
    put.add_argument("--path", metavar="FILE", help="read the value from this file")
    put.add_argument("--ttl", type=int, metavar="SECONDS", help="expire after this many seconds (at least 60)")
    put.add_argument("--expiration", type=int, metavar="EPOCH_SECONDS", help="expire at this time")
    put.add_argument("--metadata", metavar="JSON", help="a JSON object stored with the key")
    add_json_argument(put, "the outcome")
    _namespace_arguments(put)
    put.set_defaults(func=run_put)

    get = key_sub.add_parser("get", help="read a single value")
    get.add_argument("key", metavar="KEY")
    get.add_argument("--text", action="store_true", help="decode the value as UTF-8 text")
    get.add_argument("--json", action="store_true", help="print {key, value, metadata, expiration} as JSON")
    _namespace_arguments(get)
    get.set_defaults(func=run_get)

    delete = key_sub.add_parser("delete", help="remove a single key")
    delete.add_argument("key", metavar="KEY")
    add_json_argument(delete, "the outcome")
    _namespace_arguments(delete)
    delete.set_defaults(func=run_delete)

    lst = key_sub.add_parser("list", help="list keys (JSON), in byte order")
    lst.add_argument("--prefix", default="", help="only keys starting with this")
    lst.add_argument("--json", action="store_true", help="accepted: the keys are always printed as JSON")
    _namespace_arguments(lst)
    lst.set_defaults(func=run_list)

    bulk_sub = add_command_group(sub, "bulk", "bulk_command", help="write, read or delete many keys from a JSON file")
    bput = bulk_sub.add_parser("put", help='write pairs from a JSON array of {"key", "value", "expiration"?, '
                                           '"expiration_ttl"?, "metadata"?, "base64"?}')
    bput.add_argument("filename", metavar="FILE")
    for flag, kind in (("--ttl", int), ("--expiration", int), ("--metadata", str)):
        bput.add_argument(flag, type=kind, default=None,
                          help="accepted and ignored, as wrangler does: give it per item in the file")
    add_json_argument(bput, "how many pairs were written")
    _namespace_arguments(bput)
    bput.set_defaults(func=run_bulk_put)
    bget = bulk_sub.add_parser("get", help='read the keys of a JSON array of strings or {"name"} objects')
    bget.add_argument("filename", metavar="FILE")
    bget.add_argument("--json", action="store_true", help="accepted: the values are always printed as JSON")
    _namespace_arguments(bget)
    bget.set_defaults(func=run_bulk_get)
    bdel = bulk_sub.add_parser("delete", help='delete the keys of a JSON array of strings or {"name"} objects')
    bdel.add_argument("filename", metavar="FILE")
    bdel.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")
    add_json_argument(bdel, "how many keys were deleted")
    _namespace_arguments(bdel)
    bdel.set_defaults(func=run_bulk_delete)

    ns_sub = add_command_group(sub, "namespace", "namespace_command", help="local namespaces")
    nlist = ns_sub.add_parser("list", help="every namespace the config declares or the state holds (JSON)")
    nlist.add_argument("--json", action="store_true", help="accepted: the namespaces are always printed as JSON")
    add_state_arguments(nlist)
    nlist.set_defaults(func=run_namespace_list)


def _namespace_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--binding", metavar="NAME", help="the binding name in the wrangler config")
    which.add_argument("--namespace-id", metavar="ID", help="the namespace id")
    parser.add_argument("--preview", nargs="?", const=True, default=None, type=_flag,
                        help="use the binding's preview_id (--preview false: its id)")
    parser.add_argument("--remote", action="store_true", help=argparse.SUPPRESS)
    add_state_arguments(parser)


def _flag(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


# --- which namespace -------------------------------------------------------------------
def _declared(config: Path) -> list[Any]:
    """Every ``kv_namespaces`` entry of the config (each app of a workspace file)."""
    from emulator.bindings.kv.config import kv_config
    from emulator.config import ConfigLookupError, check_paths

    try:
        report = check_paths([config])
    except ConfigLookupError as exc:
        raise CliError(str(exc)) from None
    return [n for app in report.apps for n in kv_config(app).namespaces]


def namespace_id(args: argparse.Namespace) -> str:
    """The namespace a command works on, as wrangler resolves ``--binding``/``--namespace-id``."""
    if args.remote:
        raise CliError("--remote is not supported: cf-emulator only has local namespaces.")
    if args.namespace_id:
        _require_known_id(args, str(args.namespace_id))
        return str(args.namespace_id)
    if not args.binding:
        raise CliError("Exactly one of the arguments --binding and --namespace-id is required.")
    config = require_config(args, "--namespace-id")
    for ns in _declared(config):
        if ns.binding != args.binding:
            continue
        if ns.id and ns.preview_id and args.preview is None:
            raise CliError(
                f'The binding "{ns.binding}" has both an "id" and a "preview_id" configured. Pass `--preview` to '
                "target the preview namespace, or `--preview false` to target the production namespace.")
        if args.preview is True:
            if not ns.preview_id:
                raise CliError(f'The binding "{ns.binding}" has no "preview_id" configured.')
            return str(ns.preview_id)
        if args.preview is False and ns.id:
            return str(ns.id)
        return str(ns.local_id)
    known = sorted({ns.binding for ns in _declared(config)})
    listing = f" Known bindings: {', '.join(known)}." if known else ""
    raise CliError(f'A namespace with binding name "{args.binding}" was not found in the configured '
                   f'"kv_namespaces".{listing}')


def _require_known_id(args: argparse.Namespace, ns: str) -> None:
    """A ``--namespace-id`` must be one the config declares (id, preview_id, local id) or
    the state directory holds; anything else is a typo, refused with the known ids."""
    config = config_path(args)
    declared: set[str] = set()
    if config is not None and config.exists():
        for n in _declared(config):
            declared.update(str(i) for i in (n.id, n.preview_id, n.local_id) if i)
    if ns in declared:
        return
    stored = {str(n["id"]) for n in _stored_namespaces(args) if isinstance(n, dict) and "id" in n}
    if ns not in stored:
        raise CliError(unknown_name("KV namespace", ns, declared | stored))


# --- running dev or the state directory ------------------------------------------------------
def _base(url: str, ns: str) -> str:
    return api_path(url, "kv", "namespaces", ns)


def _stored_namespaces(args: argparse.Namespace) -> list[Any]:
    """The namespaces the state directory holds: the running `dev`'s list, or each
    namespace's file (``{"id", "file"}``)."""
    from emulator.bindings.kv.engine import stored_namespace_id

    state = resolve_state_dir(args)
    url = running_server(state, create=False)
    if url:
        return list(call_server(url, "GET", api_path(url, "kv", "namespaces")))
    folder = state.root / "kv"
    return [{"id": ns, "file": str(path)} for path in (sorted(folder.glob("*.sqlite3")) if folder.is_dir() else [])
            if (ns := stored_namespace_id(path)) is not None]


def _q(key: str) -> str:
    return urllib.parse.quote(key, safe="")


_CREATE: Any = object()


def _local(args: argparse.Namespace, ns: str, work: Callable[[Any], Any], empty: Any = _CREATE) -> Any:
    """Run ``work(namespace)`` on the state directory's file of ``ns`` (no `dev` running).

    A reading verb passes ``empty``: what it gets, with no file created, when the namespace
    has stored nothing yet.
    """
    from emulator.bindings.kv.binding import KVNamespace
    from emulator.bindings.kv.engine import KVEngine, namespace_path
    from emulator.clock import RealClock

    state = resolve_state_dir(args)
    path = namespace_path(state.root / "kv", ns)
    if empty is not _CREATE and not path.exists():
        return empty
    state.binding_dir("kv")
    engine = KVEngine(path, ns)
    try:
        import asyncio

        return asyncio.run(work(KVNamespace(engine, ns, RealClock())))
    finally:
        engine.close()


# --- key ---------------------------------------------------------------------------------------
@cli_errors
def run_put(args: argparse.Namespace) -> int:
    ns = namespace_id(args)
    if (args.value is None) == (args.path is None):
        raise CliError("Exactly one of the arguments value and --path is required.")
    data = Path(args.path).read_bytes() if args.path else args.value.encode()
    options: dict[str, Any] = {}
    if args.ttl is not None:
        options["expirationTtl"] = args.ttl
    if args.expiration is not None:
        options["expiration"] = args.expiration
    if args.metadata is not None:
        try:
            metadata = json.loads(args.metadata)
        except ValueError:
            metadata = None
        if not isinstance(metadata, dict):
            raise CliError(f"--metadata must be a JSON object. Received: {args.metadata}")
        options["metadata"] = metadata
    shown = f'the contents of {args.path}' if args.path else f'the value "{args.value}"'
    output.announce(args, f'Writing {shown} to key "{args.key}" on namespace {ns}.')
    url = running_server(resolve_state_dir(args))
    if url:
        query = f"key={_q(args.key)}"
        if "expirationTtl" in options:
            query += f"&expiration_ttl={options['expirationTtl']}"
        if "expiration" in options:
            query += f"&expiration={options['expiration']}"
        if "metadata" in options:
            query += f"&metadata={_q(json.dumps(options['metadata']))}"
        call_server(url, "PUT", f"{_base(url, ns)}/value?{query}", raw=data)
    else:
        async def work(namespace: Any) -> None:
            await namespace.put(args.key, data, options)
        _local(args, ns, work)
    output.outcome(args, {"namespace": ns, "key": args.key, "written": len(data)})
    return 0


@cli_errors
def run_get(args: argparse.Namespace) -> int:
    ns = namespace_id(args)
    url = running_server(resolve_state_dir(args), create=False)
    found: dict[str, Any] | None
    if url:
        found = call_server(url, "GET", f"{_base(url, ns)}/entry?key={_q(args.key)}", missing=None)
        value = None if found is None else (
            base64.b64decode(found["base64"]) if "base64" in found else found["text"].encode())
    else:
        async def work(namespace: Any) -> Any:
            return await namespace.getWithMetadata(args.key, "arrayBuffer")
        result = _local(args, ns, work, empty=None)
        value = bytes(result["value"]) if result is not None and result["value"] is not None else None
        found = None if value is None else {"metadata": result["metadata"]}
    if args.json:
        if value is None:
            print_json(None)
        else:
            out: dict[str, Any] = {"key": args.key}
            try:
                out["value"] = value.decode("utf-8")
            except UnicodeDecodeError:
                out["base64"] = base64.b64encode(value).decode("ascii")
            for field in ("metadata", "expiration"):
                if found is not None and found.get(field) is not None:
                    out[field] = found[field]
            print_json(out)
        return 0
    if value is None:
        output.say("Value not found")
        return 0
    if args.text:
        output.say(value.decode("utf-8", errors="replace"))
    else:
        sys.stdout.buffer.write(value)
        sys.stdout.flush()
    return 0


@cli_errors
def run_delete(args: argparse.Namespace) -> int:
    ns = namespace_id(args)
    output.announce(args, f'Deleting the key "{args.key}" on namespace {ns}.')
    url = running_server(resolve_state_dir(args))
    if url:
        call_server(url, "DELETE", f"{_base(url, ns)}/value?key={_q(args.key)}", missing=None)
    else:
        async def work(namespace: Any) -> None:
            await namespace.delete(args.key)
        _local(args, ns, work, empty=None)  # a namespace that holds nothing: nothing to delete
    output.outcome(args, {"namespace": ns, "key": args.key, "deleted": True})
    return 0


@cli_errors
def run_list(args: argparse.Namespace) -> int:
    ns = namespace_id(args)
    url = running_server(resolve_state_dir(args), create=False)
    keys: list[Any] = []
    cursor: str | None = None
    while True:
        if url:
            query = f"prefix={_q(args.prefix)}" + (f"&cursor={_q(cursor)}" if cursor else "")
            page = call_server(url, "GET", f"{_base(url, ns)}/keys?{query}",
                               missing={"keys": [], "list_complete": True})
        else:
            async def work(namespace: Any, after: str | None = cursor) -> Any:
                return await namespace.list({"prefix": args.prefix, "cursor": after})
            page = _local(args, ns, work, empty={"keys": [], "list_complete": True})
        keys.extend(dict(k) for k in page["keys"])
        if page["list_complete"]:
            break
        cursor = page["cursor"]
    print_json(keys)
    return 0


# --- bulk --------------------------------------------------------------------------------------
def _read_json_file(name: str) -> Any:
    try:
        return json.loads(Path(name).read_text(encoding="utf-8"))
    except ValueError as exc:
        raise CliError(f"{name} is not valid JSON: {exc}") from None


def _keys_of(payload: Any, name: str) -> list[str]:
    if isinstance(payload, list) and all(isinstance(k, str) or (isinstance(k, dict) and isinstance(k.get("name"), str))
                                         for k in payload):
        return [k if isinstance(k, str) else k["name"] for k in payload]
    raise CliError(f'Unexpected JSON input from "{name}". Expected an array of strings or objects with a '
                   '"name" key.')


@cli_errors
def run_bulk_put(args: argparse.Namespace) -> int:
    ns = namespace_id(args)
    pairs = _read_json_file(args.filename)
    if not isinstance(pairs, list):
        raise CliError(f'Unexpected JSON input from "{args.filename}". Expected an array of key-value objects.')
    ignored = [flag for flag in ("ttl", "expiration", "metadata") if getattr(args, flag) is not None]
    if ignored:
        output.warn(f"--{', --'.join(ignored)} ignored by `kv bulk put`, as wrangler ignores them: give "
                    '"expiration", "expiration_ttl" or "metadata" per item in the file.')
    url = running_server(resolve_state_dir(args))
    with output.Progress(f"Writing {len(pairs)} pairs", None if url else len(pairs), "pairs") as bar:
        if url:
            call_server(url, "POST", f"{_base(url, ns)}/bulk", body=pairs)
        else:
            async def work(namespace: Any) -> int:
                return int(namespace.bulk_put(pairs, progress=bar.update if bar.enabled else None))
            _local(args, ns, work)
    output.outcome(args, {"namespace": ns, "written": len(pairs)}, "Success!")
    return 0


@cli_errors
def run_bulk_get(args: argparse.Namespace) -> int:
    ns = namespace_id(args)
    keys = _keys_of(_read_json_file(args.filename), args.filename)
    url = running_server(resolve_state_dir(args), create=False)
    if url:
        values = call_server(url, "POST", f"{_base(url, ns)}/bulk/get", body=keys, missing=dict.fromkeys(keys))
    else:
        async def work(namespace: Any) -> dict[str, Any]:
            return {k: await namespace.get(k) for k in keys}
        values = _local(args, ns, work, empty=dict.fromkeys(keys))
    print_json(values)
    return 0


@cli_errors
def run_bulk_delete(args: argparse.Namespace) -> int:
    ns = namespace_id(args)
    keys = _keys_of(_read_json_file(args.filename), args.filename)
    if not args.force:
        try:
            sure = output.confirm(f"Are you sure you want to delete all the keys read from \"{args.filename}\" "
                                  f"from kv-namespace with id \"{ns}\"?")
        except output.NotInteractive:
            raise CliError("Refusing to delete without confirmation: pass --force "
                           "(not at a terminal).") from None
        if not sure:
            output.say(f"Not deleting keys read from {args.filename}")
            return 0
    url = running_server(resolve_state_dir(args))
    deleted: int | None = None
    with output.Progress(f"Deleting {len(keys)} keys", None, "keys"):
        if url:
            call_server(url, "POST", f"{_base(url, ns)}/bulk/delete", body=keys, missing=None)
        else:
            async def work(namespace: Any) -> int:
                return int(namespace.bulk_delete(keys))
            deleted = _local(args, ns, work, empty=0)
    output.outcome(args, {"namespace": ns, "keys": len(keys), **({"deleted": deleted} if deleted is not None else {})},
                   "Success!")
    return 0


# --- namespaces -----------------------------------------------------------------------------------
@cli_errors
def run_namespace_list(args: argparse.Namespace) -> int:
    print_json(_stored_namespaces(args))
    return 0
