"""GET /api/datasets/{datasetId}/compacted/{table}/{periodTag}: stream the compacted Parquet.

Each schema variant is compacted into its own part; without ``?part=N`` the first part is
streamed, and ``x-compacted-parts`` lists every part number so a client can fetch the rest.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

from workers import Response

from _lib import index_db
from _lib.responses import error
from _lib.validation import NAME_RE


async def on_request_get(context: Any) -> Any:
    params = context.params
    for name in ("datasetId", "table", "periodTag"):
        if not NAME_RE.fullmatch(params[name]):
            return error(400, f'path parameter "{name}" must match ^[A-Za-z0-9_.-]{{1,64}}$')
    env = context.env
    parts = await index_db.compacted_parts(env.BATTLE_INDEX_DB, params["datasetId"], params["table"],
                                           params["periodTag"])
    if not parts:
        return error(404, "no compacted output for this dataset, table and period yet")
    query = parse_qs(urlparse(context.request.url).query)
    wanted = query.get("part", [None])[0]
    chosen = parts[0] if wanted is None else next((p for p in parts if str(p["part"]) == wanted), None)
    if chosen is None:
        return error(404, f"no compacted part {wanted}")
    obj = await env.BATTLE_DATA_BUCKET.get(chosen["key"])
    if obj is None:
        return error(404, "the compacted object is missing from R2")
    filename = f'{params["datasetId"]}-{params["table"]}-{params["periodTag"]}-part-{chosen["part"]}.parquet'
    return Response(obj.body, headers={
        "content-type": "application/vnd.apache.parquet",
        "content-length": str(obj.size),
        "content-disposition": f'attachment; filename="{filename}"',
        "x-compacted-rows": str(chosen["rows"]),
        "x-compacted-part": str(chosen["part"]),
        "x-compacted-parts": ",".join(str(p["part"]) for p in parts),
    })
