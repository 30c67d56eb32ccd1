"""GET /api/datasets/{datasetId}: fragments, pending work, outputs and the last run per table/period."""

from __future__ import annotations

import time
from typing import Any

from _lib import index_db
from _lib.responses import error, json_response
from _lib.validation import NAME_RE


async def on_request_get(context: Any) -> Any:
    dataset_id = context.params["datasetId"]
    if not NAME_RE.fullmatch(dataset_id):
        return error(400, 'path parameter "datasetId" must match ^[A-Za-z0-9_.-]{1,64}$')
    status = await index_db.dataset_status(context.env.BATTLE_INDEX_DB, dataset_id, int(time.time() * 1000))
    if status is None:
        return error(404, f"dataset {dataset_id!r} not found")
    return json_response(status)
