"""`cf-emulator r2 object ...` and `r2 bucket cors ...`: wrangler's R2 commands, locally.

    cf-emulator r2 object get BUCKET/KEY [--file F | --pipe]
    cf-emulator r2 object put BUCKET/KEY (--file F | --pipe) [--content-type T] [--content-disposition D]
                              [--content-encoding E] [--content-language L] [--cache-control C]
                              [--expires WHEN] [--json]
    cf-emulator r2 object delete BUCKET/KEY [--json]
    cf-emulator r2 object list BUCKET [--prefix P] [--json]
    cf-emulator r2 bucket cors set BUCKET --file rules.json [-y] [--json]
    cf-emulator r2 bucket cors list BUCKET [--json]
    cf-emulator r2 bucket cors delete BUCKET [-y] [--json]

As wrangler: ``get`` without ``--file`` or ``--pipe`` writes the object to a file named
after its key (folders created: ``r2 object get b/photos/cat.jpg`` writes
``photos/cat.jpg``); ``put`` takes the httpMetadata flags (``--ct``, ``--cd``, ``--ce``,
``--cl``, ``--cc``, ``--expires``: epoch milliseconds as wrangler's local mode reads it,
or an ISO 8601 / HTTP date). Uploads and downloads show a progress bar on a terminal.
``list`` is ours. A bucket is known when the config declares it or the state directory
holds it; ``put`` into a declared bucket creates it, any other name is an error listing
the known buckets. Reading verbs (``get``, ``list``, ``cors list``) create nothing.

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
import json
import sys
import urllib.parse
from pathlib import Path
from typing import Any
from collections.abc import AsyncIterator, Iterator

from emulator.cli import output
from emulator.cli._common import (
    ServerError,
    StateTarget,
    Verb,
    add_command_group,
    add_json_argument,
    add_state_arguments,
    api_path,
    call_server,
    cli_errors,
    config_apps,
)
from emulator.errors import CliError
from emulator.state import StateDir

CHUNK = 1 << 20
# The header carrying a put's options to a running `dev` (routes.py reads it).
PUT_OPTIONS_HEADER = "cf-emulator-r2-put-options"
# wrangler's --content-type ... --cache-control flags → R2 httpMetadata fields and headers.
HTTP_FLAGS = (("content_type", "contentType", "content-type"),
              ("content_disposition", "contentDisposition", "content-disposition"),
              ("content_encoding", "contentEncoding", "content-encoding"),
              ("content_language", "contentLanguage", "content-language"),
              ("cache_control", "cacheControl", "cache-control"))


def register(subparsers: Any) -> None:
    r2_sub = add_command_group(subparsers, "r2", "r2_command",
                               help="R2 buckets: objects (get, put, delete, list) and CORS rules",
                               description="Manage objects and CORS rules of the local R2 buckets.")
    o_sub = add_command_group(r2_sub, "object", "object_command", help="manage objects in a local bucket")

    get = o_sub.add_parser("get", help="fetch an object from a bucket",
                           description="Fetch an object from an R2 bucket. Without --file or --pipe it is "
                                       "written to a file named after its key, as wrangler does.")
    get.add_argument("objectPath", metavar="BUCKET/KEY",
                     help="the source object path in the form of {bucket}/{key}")
    out = get.add_mutually_exclusive_group()
    out.add_argument("-f", "--file", metavar="F", help="the destination file to create (default: the key)")
    out.add_argument("-p", "--pipe", action="store_true", help="write the object to stdout")
    get.add_argument("-J", "--jurisdiction", default=None, help=argparse.SUPPRESS)
    add_state_arguments(get)
    get.set_defaults(func=run_get)

    put = o_sub.add_parser("put", help="create an object in a bucket",
                           description="Create an object in an R2 bucket, with its httpMetadata.")
    put.add_argument("objectPath", metavar="BUCKET/KEY",
                     help="the destination object path in the form of {bucket}/{key}")
    src = put.add_mutually_exclusive_group(required=True)
    src.add_argument("-f", "--file", metavar="F", help="the path of the file to upload")
    src.add_argument("-p", "--pipe", action="store_true", help="read the object from stdin")
    put.add_argument("--content-type", "--ct", dest="content_type", default=None,
                     help="a standard MIME type describing the format of the object data")
    put.add_argument("--content-disposition", "--cd", dest="content_disposition", default=None,
                     help="presentational information for the object")
    put.add_argument("--content-encoding", "--ce", dest="content_encoding", default=None,
                     help="the content encodings applied to the object")
    put.add_argument("--content-language", "--cl", dest="content_language", default=None,
                     help="the language the content is in")
    put.add_argument("--cache-control", "--cc", dest="cache_control", default=None,
                     help="caching behavior along the request/reply chain")
    put.add_argument("--expires", default=None, metavar="WHEN",
                     help="when the object is no longer cacheable: epoch milliseconds, or an ISO 8601 "
                          "or HTTP date")
    put.add_argument("-s", "--storage-class", default=None, help=argparse.SUPPRESS)
    put.add_argument("-J", "--jurisdiction", default=None, help=argparse.SUPPRESS)
    put.add_argument("-y", "--force", action="store_true", help="accepted for wrangler compatibility")
    add_json_argument(put, "the stored object's metadata")
    add_state_arguments(put)
    put.set_defaults(func=run_put)

    delete = o_sub.add_parser("delete", help="delete an object in a bucket")
    delete.add_argument("objectPath", metavar="BUCKET/KEY",
                        help="the object path in the form of {bucket}/{key}")
    delete.add_argument("-J", "--jurisdiction", default=None, help=argparse.SUPPRESS)
    delete.add_argument("-y", "--force", action="store_true", help="accepted for wrangler compatibility")
    add_json_argument(delete, "the outcome")
    add_state_arguments(delete)
    delete.set_defaults(func=run_delete)

    lst = o_sub.add_parser("list", help="list objects")
    lst.add_argument("bucket", metavar="BUCKET")
    lst.add_argument("--prefix", default="", help="only keys starting with this")
    add_json_argument(lst, "the objects")
    add_state_arguments(lst)
    lst.set_defaults(func=run_list)

    b_sub = add_command_group(r2_sub, "bucket", "bucket_command", help="bucket settings")
    c_sub = add_command_group(b_sub, "cors", "cors_command", help="manage the CORS rules of a local bucket")

    cors_set = c_sub.add_parser("set", help="set the CORS rules of a bucket from a JSON file")
    cors_set.add_argument("bucket", metavar="BUCKET")
    cors_set.add_argument("--file", required=True, metavar="F", help="JSON file with the rules")
    cors_set.add_argument("-y", "--force", action="store_true", help="accepted for wrangler compatibility")
    add_json_argument(cors_set, "the rules set")
    add_state_arguments(cors_set)
    cors_set.set_defaults(func=run_cors_set)

    cors_list = c_sub.add_parser("list", help="list the CORS rules of a bucket")
    cors_list.add_argument("bucket", metavar="BUCKET")
    add_json_argument(cors_list, "the rules (Cloudflare API shape)")
    add_state_arguments(cors_list)
    cors_list.set_defaults(func=run_cors_list)

    cors_delete = c_sub.add_parser("delete", help="delete the CORS rules of a bucket")
    cors_delete.add_argument("bucket", metavar="BUCKET")
    cors_delete.add_argument("-y", "--force", action="store_true", help="accepted for wrangler compatibility")
    add_json_argument(cors_delete, "the outcome")
    add_state_arguments(cors_delete)
    cors_delete.set_defaults(func=run_cors_delete)


def _split(object_path: str) -> tuple[str, str]:
    bucket, sep, key = object_path.partition("/")
    if not sep or not bucket or not key:
        raise ValueError("The object path must be in the form of {bucket}/{key}")
    return bucket, key


def _base(bucket: str, url: str) -> str:
    return api_path(url, "r2", "buckets", bucket)


def declared_buckets(args: argparse.Namespace) -> set[str]:
    from emulator.bindings.r2.config import r2_config

    return {b.bucket_name for app in config_apps(args).apps for b in r2_config(app).buckets}


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

        if create:
            self.store.ensure_bucket(name)
        elif not self.store.has_bucket(name):
            raise LookupError(f"The specified bucket '{name}' does not exist.")
        return R2Bucket(self.store, name, self.clock)

    def close(self) -> None:
        self.store.close()


class _Target(StateTarget):
    """The R2 state a verb works on: a running `dev`'s API, or the files (``local``)."""

    def __init__(self, args: argparse.Namespace, reading: bool) -> None:
        super().__init__(args, reading)
        # Without R2 data in the state directory there is nothing to open for reading.
        self.empty = not self.url and not (self.state.root / "r2").is_dir()

    def writable(self) -> None:
        super().writable()
        self.empty = False

    def run(self, work: Any) -> Any:
        if not self.reading:
            self.hold_files()
        import asyncio

        local = _Local(self.state)
        try:
            return asyncio.run(work(local))
        finally:
            local.close()

    def stored_buckets(self) -> set[str]:
        if self.url:
            return set(call_server(self.url, "GET", api_path(self.url, "r2", "buckets")))
        if self.empty:
            return set()
        reading, self.reading = self.reading, True
        try:
            return set(self.run(_bucket_names))
        finally:
            self.reading = reading

    def missing(self, bucket: str) -> CliError:
        """The error for a bucket that does not exist: unknown names list the known ones."""
        declared = declared_buckets(self.args)
        if bucket in declared:
            return CliError(f"The specified bucket '{bucket}' does not exist.")
        return self.unknown("bucket", bucket, declared | self.stored_buckets())

    def require_writable(self, bucket: str) -> None:
        """A writing verb's bucket: declared by the config (created on first use) or stored."""
        if bucket not in declared_buckets(self.args) and bucket not in self.stored_buckets():
            raise self.missing(bucket)


