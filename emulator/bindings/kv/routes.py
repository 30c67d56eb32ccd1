"""Internal API for KV, mounted under ``/_emulator/kv`` by the server.

Used by ``cf-emulator kv ...`` while a ``dev`` is running (so the running process does every
write) and by the dashboard's KV tab::

    GET    /namespaces                          → [{"id", "bindings": [{app, binding}], "keys"}]
    GET    /namespaces/{ns}/keys?prefix=&cursor=&limit=
                                                → {keys: [{name, expiration?, metadata?}], list_complete, cursor?}
    GET    /namespaces/{ns}/entry?key=K         → {key, size, expiration?, metadata?, text | base64}
    GET    /namespaces/{ns}/value?key=K         → the value's bytes (404 JSON if absent)
    PUT    /namespaces/{ns}/value?key=K[&expiration=S][&expiration_ttl=S][&metadata=JSON]
                                                body = the value's bytes
    DELETE /namespaces/{ns}/value?key=K         → {"deleted": true}
    POST   /namespaces/{ns}/bulk                [{key, value, expiration?, expiration_ttl?, metadata?, base64?}]
                                                (wrangler's `kv bulk put` file) → {"written": n}
    POST   /namespaces/{ns}/bulk/get            ["key", ...] or [{"name": ...}] → {key: value | null}
    POST   /namespaces/{ns}/bulk/delete         ["key", ...] or [{"name": ...}] → {"deleted": n}

Keys travel in the query string so any key round-trips. Every write goes through the same
checks as an app's (``KVNamespace``), so a rejected write changes nothing and its error is
the platform's text (JSON 400/413/414). Reading an unknown namespace is a 404 that lists the
known ones; writing creates it (as ``wrangler kv key put --namespace-id`` does locally).
"""

from __future__ import annotations

import base64
import json
import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from emulator.bindings.kv.binding import KVNamespace, check_key
from emulator.bindings.kv.errors import KVError
from emulator.internal_api import RequestError, json_error, json_value, path_name, query_int

if TYPE_CHECKING:
    from emulator.bindings.kv.plugin import Plugin

# Longest request body the bulk routes read (wrangler's bulk put allows 10,000 pairs).
MAX_BULK_BODY = 100 * 1024 * 1024



def _kv_status(exc: KVError) -> int:
    # "KV PUT failed: 413 ..." (possibly after "item N: ") carries the service's status;
    # the runtime's own checks are 400s.
    match = re.search(r"KV [A-Z_]+ failed: (\d{3}) ", exc.message)
    return int(match.group(1)) if match else 400


def _kv_error(exc: KVError) -> web.Response:
    return json_error(_kv_status(exc), exc.message)


def _key_list(payload: Any) -> list[str] | None:
    if not isinstance(payload, list):
        return None
    keys: list[str] = []
    for item in payload:
        if isinstance(item, str):
            keys.append(item)
        elif isinstance(item, dict) and isinstance(item.get("name"), str):
            keys.append(item["name"])
        else:
            return None
    return keys


