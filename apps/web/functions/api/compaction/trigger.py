"""POST /api/compaction/trigger: ask for a compaction now (``priority: "manual"``).

JSON body ``{"datasetId"?, "table"?, "periodTag"?}``; ``datasetId`` defaults to the token's
``sub``. Without ``table``/``periodTag`` every table and period of the dataset is
triggered. The request is recorded in D1 first, so a failed send is still picked up by
the workflow app's cron re-drive.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from _lib import index_db
from _lib.auth import AuthError, authenticate
from _lib.responses import error, json_response
from _lib.validation import InputError, check_name


async def on_request_post(context: Any) -> Any:
    request, env = context.request, context.env
    try:
        caller = authenticate(env, request.headers.get("authorization"))
    except AuthError as exc:
        return error(exc.status, str(exc))
    try:
        text = await request.text()
        body = json.loads(text) if text.strip() else {}
    except ValueError:
        return error(400, "body must be a JSON object")
    if not isinstance(body, dict):
        return error(400, "body must be a JSON object")
    try:
        dataset_id = check_name("datasetId", body.get("datasetId") or caller.user_id)
        table = check_name("table", body["table"]) if body.get("table") else None
        period_tag = check_name("periodTag", body["periodTag"]) if body.get("periodTag") else None
    except InputError as exc:
        return error(400, str(exc))
    db = env.BATTLE_INDEX_DB
    owner = await index_db.dataset_owner(db, dataset_id)
    if owner is None:
        return error(404, f"dataset {dataset_id!r} not found")
    if owner != caller.user_id:
        return error(403, f"dataset {dataset_id!r} belongs to another user")
    keys = [(t, p) for t, p in await index_db.table_periods(db, dataset_id)
            if (table is None or t == table) and (period_tag is None or p == period_tag)]
    if table and period_tag and (table, period_tag) not in keys:
        keys.append((table, period_tag))
    triggered_at = index_db.iso_now()
    for t, p in keys:
        await index_db.request_compaction(db, dataset_id, t, p, caller.user_id)
    messages = [{"body": {"datasetId": dataset_id, "table": t, "periodTag": p, "priority": "manual",
                          "metricId": str(uuid.uuid4()), "triggeredAt": triggered_at, "userId": caller.user_id}}
                for t, p in keys]
    queued = False
    if messages:
        try:
            for i in range(0, len(messages), 100):  # sendBatch takes at most 100 messages
                await env.COMPACTION_QUEUE.sendBatch(messages[i:i + 100])
            queued = True
        except Exception as exc:  # noqa: BLE001 - binding errors are JS errors of any type; D1 keeps the pending row
            print(f"[compaction] FAILED to enqueue manual trigger for {dataset_id}: {exc}")
    return json_response({"ok": True, "datasetId": dataset_id, "queued": queued,
                          "triggered": [{"table": t, "periodTag": p} for t, p in keys]})