async def _bucket_names(local: _Local) -> list[str]:
    return local.store.bucket_names()


def _message(exc: Exception) -> str | None:
    """The R2 errors of a verb as the user reads them (``cli_errors`` does the rest)."""
    from emulator.bindings.r2.errors import R2Error

    if isinstance(exc, (LookupError, R2Error, TypeError, ValueError)):
        return str(exc).strip("'\"")
    return None


def _run(verb: Verb) -> Verb:
    """The verb, with the errors of what it calls turned into ``CliError`` (one line each)."""
    return cli_errors(verb, _message)


# --- objects -------------------------------------------------------------------------------
def _download_target(args: argparse.Namespace, key: str) -> Path | None:
    """Where ``get`` writes: ``--file``, else the key as a relative path (wrangler's default)."""
    if args.pipe:
        return None
    if args.file:
        return Path(args.file)
    target = Path(key)
    if target.is_absolute() or ".." in target.parts:
        raise CliError(f'The key "{key}" is not a safe file path here; pass --file or --pipe.')
    return target


@_run
def run_get(args: argparse.Namespace) -> int:
    bucket, key = _split(args.objectPath)
    target = _download_target(args, key)
    backend = _Target(args, reading=True)
    if target is not None:
        output.info(f'Downloading "{key}" from "{bucket}".')
    if backend.empty:
        raise backend.missing(bucket)
    sink = _Sink(target)
    try:
        if backend.url:
            _download_remote(backend.url, bucket, key, sink)
        else:
            async def work(local: _Local) -> bool:
                try:
                    handle = local.bucket(bucket)
                except LookupError:
                    raise backend.missing(bucket) from None
                obj = await handle.get(key)
                if obj is None or not hasattr(obj, "body"):
                    return False
                with output.Progress(f"Downloading {key}", obj.size, "bytes") as bar:
                    async for chunk in obj.body:
                        sink.write(chunk)
                        bar.advance(len(chunk))
                return True

            if not backend.run(work):
                raise CliError(f"The specified key does not exist: {key}")
    except BaseException:
        sink.abandon()
        raise
    sink.close()
    if target is not None:
        output.info("Download complete.")
    return 0


