"""Middleware for every route: CORS, preflight answers, and JSON errors instead of tracebacks."""

from __future__ import annotations

from typing import Any

from workers import Response

CORS = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "GET,POST,OPTIONS",
    "access-control-allow-headers": "authorization,content-type",
}


async def on_request(context: Any) -> Any:
    if str(context.request.method).upper() == "OPTIONS":
        return Response(None, status=204, headers=CORS)
    try:
        response = await context.next()
    except Exception as exc:  # noqa: BLE001 - the last line of defence: any error becomes a JSON 500
        print(f"[fusou-web] unhandled error on {context.request.method} {context.request.url}: "
              f"{type(exc).__name__}: {exc}")
        response = Response.json({"error": "internal error"}, status=500)
    for name, value in CORS.items():
        try:
            response.headers.set(name, value)
        except Exception:  # noqa: BLE001 - whatever the runtime raises for an immutable response
            pass  # an immutable response (static asset): CORS is not needed there
    return response
