"""Internal API for R2, mounted under ``/_emulator/r2`` by the server.

Used by ``cf-emulator r2 object ...`` while a ``dev`` is running (its moto state is in
memory, so writes must go through the running process) and by the dashboard::

    GET    /buckets                                   → ["bucket", ...]
    GET    /buckets/{bucket}/objects?prefix=&delimiter=&cursor=&limit=
                                                      → {objects: [...], truncated, cursor?, delimitedPrefixes}
    GET    /buckets/{bucket}/object?key=K             → the bytes (404 JSON if missing)
    GET    /buckets/{bucket}/object/meta?key=K        → the object's metadata (JSON)
    PUT    /buckets/{bucket}/object?key=K             body = bytes; header cf-emulator-r2-put-options:
                                                      {"httpMetadata": {...}} (the CLI's flags), else
                                                      Content-Type becomes httpMetadata.contentType
    DELETE /buckets/{bucket}/object?key=K             → {"deleted": true}
    GET    /buckets/{bucket}/cors                     → {"rules": [...]} (Cloudflare API shape; [] if none)
    PUT    /buckets/{bucket}/cors                     body = rules in any shape cors.py reads
                                                      (creates the bucket, like an object PUT)
    DELETE /buckets/{bucket}/cors                     → {"deleted": true}

Keys travel in the query string so any key (``a/../b``, spaces, unicode) round-trips. A key
over R2's 1024 bytes, or a bucket name too long to name a folder, is a 400; a rejected PUT
creates no bucket. Inputs are read through ``emulator.internal_api``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from emulator.bindings.r2 import cors
from emulator.bindings.r2.binding import R2Bucket, R2ObjectBody, parse_http_metadata, validate_key
from emulator.bindings.r2.errors import CorsConfigError, R2Error
from emulator.internal_api import RequestError, json_error, json_value, path_name

if TYPE_CHECKING:
    from emulator.bindings.r2.plugin import Plugin



def routes(plugin: Plugin) -> list[web.RouteDef]:
    # The lookups raise ``RequestError`` (the API's JSON 4xx) so that each handler reads as
    # its own work.
    def bucket_of(request: web.Request) -> R2Bucket:
        name = path_name(request, "bucket", "bucket")
        if not plugin.store.has_bucket(name):
            raise RequestError(404, f"R2 bucket '{name}' does not exist")
        return plugin.bucket(name)

    def key_of(request: web.Request) -> str | None:
        key = request.query.get("key")
        if key is not None:
            try:
                validate_key(key, "key")
            except R2Error as exc:
                raise RequestError(400, f"{exc} (keys are at most 1024 bytes of UTF-8)") from None
        return key

    def object_of(request: web.Request) -> tuple[R2Bucket, str]:
        """The bucket and ``?key=`` an object route names."""
        bucket = bucket_of(request)
        key = key_of(request)
        if key is None:
            raise RequestError(400, "missing ?key=")
        return bucket, key

    async def buckets(request: web.Request) -> web.Response:
        return web.json_response(plugin.store.bucket_names())

    async def objects(request: web.Request) -> web.Response:
        bucket = bucket_of(request)
        q = request.query
        opts: dict[str, Any] = {k: q[k] for k in ("prefix", "delimiter", "cursor", "startAfter") if k in q}
        try:
            if "limit" in q:
                opts["limit"] = int(q["limit"])
            page = await bucket.list(opts, include=["httpMetadata", "customMetadata"]) \
                if q.get("include") else await bucket.list(opts)
        except (ValueError, R2Error) as exc:
            return json_error(400, str(exc))
        body = {"objects": [o.to_json() for o in page.objects], "truncated": page.truncated,
                "delimitedPrefixes": page.delimitedPrefixes}
        if page.truncated:
            body["cursor"] = page.cursor
        return web.json_response(body)

    async def get_object(request: web.Request) -> web.StreamResponse:
        bucket, key = object_of(request)
        obj = await bucket.get(key)
        if not isinstance(obj, R2ObjectBody):
            return json_error(404, f"The specified key does not exist: {key}")
        response = web.StreamResponse(headers={
            "content-type": "application/octet-stream", "etag": obj.httpEtag,
            "content-length": str(obj.size)})
        await response.prepare(request)
        async for chunk in obj.body:
            await response.write(chunk)
        await response.write_eof()
        return response

    async def head_object(request: web.Request) -> web.Response:
        bucket, key = object_of(request)
        obj = await bucket.head(key)
        if obj is None:
            return json_error(404, f"The specified key does not exist: {key}")
        return web.json_response(obj.to_json())

    async def put_object(request: web.Request) -> web.Response:
        name = path_name(request, "bucket", "bucket")
        key = key_of(request)
        if key is None:
            return json_error(400, "missing ?key=")
        plugin.store.ensure_bucket(name)
        bucket = plugin.bucket(name)
        options = request.headers.get("cf-emulator-r2-put-options")
        if options is not None:
            try:
                http = parse_http_metadata(json.loads(options).get("httpMetadata") or {}, "put")
            except (ValueError, TypeError, AttributeError, RecursionError) as exc:
                return json_error(400, f"bad cf-emulator-r2-put-options header: {exc}")
        else:
            http = {"contentType": request.headers["content-type"]} \
                if request.headers.get("content-type") else {}

        async def chunks() -> Any:
            async for chunk in request.content.iter_chunked(1 << 20):
                yield chunk

        try:
            obj = await bucket.put(key, chunks(), httpMetadata=http)
        except (R2Error, TypeError) as exc:
            return json_error(400, str(exc))
        assert obj is not None
        return web.json_response(obj.to_json())

    async def delete_object(request: web.Request) -> web.Response:
        bucket, key = object_of(request)
        try:
            await bucket.delete(key)
        except R2Error as exc:
            return json_error(400, str(exc))
        return web.json_response({"deleted": True})

    async def get_cors(request: web.Request) -> web.Response:
        bucket_of(request)  # a 404 for a bucket that does not exist
        rules = cors.rules_from_stored(plugin.store.bucket_cors(request.match_info["bucket"]))
        return web.json_response({"rules": [r.to_cloudflare() for r in rules]})

    async def put_cors(request: web.Request) -> web.Response:
        payload = await json_value(request, '{"rules": [...]} or [{"AllowedOrigins": ...}]')
        try:
            rules = cors.rules_from_json(payload)
        except CorsConfigError as exc:
            return json_error(400, str(exc))
        name = request.match_info["bucket"]
        plugin.store.ensure_bucket(name)
        plugin.store.set_bucket_cors(name, [r.to_s3() for r in rules])
        return web.json_response({"rules": [r.to_cloudflare() for r in rules]})

    async def delete_cors(request: web.Request) -> web.Response:
        bucket_of(request)  # a 404 for a bucket that does not exist
        plugin.store.set_bucket_cors(request.match_info["bucket"], None)
        return web.json_response({"deleted": True})

    return [
        web.get("/buckets", buckets),
        web.get("/buckets/{bucket}/cors", get_cors),
        web.put("/buckets/{bucket}/cors", put_cors),
        web.delete("/buckets/{bucket}/cors", delete_cors),
        web.get("/buckets/{bucket}/objects", objects),
        web.get("/buckets/{bucket}/object", get_object),
        web.get("/buckets/{bucket}/object/meta", head_object),
        web.put("/buckets/{bucket}/object", put_object),
        web.delete("/buckets/{bucket}/object", delete_object),
    ]