class _Sink:
    """Where downloaded bytes go: stdout, or a file written beside its final name and moved
    into place once complete (a failed download leaves no half file)."""

    def __init__(self, target: Path | None) -> None:
        self.target = target
        self._file: Any = None
        self._partial: Path | None = None

    def write(self, chunk: bytes) -> None:
        if self.target is None:
            # A pipe's write may take only part of the data (its reader just went away): go
            # on until all is written, or the closed pipe is reported (docs/cli.md, exit 141).
            view = memoryview(chunk)
            while view:
                view = view[sys.stdout.buffer.write(view):]
            return
        if self._file is None:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            self._partial = self.target.with_name(self.target.name + ".partial")
            self._file = open(self._partial, "wb")  # noqa: SIM115 - owned by this sink until close()
        self._file.write(chunk)

    def close(self) -> None:
        if self.target is None:
            sys.stdout.buffer.flush()
            return
        if self._file is None:  # an empty object
            self.target.parent.mkdir(parents=True, exist_ok=True)
            self.target.write_bytes(b"")
            return
        self._file.close()
        assert self._partial is not None
        self._partial.replace(self.target)

    def abandon(self) -> None:
        if self._file is not None:
            self._file.close()
            assert self._partial is not None
            self._partial.unlink(missing_ok=True)
            self._file = None


