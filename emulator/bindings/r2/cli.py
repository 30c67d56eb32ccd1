"""`cf-emulator r2 object ...` and `r2 bucket cors ...`: wrangler's R2 commands, locally.

    cf-emulator r2 object get BUCKET/KEY [--file F | --pipe]
    cf-emulator r2 object put BUCKET/KEY (--file F | --pipe) [--content-type T]
    cf-emulator r2 object delete BUCKET/KEY
    cf-emulator r2 object list BUCKET [--prefix P] [--json]
    cf-emulator r2 bucket cors set BUCKET --file rules.json [-y]
    cf-emulator r2 bucket cors list BUCKET
    cf-emulator r2 bucket cors delete BUCKET [-y]

``cors set`` reads wrangler's file (``{"rules": [{"allowed": {"origins", "methods",
"headers"}, "exposeHeaders", "maxAgeSeconds"}]}``) or the S3 / R2 dashboard shape
(``[{"AllowedOrigins": ..., "AllowedMethods": ...}]``); docs/r2.md describes how the rules
are applied. It never asks for confirmation (wrangler's ``-y``/``--force`` are accepted).

With a ``dev`` running on the state directory these go through its internal API
(``/_emulator/r2``): the running process holds the live moto state, so a write made
behind its back would not be seen until restart. Otherwise the state directory is opened
directly. ``--local`` is accepted for wrangler compatibility.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.parse
from pathlib import Path
from typing import Any

from emulator.cli._common import (
    ServerError,
    add_state_arguments,
    call_server,
    print_table,
    resolve_state_dir,
    running_server,
)
from emulator.state import StateDir


def register(subparsers: Any) -> None:
    r2 = subparsers.add_parser("r2", help="R2 buckets: objects (get, put, delete, list) and CORS rules")
    r2_sub = r2.add_subparsers(dest="r2_command", metavar="COMMAND")
    r2.set_defaults(func=lambda args: (r2.print_help(), 2)[1])
    obj = r2_sub.add_parser("object", help="manage objects in a local bucket")
    o_sub = obj.add_subparsers(dest="object_command", metavar="COMMAND")
    obj.set_defaults(func=lambda args: (obj.print_help(), 2)[1])

    get = o_sub.add_parser("get", help="fetch an object")
    get.add_argument("objectPath", metavar="BUCKET/KEY")
    out = get.add_mutually_exclusive_group()
    out.add_argument("-f", "--file", metavar="F", help="write the object to this file")
    out.add_argument("-p", "--pipe", action="store_true", help="write the object to stdout")
    add_state_arguments(get)
    get.set_defaults(func=run_get)

    put = o_sub.add_parser("put", help="create or replace an object")
    put.add_argument("objectPath", metavar="BUCKET/KEY")
    src = put.add_mutually_exclusive_group(required=True)
    src.add_argument("-f", "--file", metavar="F", help="read the object from this file")
    src.add_argument("-p", "--pipe", action="store_true", help="read the object from stdin")
    put.add_argument("--content-type", "--ct", dest="content_type", default=None,
                     help="httpMetadata.contentType")
    add_state_arguments(put)
    put.set_defaults(func=run_put)

    delete = o_sub.add_parser("delete", help="delete an object")
    delete.add_argument("objectPath", metavar="BUCKET/KEY")
    add_state_arguments(delete)
    delete.set_defaults(func=run_delete)

    lst = o_sub.add_parser("list", help="list objects")
    lst.add_argument("bucket", metavar="BUCKET")
    lst.add_argument("--prefix", default="", help="only keys starting with this")
    lst.add_argument("--json", action="store_true", help="print the objects as JSON")
    add_state_arguments(lst)
    lst.set_defaults(func=run_list)

    bucket = r2_sub.add_parser("bucket", help="bucket settings")
    b_sub = bucket.add_subparsers(dest="bucket_command", metavar="COMMAND")
    bucket.set_defaults(func=lambda args: (bucket.print_help(), 2)[1])
    cors = b_sub.add_parser("cors", help="manage the CORS rules of a local bucket")
    c_sub = cors.add_subparsers(dest="cors_command", metavar="COMMAND")
    cors.set_defaults(func=lambda args: (cors.print_help(), 2)[1])

    cors_set = c_sub.add_parser("set", help="set the CORS rules of a bucket from a JSON file")
    cors_set.add_argument("bucket", metavar="BUCKET")
    cors_set.add_argument("--file", required=True, metavar="F", help="JSON file with the rules")
    cors_set.add_argument("-y", "--force", action="store_true", help="accepted for wrangler compatibility")
    add_state_arguments(cors_set)
    cors_set.set_defaults(func=run_cors_set)

    cors_list = c_sub.add_parser("list", help="list the CORS rules of a bucket")
    cors_list.add_argument("bucket", metavar="BUCKET")
    add_state_arguments(cors_list)
    cors_list.set_defaults(func=run_cors_list)

    cors_delete = c_sub.add_parser("delete", help="delete the CORS rules of a bucket")
    cors_delete.add_argument("bucket", metavar="BUCKET")
    cors_delete.add_argument("-y", "--force", action="store_true", help="accepted for wrangler compatibility")
    add_state_arguments(cors_delete)
    cors_delete.set_defaults(func=run_cors_delete)


def _fail(message: str) -> int:
    print(f"✘ [ERROR] {message}", file=sys.stderr)
    return 1


def _split(object_path: str) -> tuple[str, str]:
    bucket, sep, key = object_path.partition("/")
    if not sep or not bucket or not key:
        raise ValueError("The object path must be in the form of {bucket}/{key}")
    return bucket, key


def _base(bucket: str, url: str) -> str:
    # server.json's internal_url is an app's base URL; tolerate one already ending in /_emulator.
    prefix = "/r2" if url.rstrip("/").endswith("/_emulator") else "/_emulator/r2"
    return f"{prefix}/buckets/{urllib.parse.quote(bucket, safe='')}"


class _Local:
    """The state directory opened without a running `dev`."""

    def __init__(self, state: StateDir) -> None:
        from emulator.bindings.r2.store import R2Store
        from emulator.clock import RealClock

        self.store = R2Store(state.binding_dir("r2"))
        self.store.restore()
        self.clock = RealClock()

    def bucket(self, name: str, create: bool = False) -> Any:
        from emulator.bindings.r2.binding import R2Bucket

        if not create and not self.store.has_bucket(name):
            raise LookupError(f"The specified bucket '{name}' does not exist.")
        return R2Bucket(self.store, name, self.clock)

    def close(self) -> None:
        self.store.close()


def _with_local(args: argparse.Namespace, work: Any) -> Any:
    local = _Local(resolve_state_dir(args))
    try:
        return asyncio.run(work(local))
    finally:
        local.close()


def run_get(args: argparse.Namespace) -> int:
    from emulator.bindings.r2.errors import R2Error

    try:
        bucket, key = _split(args.objectPath)
    except ValueError as exc:
        return _fail(str(exc))
    target = None if args.pipe else Path(args.file or Path(key).name or "object")
    url = running_server(resolve_state_dir(args))
    try:
        if url:
            data = call_server(url, "GET", f"{_base(bucket, url)}/object?key={urllib.parse.quote(key, safe='')}")
        else:
            async def work(local: _Local) -> bytes | None:
                obj = await local.bucket(bucket).get(key)
                return bytes(await obj.bytes()) if obj is not None and hasattr(obj, "bytes") else None

            data = _with_local(args, work)
            if data is None:
                return _fail(f"The specified key does not exist: {key}")
    except ServerError as exc:
        return _fail(exc.payload.get("error", str(exc)) if isinstance(exc.payload, dict) else str(exc))
    except (LookupError, R2Error) as exc:
        return _fail(str(exc).strip("'\""))
    if target is None:
        # A pipe's write may take only part of the data (its reader just went away): go on
        # until all is written, or the closed pipe is reported (docs/cli.md, exit 141).
        view = memoryview(data)
        while view:
            view = view[sys.stdout.buffer.write(view):]
        sys.stdout.buffer.flush()
    else:
        target.write_bytes(data)
        print(f"Downloaded \"{key}\" from \"{bucket}\" to {target}.", file=sys.stderr)
    return 0


def run_put(args: argparse.Namespace) -> int:
    from emulator.bindings.r2.errors import R2Error

    try:
        bucket, key = _split(args.objectPath)
    except ValueError as exc:
        return _fail(str(exc))
    try:
        data = sys.stdin.buffer.read() if args.pipe else Path(args.file).read_bytes()
    except OSError as exc:
        return _fail(f"Could not read {args.file}: {exc.strerror}")
    url = running_server(resolve_state_dir(args))
    try:
        if url:
            import urllib.error
            import urllib.request

            req = urllib.request.Request(
                url.rstrip("/") + f"{_base(bucket, url)}/object?key={urllib.parse.quote(key, safe='')}",
                data=data, method="PUT",
                headers={"content-type": args.content_type or "application/octet-stream"})
            if not args.content_type:
                req.remove_header("Content-type")
            try:
                with urllib.request.urlopen(req, timeout=300) as resp:
                    json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                detail = json.loads(exc.read() or b"{}")
                return _fail(detail.get("error", str(exc)))
        else:
            async def work(local: _Local) -> None:
                http = {"contentType": args.content_type} if args.content_type else None
                await local.bucket(bucket, create=True).put(key, data, httpMetadata=http)

            _with_local(args, work)
    except (R2Error, TypeError) as exc:
        return _fail(str(exc))
    print(f"Upload complete: \"{key}\" to \"{bucket}\" ({len(data)} bytes).", file=sys.stderr)
    return 0


def run_delete(args: argparse.Namespace) -> int:
    from emulator.bindings.r2.errors import R2Error

    try:
        bucket, key = _split(args.objectPath)
    except ValueError as exc:
        return _fail(str(exc))
    url = running_server(resolve_state_dir(args))
    try:
        if url:
            call_server(url, "DELETE", f"{_base(bucket, url)}/object?key={urllib.parse.quote(key, safe='')}")
        else:
            async def work(local: _Local) -> None:
                await local.bucket(bucket).delete(key)

            _with_local(args, work)
    except ServerError as exc:
        return _fail(exc.payload.get("error", str(exc)) if isinstance(exc.payload, dict) else str(exc))
    except (LookupError, R2Error) as exc:
        return _fail(str(exc).strip("'\""))
    print(f"Deleted \"{key}\" from \"{bucket}\".", file=sys.stderr)
    return 0


def run_list(args: argparse.Namespace) -> int:
    url = running_server(resolve_state_dir(args))
    objects: list[dict[str, Any]] = []
    try:
        if url:
            cursor: str | None = None
            while True:
                query = {"prefix": args.prefix, **({"cursor": cursor} if cursor else {})}
                page = call_server(url, "GET", f"{_base(args.bucket, url)}/objects?"
                                   + urllib.parse.urlencode(query))
                objects += page["objects"]
                if not page["truncated"]:
                    break
                cursor = page["cursor"]
        else:
            async def work(local: _Local) -> list[dict[str, Any]]:
                bucket = local.bucket(args.bucket)
                found: list[dict[str, Any]] = []
                cursor = None
                while True:
                    page = await bucket.list(prefix=args.prefix, cursor=cursor)
                    found += [o.to_json() for o in page.objects]
                    if not page.truncated:
                        return found
                    cursor = page.cursor

            objects = _with_local(args, work)
    except ServerError as exc:
        return _fail(exc.payload.get("error", str(exc)) if isinstance(exc.payload, dict) else str(exc))
    except LookupError as exc:
        return _fail(str(exc).strip("'\""))
    if args.json:
        print(json.dumps(objects, indent=2))
    else:
        print_table([{"key": o["key"], "size": o["size"], "etag": o["etag"],
                      "uploaded": o["uploaded"]} for o in objects],
                    ["key", "size", "etag", "uploaded"])
    return 0


# --- bucket cors --------------------------------------------------------------------------
def _cors_call(args: argparse.Namespace, method: str, body: Any = None) -> list[dict[str, Any]]:
    """The bucket's rules after ``method`` (GET/PUT/DELETE), in the Cloudflare API shape,
    through the running `dev` or on disk. Raises LookupError, ValueError or ServerError."""
    from emulator.bindings.r2 import cors

    url = running_server(resolve_state_dir(args))
    if url:
        answer = call_server(url, method, f"{_base(args.bucket, url)}/cors", body=body)
        return list(answer.get("rules", [])) if isinstance(answer, dict) else []
    local = _Local(resolve_state_dir(args))
    try:
        store = local.store
        if method == "PUT":
            rules = cors.rules_from_json(body)
            store.ensure_bucket(args.bucket)
            store.set_bucket_cors(args.bucket, [r.to_s3() for r in rules])
            return [r.to_cloudflare() for r in rules]
        if not store.has_bucket(args.bucket):
            raise LookupError(f"The specified bucket '{args.bucket}' does not exist.")
        if method == "DELETE":
            store.set_bucket_cors(args.bucket, None)
            return []
        return [r.to_cloudflare() for r in cors.rules_from_stored(store.bucket_cors(args.bucket))]
    finally:
        local.close()


def _server_message(exc: ServerError) -> str:
    payload = exc.payload
    return str(payload.get("error") or payload.get("message")) if isinstance(payload, dict) else str(exc)


def run_cors_set(args: argparse.Namespace) -> int:
    from emulator.bindings.r2.cors import CorsConfigError, rules_from_json

    path = Path(args.file)
    try:
        rules_file = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return _fail(f"Could not read {args.file}: {exc.strerror}")
    except ValueError as exc:
        return _fail(f"{args.file} is not valid JSON: {exc}")
    try:
        count = len(rules_from_json(rules_file))  # checked here for a clear message either way
    except CorsConfigError as exc:
        return _fail(f"{args.file}: {exc}")
    print(f"Setting CORS configuration ({count} rules) for bucket '{args.bucket}'...")
    try:
        _cors_call(args, "PUT", rules_file)
    except ServerError as exc:
        return _fail(_server_message(exc))
    print(f"✨ Set CORS configuration for bucket '{args.bucket}'.")
    return 0


def run_cors_list(args: argparse.Namespace) -> int:
    print(f"Listing CORS rules for bucket '{args.bucket}'...")
    try:
        rules = _cors_call(args, "GET")
    except ServerError as exc:
        return _fail(_server_message(exc))
    except LookupError as exc:
        return _fail(str(exc).strip("'\""))
    if not rules:
        print(f"There is no CORS configuration defined for bucket '{args.bucket}'.")
        return 0
    blocks = []
    for rule in rules:
        allowed = rule.get("allowed", {})
        rows = {
            "allowed_origins": ", ".join(allowed.get("origins", [])) or "(no origins)",
            "allowed_methods": ", ".join(allowed.get("methods", [])) or "(no methods)",
            "allowed_headers": ", ".join(allowed.get("headers", [])) or "(no headers)",
            "exposed_headers": ", ".join(rule.get("exposeHeaders", [])) or "(no exposed headers)",
            "max_age_seconds": str(rule["maxAgeSeconds"]) if "maxAgeSeconds" in rule else "(0 seconds)",
        }
        width = max(len(k) for k in rows) + 1
        blocks.append("\n".join(f"{(k + ':').ljust(width)}  {v}" for k, v in rows.items()))
    print("\n\n".join(blocks))
    return 0


def run_cors_delete(args: argparse.Namespace) -> int:
    print(f"Deleting the CORS configuration for bucket '{args.bucket}'...")
    try:
        _cors_call(args, "DELETE")
    except ServerError as exc:
        return _fail(_server_message(exc))
    except LookupError as exc:
        return _fail(str(exc).strip("'\""))
    print(f"CORS configuration deleted for bucket '{args.bucket}'.")
    return 0
