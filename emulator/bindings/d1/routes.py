"""Internal API for D1, mounted under ``/_emulator/d1`` by the server.

Used by ``cf-emulator d1 execute`` / ``d1 migrations`` while a ``dev`` is running (so the
running process serialises every write on its worker thread) and by tools::

    GET  /databases                      → [{"id": local id, "path": file}, ...]
    POST /databases/{id}/execute         {"sql": "..."} → [{results, success, meta}, ...]
                                         (every statement, one transaction; wrangler's shape)
    GET  /databases/{id}/tables          tables, columns and row counts (the dashboard's tab)
    POST /databases/{id}/query           {"sql": ..., "params": [...]}: one read-only statement

``execute`` answers 404 for a database no hosted app binds (it would create the file);
its SQL errors come back as ``{"error": "D1_ERROR: ..."}`` with status 400, malformed
requests as ``emulator.internal_api`` answers them. The
read-only pair goes through a separate read-only SQLite connection (``readonly_sql``), so
a dashboard open in a browser cannot change what the apps see; it only answers for
databases some hosted app binds.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from emulator.bindings.d1.errors import D1Error
from emulator.bindings.d1.readonly_sql import ReadOnlyQueryError, list_tables, run_query
from emulator.internal_api import RequestError, json_body, json_error, path_name

if TYPE_CHECKING:
    from emulator.bindings.d1.plugin import Plugin



def _bound_path(plugin: Plugin, database: str) -> Path:
    """The file of a database some hosted app binds (by its local id, as in the overview)."""
    known = plugin.database_ids()
    if database not in known:
        listing = ", ".join(known) or "none"
        message = f"no D1 database named {database!r} is bound; databases: {listing}"
        raise RequestError(404, message)
    return plugin.database_path(database)


def routes(plugin: Plugin) -> list[web.RouteDef]:
    async def databases(request: web.Request) -> web.Response:
        return web.json_response([{"id": i, "path": str(plugin.database_path(i))}
                                  for i in plugin.database_ids()])

    async def execute(request: web.Request) -> web.Response:
        local_id = path_name(request, "database", "database")
        if local_id not in plugin.database_ids():
            # Opening an engine creates the file: a database no hosted app binds is not made
            # here (the CLI resolves names to the ids of the configs `dev` hosts).
            known = ", ".join(plugin.database_ids()) or "none"
            return web.json_response({"error": f"no D1 database {local_id!r} is bound by the hosted apps; "
                                               f"databases: {known}"}, status=404)
        body = await json_body(request, '{"sql": "..."}')
        sql = body.get("sql")
        if not isinstance(sql, str):
            return web.json_response({"error": "body must be JSON: {\"sql\": \"...\"}"}, status=400)
        engine = plugin.engine(local_id)
        try:
            results = await engine.call(lambda conn: engine.script(conn, sql))
        except D1Error as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response([r.shaped("objects") for r in results])

    async def tables(request: web.Request) -> web.Response:
        database = path_name(request, "database", "database")
        path = _bound_path(plugin, database)
        try:
            found = await asyncio.to_thread(list_tables, path)
        except ReadOnlyQueryError as exc:
            return json_error(400, str(exc))
        return web.json_response({"database": database, "tables": found}, dumps=_dumps)

    async def query(request: web.Request) -> web.Response:
        path = _bound_path(plugin, path_name(request, "database", "database"))
        body = await json_body(request, '{"sql": "SELECT ...", "params": [...]}')
        if not isinstance(body.get("sql"), str):
            return json_error(400, 'send JSON: {"sql": "SELECT ...", "params": [...]}')
        params = body.get("params") or []
        if not isinstance(params, list):
            return json_error(400, "params must be a list")
        try:
            result = await asyncio.to_thread(run_query, path, body["sql"], params)
        except ReadOnlyQueryError as exc:
            return json_error(400, str(exc))
        return web.json_response(result.to_json(), dumps=_dumps)

    return [
        web.get("/databases", databases),
        web.post("/databases/{database}/execute", execute),
        web.get("/databases/{database}/tables", tables),
        web.post("/databases/{database}/query", query),
    ]


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str)