def _download_remote(url: str, bucket: str, key: str, sink: _Sink) -> None:
    import urllib.error
    import urllib.request

    address = url.rstrip("/") + f"{_base(bucket, url)}/object?key={urllib.parse.quote(key, safe='')}"
    try:
        with urllib.request.urlopen(address, timeout=300) as resp:  # noqa: S310 - the running emulator's own http:// URL (running_server checks it)
            size = int(resp.headers.get("content-length") or 0) or None
            with output.Progress(f"Downloading {key}", size, "bytes") as bar:
                while chunk := resp.read(CHUNK):
                    sink.write(chunk)
                    bar.advance(len(chunk))
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read() or b"{}").get("error", str(exc))
        except ValueError:
            detail = str(exc)
        if exc.code == 404 and "bucket" in detail:
            raise LookupError(f"The specified bucket '{bucket}' does not exist.") from None
        raise CliError(detail) from None


def _expires_ms(value: str) -> int:
    """``--expires``: epoch milliseconds (wrangler's local mode parses an integer), or a date."""
    import email.utils
    from datetime import UTC, datetime

    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            raise CliError(f'--expires "{value}" is not a date: give epoch milliseconds, an ISO 8601 '
                           "date (2030-01-01T00:00:00Z) or an HTTP date") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def _http_metadata(args: argparse.Namespace) -> dict[str, Any]:
    http: dict[str, Any] = {field: getattr(args, attr) for attr, field, _ in HTTP_FLAGS
                            if getattr(args, attr) is not None}
    if args.expires is not None:
        http["cacheExpiry"] = _expires_ms(args.expires)
    return http


def _source(args: argparse.Namespace) -> tuple[int, Iterator[bytes]]:
    """The upload's size and its chunks (a file read as it is sent, or stdin read whole)."""
    if args.pipe:
        data = sys.stdin.buffer.read()
        return len(data), iter([data] if data else [])
    path = Path(args.file)
    try:
        size = path.stat().st_size
        handle = open(path, "rb")  # noqa: SIM115 - closed by chunks() below, which reads it
    except FileNotFoundError:
        raise CliError(f'The file "{args.file}" does not exist.') from None
    except OSError as exc:
        raise CliError(f'An error occurred while trying to read the file "{args.file}": '
                       f"{exc.strerror}") from None

    def chunks() -> Iterator[bytes]:
        with handle:
            while chunk := handle.read(CHUNK):
                yield chunk

    return size, chunks()


