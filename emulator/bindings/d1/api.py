"""Internal API for D1, mounted under ``/_emulator/d1`` by the server.

Used by ``cf-emulator d1 execute`` / ``d1 migrations`` while a ``dev`` is running (so the
running process serialises every write on its worker thread) and by tools::

    GET  /databases                      → [{"id": local id, "path": file}, ...]
    POST /databases/{id}/execute         {"sql": "..."} → [{results, success, meta}, ...]
                                         (every statement, one transaction; wrangler's shape;
                                         404 for a database no hosted app binds)

Errors come back as ``{"error": "D1_ERROR: ..."}`` with status 400; malformed requests as
``emulator.internal_api`` answers them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from emulator.bindings.d1.engine import D1Error
from emulator.internal_api import json_body, path_name

if TYPE_CHECKING:
    from emulator.bindings.d1 import Plugin


def routes(plugin: "Plugin") -> list[web.RouteDef]:
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

    return [
        web.get("/databases", databases),
        web.post("/databases/{database}/execute", execute),
    ]
