"""POST /api/battle-data/upload: store one Parquet fragment and trigger its compaction.

``Authorization: Bearer <JWT>``; ``multipart/form-data`` with ``file`` (Parquet), ``table``,
``periodTag`` and an optional ``datasetId`` (default: the token's ``sub``).

Effects, in this order and only once everything was checked: R2 put → D1 (dataset on
first upload, ``battle_files`` row, pending-compaction mark, one transaction) → queue send.
A failed D1 write deletes the R2 object again (no orphans). A failed queue send still
answers 200 with ``"queued": false``: the pending mark in D1 is what the trigger endpoint
and the workflow app's cron re-drive pick up, so no upload is forgotten.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any

from _lib import index_db
from _lib.auth import AuthError, authenticate
from _lib.responses import error, json_response
from _lib.settings import setting
from _lib.validation import DEFAULT_MAX_UPLOAD_BYTES, InputError, check_name, inspect_parquet


def _max_upload_bytes(env: Any) -> int:
    raw = setting(env, "MAX_UPLOAD_BYTES")
    try:
        return int(raw) if raw else DEFAULT_MAX_UPLOAD_BYTES
    except ValueError:
        return DEFAULT_MAX_UPLOAD_BYTES


def _text_field(form: Any, name: str) -> Any:
    value = form.get(name)
    if value is None or isinstance(value, str):
        return value
    return False  # a file where text was expected


async def on_request_post(context: Any) -> Any:
    request, env = context.request, context.env
    try:
        caller = authenticate(env, request.headers.get("authorization"))
    except AuthError as exc:
        return error(exc.status, str(exc))

    limit = _max_upload_bytes(env)
    declared = request.headers.get("content-length")
    # isascii(): str.isdigit() also accepts digits int() refuses ("²").
    if declared and declared.isascii() and declared.isdigit() and int(declared) > limit + 64 * 1024:
        # Refuse before reading the body; the slack covers the multipart framing.
        return error(413, f'field "file" is too large: the limit is {limit} bytes', limit=limit)
    if "multipart/form-data" not in (request.headers.get("content-type") or ""):
        return error(400, 'expected multipart/form-data with fields "file", "table" and "periodTag"')
    try:
        form = await request.form_data()
    except Exception:  # noqa: BLE001 - a bad body may raise any parser error
        return error(400, "malformed multipart/form-data body")

    try:
        table = check_name("table", _text_field(form, "table"))
        period_tag = check_name("periodTag", _text_field(form, "periodTag"))
        raw_dataset = _text_field(form, "datasetId")
        dataset_id = check_name("datasetId", caller.user_id if raw_dataset in (None, "") else raw_dataset)
    except InputError as exc:
        return error(400, str(exc))
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        return error(400, 'field "file" is required and must be a file part')
    if getattr(upload, "size", 0) > limit:
        return error(413, f'field "file" is too large: the limit is {limit} bytes', limit=limit)
    data = bytes(await upload.bytes())
    if len(data) > limit:
        return error(413, f'field "file" is too large: the limit is {limit} bytes', limit=limit)
    try:
        info = inspect_parquet(data)
    except InputError as exc:
        return error(400, str(exc))

    db, bucket = env.BATTLE_INDEX_DB, env.BATTLE_DATA_BUCKET
    owner = await index_db.dataset_owner(db, dataset_id)
    if owner is not None and owner != caller.user_id:
        return error(403, f"dataset {dataset_id!r} belongs to another user")
    sha256 = hashlib.sha256(data).hexdigest()
    existing = await index_db.find_fragment(db, dataset_id, table, period_tag, sha256)
    if existing is not None:
        return _answer(existing["key"], existing["size"], existing["rows"], sha256, queued=False, duplicate=True)

    uploaded_ms = int(time.time() * 1000)
    uploaded_at = index_db.iso_now()
    key = f"datasets/{dataset_id}/{table}/{period_tag}/{uploaded_ms}-{sha256[:8]}.parquet"
    try:
        stored = await bucket.put(
            key, data,
            httpMetadata={"contentType": "application/vnd.apache.parquet", "cacheControl": "immutable"},
            customMetadata={"sha256": sha256, "rows": str(info.rows), "schema_fingerprint": info.fingerprint,
                            "uploaded_by": caller.user_id, "dataset_id": dataset_id, "table": table,
                            "period_tag": period_tag},
        )
    except Exception as exc:  # noqa: BLE001 - binding errors are JS errors of any type
        print(f"[battle-data] R2 put failed for {key}: {exc}")
        return error(500, "failed to store the fragment; nothing was recorded, retry the upload")

    try:
        recorded = await index_db.record_fragment(
            db, key=key, dataset_id=dataset_id, table=table, period_tag=period_tag, size=len(data),
            etag=str(getattr(stored, "etag", "") or ""), uploaded_at=uploaded_at, sha256=sha256,
            user_id=caller.user_id, rows=info.rows, fingerprint=info.fingerprint,
        )
    except Exception as exc:  # noqa: BLE001 - binding errors are JS errors of any type
        await _delete_quietly(bucket, key)
        # A concurrent upload of the same bytes won the unique index: report it as the duplicate.
        existing = await index_db.find_fragment(db, dataset_id, table, period_tag, sha256)
        if existing is not None:
            return _answer(existing["key"], existing["size"], existing["rows"], sha256, queued=False, duplicate=True)
        print(f"[battle-data] D1 write failed for {key}: {exc}; R2 object deleted")
        return error(500, "failed to record the fragment; nothing was kept, retry the upload")
    if not recorded:
        await _delete_quietly(bucket, key)
        return error(403, f"dataset {dataset_id!r} belongs to another user")

    message = {
        "datasetId": dataset_id, "table": table, "periodTag": period_tag, "priority": "realtime",
        "metricId": str(uuid.uuid4()), "triggeredAt": uploaded_at, "userId": caller.user_id,
    }
    queued = False
    try:
        await env.COMPACTION_QUEUE.send(message)
        queued = True
    except Exception as exc:  # noqa: BLE001 - binding errors are JS errors of any type
        print(f"[battle-data] FAILED to enqueue compaction for {dataset_id}/{table}/{period_tag}: {exc}; "
              "the pending compaction stays recorded in D1 for the next trigger")
    if queued:
        try:
            await index_db.mark_queued(db, dataset_id, table, period_tag)
        except Exception as exc:  # noqa: BLE001 - bookkeeping only: the message is already on its way
            print(f"[battle-data] could not record queued_at: {exc}")
    return _answer(key, len(data), info.rows, sha256, queued=queued, duplicate=False)


def _answer(key: str, size: int, rows: int, sha256: str, queued: bool, duplicate: bool) -> Any:
    return json_response({"ok": True, "key": key, "size": size, "rows": rows, "sha256": sha256,
                          "queued": queued, "duplicate": duplicate})


async def _delete_quietly(bucket: Any, key: str) -> None:
    try:
        await bucket.delete(key)
    except Exception as exc:  # noqa: BLE001 - cleanup is best effort; the caller reports the first error
        print(f"[battle-data] could not delete {key} after a failed write: {exc}")