@_run
def run_put(args: argparse.Namespace) -> int:
    bucket, key = _split(args.objectPath)
    http = _http_metadata(args)
    size, chunks = _source(args)
    backend = _Target(args, reading=False)
    backend.require_writable(bucket)
    backend.writable()
    quiet = output.wants_json(args)
    if not quiet:
        output.info(f'Creating object "{key}" in bucket "{bucket}".')
    with output.Progress(f"Uploading {key}", size, "bytes") as bar:
        def counted() -> Iterator[bytes]:
            for chunk in chunks:
                bar.advance(len(chunk))
                yield chunk

        if backend.url:
            stored = _upload_remote(backend.url, bucket, key, size, counted(), http)
        else:
            async def work(local: _Local) -> dict[str, Any]:
                async def stream() -> AsyncIterator[bytes]:
                    for chunk in counted():
                        yield chunk

                obj = await local.bucket(bucket, create=True).put(key, stream(), httpMetadata=http or None)
                return dict(obj.to_json())

            stored = backend.run(work)
    if quiet:
        output.print_json(stored)
    else:
        output.info(f'Upload complete: "{key}" to "{bucket}" ({size} bytes).')
    return 0


def _upload_remote(url: str, bucket: str, key: str, size: int, chunks: Iterator[bytes],
                   http: dict[str, Any]) -> dict[str, Any]:
    import urllib.error
    import urllib.request

    # The httpMetadata travels whole in a header of its own (as wrangler's local mode sends
    # `Wrangler-R2-Put-Options`), so "no content type" stays distinct from any header value.
    req = urllib.request.Request(  # noqa: S310 - the running emulator's own http:// URL (running_server checks it)
        url.rstrip("/") + f"{_base(bucket, url)}/object?key={urllib.parse.quote(key, safe='')}",
        data=chunks, method="PUT",
        headers={"content-length": str(size), "content-type": "application/octet-stream",
                 PUT_OPTIONS_HEADER: json.dumps({"httpMetadata": http})})
    try:
        with urllib.request.urlopen(req, timeout=300) as resp:  # noqa: S310 - see the Request above
            return dict(json.loads(resp.read()))
    except urllib.error.HTTPError as exc:
        detail = json.loads(exc.read() or b"{}")
        raise CliError(detail.get("error", str(exc))) from None


@_run
def run_delete(args: argparse.Namespace) -> int:
    bucket, key = _split(args.objectPath)
    backend = _Target(args, reading=False)
    quiet = output.wants_json(args)
    if not quiet:
        output.info(f'Deleting object "{key}" from bucket "{bucket}".')
    if backend.url:
        try:
            call_server(backend.url, "DELETE", f"{_base(bucket, backend.url)}/object?key="
                        f"{urllib.parse.quote(key, safe='')}")
        except ServerError as exc:
            if exc.status == 404 and "bucket" in exc.message:
                raise backend.missing(bucket) from None
            raise
    else:
        if bucket not in backend.stored_buckets():
            raise backend.missing(bucket)
        backend.writable()

        async def work(local: _Local) -> None:
            await local.bucket(bucket).delete(key)

        backend.run(work)
    if quiet:
        output.print_json({"bucket": bucket, "key": key, "deleted": True})
    else:
        output.info("Delete complete.")
    return 0


@_run
def run_list(args: argparse.Namespace) -> int:
    backend = _Target(args, reading=True)
    objects: list[dict[str, Any]] = []
    if backend.url:
        cursor: str | None = None
        while True:
            query = {"prefix": args.prefix, **({"cursor": cursor} if cursor else {})}
            try:
                page = call_server(backend.url, "GET", f"{_base(args.bucket, backend.url)}/objects?"
                                   + urllib.parse.urlencode(query))
            except ServerError as exc:
                if exc.status == 404:
                    raise backend.missing(args.bucket) from None
                raise
            objects += page["objects"]
            if not page["truncated"]:
                break
            cursor = page["cursor"]
    elif backend.empty:
        if args.bucket not in declared_buckets(args):
            raise backend.missing(args.bucket)
    else:
        async def work(local: _Local) -> list[dict[str, Any]] | None:
            if not local.store.has_bucket(args.bucket):
                return None
            bucket = local.bucket(args.bucket)
            found: list[dict[str, Any]] = []
            cursor = None
            while True:
                page = await bucket.list(prefix=args.prefix, cursor=cursor)
                found += [o.to_json() for o in page.objects]
                if not page.truncated:
                    return found
                cursor = page.cursor

        listed = backend.run(work)
        if listed is None:
            if args.bucket not in declared_buckets(args):
                raise backend.missing(args.bucket)
            listed = []
        objects = listed
    if output.wants_json(args):
        output.print_json(objects)
    elif not objects:
        output.say(f'No objects in bucket "{args.bucket}"' + (f' with prefix "{args.prefix}".' if args.prefix else "."))
    else:
        output.table([{"key": o["key"], "size": o["size"], "etag": o["etag"], "uploaded": o["uploaded"]}
                      for o in objects], ["key", "size", "etag", "uploaded"])
    return 0


