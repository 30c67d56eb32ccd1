"""Internal API for Durable Objects, mounted under ``/_emulator/durable_objects`` by the server.

Used by ``cf-emulator durable-objects ...`` while a ``dev`` runs (so the running process
does the work) and by the dashboard's tab. ``{ns}`` is a namespace's unique key
(``<script>-<Class>``), class name or binding name; an object is ``?id=<64 hex>`` or
``?name=<name>`` (``idFromName``)::

    GET  /namespaces                        → [{key, className, script, sqlite, bindings, active,
                                                stored, alarms}]
    GET  /namespaces/{ns}/objects?after=&limit=
                                            → {objects: [{id, name, active, sockets, alarm}], cursor}
    GET  /namespaces/{ns}/object?id=|name=  → {id, name, active, sockets, alarm, keys, size,
                                               tables: [{name, sql, rows}]}
    GET  /namespaces/{ns}/object/storage?id=|name=&prefix=&start=&end=&limit=&reverse=
                                            → {entries: [{key, value, size}]}   (values as JSON: bytes
                                               {"$bytes": base64}, dates {"$date": ISO})
    GET  /namespaces/{ns}/object/value?id=|name=&key=K → {key, value, size} (404 when absent)
    POST /namespaces/{ns}/object/sql?id=|name=  {"sql": "...", "params": [...]}
                                            → {columns, rows, rowsRead, rowsWritten}
    POST /namespaces/{ns}/object/evict?id=|name=  → {evicted}
    POST /namespaces/{ns}/evict             → {evicted}   (every active object)

Reading an object that is not active does not construct it: the API reads its file
(committing nothing but what the object committed). SQL runs under the same rules as the
object's own (``sql.py``); it runs between the object's events, never inside one.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from emulator.bindings.durable_objects.errors import DurableObjectError
from emulator.bindings.durable_objects.serialize import decode, to_json
from emulator.bindings.durable_objects.storage import (
    SQL_NOT_ENABLED,
    compile_list_options,
    key_text,
)
from emulator.internal_api import RequestError, json_error

if TYPE_CHECKING:
    from emulator.bindings.durable_objects.actor import ObjectActor
    from emulator.bindings.durable_objects.engine import NamespaceEngine
    from emulator.bindings.durable_objects.plugin import Plugin

MAX_LIST = 1000
MAX_SQL_ROWS = 1000



def object_summary(engine: NamespaceEngine, hex_id: str, name: str | None) -> dict[str, Any]:
    actor = engine.existing(hex_id)
    alarm = engine.index.alarm(hex_id)
    return {"id": hex_id, "name": name if name is not None else (actor.id.name if actor is not None else None),
            "active": bool(actor is not None and actor.active),
            "sockets": len(actor.hibernatable) if actor is not None else 0,
            "alarm": alarm.scheduled_ms if alarm is not None else None}


def routes(plugin: Plugin) -> list[web.RouteDef]:
    # The lookups raise ``RequestError`` (the API's JSON 4xx) so that each handler reads as
    # its own work.
    def namespace(request: web.Request) -> NamespaceEngine:
        found = plugin.engine_for(request.match_info["namespace"])
        if found is None:
            known = ", ".join(sorted(e.unique_key for e in plugin.engines())) or "none"
            name = request.match_info["namespace"]
            raise RequestError(404, f"no Durable Object namespace {name!r}; namespaces: {known}")
        return found

    def target(request: web.Request) -> tuple[NamespaceEngine, ObjectActor]:
        engine = namespace(request)
        try:
            if "id" in request.query:
                object_id = engine.ids.from_string(request.query["id"])
                object_id = engine.ids.stored(object_id.toString(), engine.index.object_name(object_id.toString()))
            elif "name" in request.query:
                object_id = engine.ids.from_name(request.query["name"])
            else:
                raise RequestError(400, "name the object with ?id=<64 hex digits> or ?name=<name>")
        except DurableObjectError as exc:
            raise RequestError(400, exc.message) from None
        return engine, engine.actor(object_id)

    def release(actor: ObjectActor) -> None:
        """Close the file of an object the API opened (an active object keeps it)."""
        if not actor.active:
            actor.flush()
            actor.store.close()

    async def namespaces(request: web.Request) -> web.Response:
        bound = plugin.overview()["namespaces"]
        out = []
        for engine in plugin.engines():
            out.append({"key": engine.unique_key, "className": engine.class_name, "script": engine.script,
                        "sqlite": engine.sqlite, "bindings": bound.get(engine.unique_key, {}).get("bindings", []),
                        "active": sum(1 for a in engine.live() if a.active), "stored": engine.index.object_count(),
                        "alarms": engine.index.alarm_count()})
        return web.json_response(out)

    async def objects(request: web.Request) -> web.Response:
        engine = namespace(request)
        try:
            limit = min(MAX_LIST, max(1, int(request.query.get("limit", "100"))))
        except ValueError:
            return json_error(400, "limit must be an integer")
        after = request.query.get("after") or None
        rows = engine.index.objects(after, limit)
        listed = [object_summary(engine, hex_id, name) for hex_id, name, _ in rows]
        seen = {o["id"] for o in listed}
        if after is None:
            # Active objects that stored nothing yet have no index row: list them first.
            listed = [object_summary(engine, a.hex, a.id.name) for a in engine.live() if a.hex not in seen] + listed
        return web.json_response({"objects": listed, "cursor": rows[-1][0] if len(rows) == limit else None})

    async def describe(request: web.Request) -> web.Response:
        engine, actor = target(request)
        out = object_summary(engine, actor.hex, actor.id.name)
        store = actor.store
        if store.conn is None and not store.path.exists():
            out.update(keys=0, size=0, tables=[])
            return web.json_response(out)
        try:
            out["keys"] = store.count()
            out["size"] = store.database_size()
            tables = []
            for name, sql in store.tables():
                quoted = '"' + name.replace('"', '""') + '"'
                try:
                    rows = int(store.trusted_query(f" SELECT count(*) FROM {quoted}").fetchone()[0])  # noqa: S608 - a quoted identifier
                except Exception:  # noqa: BLE001 - virtual tables and the like
                    rows = None
                tables.append({"name": name, "sql": sql, "rows": rows})
            out["tables"] = tables
        finally:
            release(actor)
        return web.json_response(out)

    async def storage(request: web.Request) -> web.Response:
        _, actor = target(request)
        opts: dict[str, Any] = {k: request.query[k] for k in ("prefix", "start", "end", "startAfter")
                                if k in request.query}
        opts["reverse"] = request.query.get("reverse") in ("1", "true")
        try:
            opts["limit"] = min(MAX_LIST, int(request.query.get("limit", str(MAX_LIST))))
        except ValueError:
            return json_error(400, "limit must be an integer")
        try:
            bounds = compile_list_options(opts)
        except DurableObjectError as exc:
            return json_error(400, exc.message)
        entries = []
        try:
            if bounds is not None:
                start, end, reverse, limit = bounds
                for key, data in actor.store.list(start, end, reverse, limit):
                    entries.append({"key": key, "value": to_json(decode(data)), "size": len(data)})
        finally:
            release(actor)
        return web.json_response({"entries": entries})

    async def value(request: web.Request) -> web.Response:
        _, actor = target(request)
        if "key" not in request.query:
            return json_error(400, "the key goes in the query string: ?key=...")
        try:
            key = key_text(request.query["key"])
            data = actor.store.get(key)
        finally:
            release(actor)
        if data is None:
            return json_error(404, f"no key {key!r} in {actor.describe()}")
        return web.json_response({"key": key, "value": to_json(decode(data)), "size": len(data)})

    async def sql(request: web.Request) -> web.Response:
        from emulator.bindings.durable_objects.sql import SqlStorage

        engine, actor = target(request)
        if not engine.sqlite:
            return json_error(400, SQL_NOT_ENABLED)
        try:
            payload = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("sql"), str):
            return json_error(400, 'send {"sql": "...", "params": [...]}')
        params = payload.get("params") or []
        if not isinstance(params, list):
            return json_error(400, '"params" must be an array')
        try:
            cursor = SqlStorage(actor).exec(payload["sql"], *params)
            columns = cursor.columnNames
            rows: list[list[Any]] = []
            for raw in cursor.raw():
                if len(rows) >= MAX_SQL_ROWS:
                    break
                rows.append([to_json(v) for v in raw])
            out = {"columns": columns, "rows": rows, "rowsRead": cursor.rowsRead,
                   "rowsWritten": cursor.rowsWritten, "truncated": len(rows) >= MAX_SQL_ROWS}
            actor.flush()
        except DurableObjectError as exc:
            return json_error(400, exc.message)
        except TypeError as exc:
            return json_error(400, str(exc))
        finally:
            release(actor)
        return web.json_response(out)

    async def evict_object(request: web.Request) -> web.Response:
        engine, actor = target(request)
        return web.json_response({"evicted": engine.evict(actor.hex)})

    async def evict_all(request: web.Request) -> web.Response:
        engine = namespace(request)
        return web.json_response({"evicted": engine.evict()})

    return [
        web.get("/namespaces", namespaces),
        web.get("/namespaces/{namespace}/objects", objects),
        web.get("/namespaces/{namespace}/object", describe),
        web.get("/namespaces/{namespace}/object/storage", storage),
        web.get("/namespaces/{namespace}/object/value", value),
        web.post("/namespaces/{namespace}/object/sql", sql),
        web.post("/namespaces/{namespace}/object/evict", evict_object),
        web.post("/namespaces/{namespace}/evict", evict_all),
    ]