def routes(plugin: Plugin) -> list[web.RouteDef]:
    # The lookups raise ``RequestError`` (the API's JSON 4xx) so that each handler reads as
    # its own work.
    def existing(request: web.Request) -> KVNamespace:
        namespace_id = path_name(request, "namespace", "KV namespace")
        if not plugin.known(namespace_id):
            known = ", ".join(plugin.namespace_ids()) or "none"
            raise RequestError(404, f"no KV namespace {namespace_id!r}; namespaces: {known}")
        return plugin.namespace(namespace_id)

    def key_param(request: web.Request, op: str = "GET") -> str:
        key = request.query.get("key")
        if key is None:
            raise RequestError(400, "the key goes in the query string: ?key=...")
        try:
            return check_key(key, op)
        except KVError as exc:
            raise RequestError(_kv_status(exc), exc.message) from None

    async def namespaces(request: web.Request) -> web.Response:
        bound = plugin.overview()["namespaces"]
        now = plugin.platform.clock.now_ms()
        return web.json_response([
            {"id": ns, "bindings": bound.get(ns, {}).get("bindings", []), "keys": plugin.engine(ns).count(now)}
            for ns in plugin.namespace_ids()])

    async def keys(request: web.Request) -> web.Response:
        ns = existing(request)
        options: dict[str, Any] = {k: request.query[k] for k in ("prefix", "cursor") if k in request.query}
        if "limit" in request.query:
            # Range-checked here only for sanity; the binding answers KV's own limit error.
            options["limit"] = query_int(request, "limit", 0, -(2**31), 2**31)
        try:
            return web.json_response(dict(await ns.list(options)))
        except KVError as exc:
            return _kv_error(exc)

    async def entry(request: web.Request) -> web.Response:
        ns, key = existing(request), key_param(request)
        found = plugin.engine(ns.namespace_id).get(key, plugin.platform.clock.now_ms())
        if found is None:
            return json_error(404, f"no key {key!r} in KV namespace {ns.namespace_id!r}")
        out: dict[str, Any] = {"key": key, "size": len(found.value)}
        if found.expiration is not None:
            out["expiration"] = found.expiration // 1000
        if found.metadata is not None:
            out["metadata"] = json.loads(found.metadata)
        try:
            out["text"] = found.value.decode("utf-8")
        except UnicodeDecodeError:
            out["base64"] = base64.b64encode(found.value).decode("ascii")
        return web.json_response(out)

    async def value(request: web.Request) -> web.StreamResponse:
        ns, key = existing(request), key_param(request)
        data = await ns.get(key, "arrayBuffer")
        if data is None:
            return json_error(404, f"no key {key!r} in KV namespace {ns.namespace_id!r}")
        return web.Response(body=bytes(data), content_type="application/octet-stream")

    async def put(request: web.Request) -> web.Response:
        key = key_param(request, "PUT")
        ns = plugin.namespace(path_name(request, "namespace", "KV namespace"))
        options: dict[str, Any] = {}
        for param, option in (("expiration", "expiration"), ("expiration_ttl", "expirationTtl")):
            if param in request.query:
                options[option] = request.query[param]
        if "metadata" in request.query:
            try:
                options["metadata"] = json.loads(request.query["metadata"])
            except ValueError:
                return json_error(400, "metadata must be JSON")
        try:
            await ns.put(key, await request.read(), options)
        except KVError as exc:
            return _kv_error(exc)
        return web.json_response({"written": True, "key": key})

    async def delete(request: web.Request) -> web.Response:
        key = key_param(request, "DELETE")
        ns = existing(request)
        await ns.delete(key)
        return web.json_response({"deleted": True, "key": key})

    async def read_json(request: web.Request, shape: str) -> Any:
        if request.content_length is not None and request.content_length > MAX_BULK_BODY:
            raise RequestError(413, f"a bulk request is at most {MAX_BULK_BODY} bytes")
        return await json_value(request, shape)

    async def wanted_keys(request: web.Request) -> list[str]:
        wanted = _key_list(await read_json(request, '["key", ...] or [{"name": ...}]'))
        if wanted is None:
            raise RequestError(400, 'send a JSON array of keys (strings or {"name": ...})')
        return wanted

    async def bulk_put(request: web.Request) -> web.Response:
        shape = "[{key, value, expiration?, expiration_ttl?, metadata?, base64?}]"
        payload = await read_json(request, shape)
        if not isinstance(payload, list):
            return json_error(400, f"send a JSON array: {shape}")
        try:
            written = plugin.namespace(path_name(request, "namespace", "KV namespace")).bulk_put(payload)
        except KVError as exc:
            return _kv_error(exc)
        return web.json_response({"written": written})

    async def bulk_get(request: web.Request) -> web.Response:
        ns = existing(request)
        wanted = await wanted_keys(request)
        now = plugin.platform.clock.now_ms()
        engine = plugin.engine(ns.namespace_id)
        out: dict[str, Any] = {}
        for key in wanted:
            found = engine.get(key, now)
            out[key] = None if found is None else found.value.decode("utf-8", errors="replace")
        return web.json_response(out)

    async def bulk_delete(request: web.Request) -> web.Response:
        ns = existing(request)
        wanted = await wanted_keys(request)
        return web.json_response({"deleted": ns.bulk_delete(wanted)})

    return [
        web.get("/namespaces", namespaces),
        web.get("/namespaces/{namespace}/keys", keys),
        web.get("/namespaces/{namespace}/entry", entry),
        web.get("/namespaces/{namespace}/value", value),
        web.put("/namespaces/{namespace}/value", put),
        web.delete("/namespaces/{namespace}/value", delete),
        web.post("/namespaces/{namespace}/bulk", bulk_put),
        web.post("/namespaces/{namespace}/bulk/get", bulk_get),
        web.post("/namespaces/{namespace}/bulk/delete", bulk_delete),
    ]