# --- bucket cors --------------------------------------------------------------------------
def _cors_call(args: argparse.Namespace, method: str, body: Any = None) -> list[dict[str, Any]]:
    """The bucket's rules after ``method`` (GET/PUT/DELETE), in the Cloudflare API shape,
    through the running `dev` or on disk. Raises CliError, ValueError or ServerError."""
    from emulator.bindings.r2 import cors

    backend = _Target(args, reading=method == "GET")
    if method == "PUT":
        backend.require_writable(args.bucket)
        backend.writable()
    elif method == "DELETE" and not backend.url:
        if args.bucket not in backend.stored_buckets():
            raise backend.missing(args.bucket)
        backend.writable()
    if backend.url:
        try:
            answer = call_server(backend.url, method, f"{_base(args.bucket, backend.url)}/cors", body=body)
        except ServerError as exc:
            if exc.status == 404:
                raise backend.missing(args.bucket) from None
            raise
        return list(answer.get("rules", [])) if isinstance(answer, dict) else []
    if backend.empty:
        raise backend.missing(args.bucket)

    async def work(local: _Local) -> list[dict[str, Any]] | None:
        store = local.store
        if method == "PUT":
            rules = cors.rules_from_json(body)
            store.ensure_bucket(args.bucket)
            store.set_bucket_cors(args.bucket, [r.to_s3() for r in rules])
            return [r.to_cloudflare() for r in rules]
        if not store.has_bucket(args.bucket):
            return None
        if method == "DELETE":
            store.set_bucket_cors(args.bucket, None)
            return []
        return [r.to_cloudflare() for r in cors.rules_from_stored(store.bucket_cors(args.bucket))]

    found: list[dict[str, Any]] | None = backend.run(work)
    if found is None:
        raise backend.missing(args.bucket)
    return found


@_run
def run_cors_set(args: argparse.Namespace) -> int:
    from emulator.bindings.r2.cors import rules_from_json
    from emulator.bindings.r2.errors import CorsConfigError

    path = Path(args.file)
    try:
        rules_file = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CliError(f"Could not read {args.file}: {exc.strerror}") from None
    except ValueError as exc:
        raise CliError(f"{args.file} is not valid JSON: {exc}") from None
    try:
        count = len(rules_from_json(rules_file))  # checked here for a clear message either way
    except CorsConfigError as exc:
        raise CliError(f"{args.file}: {exc}") from None
    output.announce(args, f"Setting CORS configuration ({count} rules) for bucket '{args.bucket}'...")
    rules = _cors_call(args, "PUT", rules_file)
    output.outcome(args, {"bucket": args.bucket, "rules": rules},
                   f"✨ Set CORS configuration for bucket '{args.bucket}'.")
    return 0


@_run
def run_cors_list(args: argparse.Namespace) -> int:
    output.announce(args, f"Listing CORS rules for bucket '{args.bucket}'...")
    rules = _cors_call(args, "GET")
    if output.wants_json(args):
        output.print_json(rules)
        return 0
    if not rules:
        output.say(f"There is no CORS configuration defined for bucket '{args.bucket}'.")
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
    output.say("\n\n".join(blocks))
    return 0


@_run
def run_cors_delete(args: argparse.Namespace) -> int:
    output.announce(args, f"Deleting the CORS configuration for bucket '{args.bucket}'...")
    _cors_call(args, "DELETE")
    output.outcome(args, {"bucket": args.bucket, "deleted": True},
                   f"CORS configuration deleted for bucket '{args.bucket}'.")
    return 0
