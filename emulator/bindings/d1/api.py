"""Internal API for D1, mounted under ``/_emulator/d1`` by the server.

Used by ``cf-emulator d1 execute`` / ``d1 migrations`` while a ``dev`` is running (so the
running process serialises every write on its worker thread) and by tools::

    GET  /databases                      → [{"id": local id, "path": file}, ...]
    POST /databases/{id}/execute         {"sql": "..."} → [{results, success, meta}, ...]
                                         (every statement, one transaction; wrangler's shape)

Errors come back as ``{"error": "D1_ERROR: ..."}`` with status 400.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from emulator.bindings.d1.engine import D1Error

if TYPE_CHECKING:
    from emulator.bindings.d1 import Plugin


def routes(plugin: "Plugin") -> list[web.RouteDef]:
    async def databases(request: web.Request) -> web.Response:
        return web.json_response([{"id": i, "path": str(plugin.database_path(i))}
                                  for i in plugin.database_ids()])

    async def execute(request: web.Request) -> web.Response:
        local_id = request.match_info["database"]
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "body must be JSON: {\"sql\": \"...\"}"}, status=400)
        sql = body.get("sql") if isinstance(body, dict) else None
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
