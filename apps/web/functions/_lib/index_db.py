"""The battle-data index in D1 (binding ``BATTLE_INDEX_DB``), as fusou-web uses it.

The schema is ``apps/workflow/migrations``. ``"table"`` is always quoted: it is a reserved
word in SQLite (the original's web GETs failed on an unquoted alias).
"""

from __future__ import annotations

import datetime as dt
from typing import Any


def iso_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def rows_of(result: Any) -> list[dict[str, Any]]:
    return list(result["results"] or [])


def changes_of(result: Any) -> int:
    meta = result["meta"] if "meta" in result else {}  # noqa: SIM401 - also works on a JS object, which has no .get()
    return int((meta or {}).get("changes", 0) or 0)


async def dataset_owner(db: Any, dataset_id: str) -> str | None:
    row = await db.prepare("SELECT user_id FROM datasets WHERE id = ?").bind(dataset_id).first()
    return None if row is None else row["user_id"]


async def find_fragment(db: Any, dataset_id: str, table: str, period_tag: str, sha256: str) -> dict[str, Any] | None:
    row = await db.prepare(
        'SELECT key, size, rows FROM battle_files WHERE dataset_id = ? AND "table" = ? AND period_tag = ? '
        "AND content_hash = ?"
    ).bind(dataset_id, table, period_tag, sha256).first()
    return None if row is None else dict(row)


async def record_fragment(db: Any, *, key: str, dataset_id: str, table: str, period_tag: str, size: int,
                          etag: str, uploaded_at: str, sha256: str, user_id: str, rows: int,
                          fingerprint: str) -> bool:
    """One transaction: the dataset (first upload creates it), the fragment, the pending mark.

    Returns False when the dataset turned out to belong to someone else (a concurrent first
    upload by another user won): nothing is written then.
    """
    results = await db.batch([
        db.prepare(
            "INSERT INTO datasets (id, user_id, dataset_name, dataset_ref) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(id) DO NOTHING"
        ).bind(dataset_id, user_id, dataset_id, dataset_id),
        db.prepare(
            'INSERT INTO battle_files (key, dataset_id, "table", period_tag, size, etag, uploaded_at, '
            "content_hash, uploaded_by, rows, schema_fingerprint) "
            "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS "
            "(SELECT 1 FROM datasets WHERE id = ? AND user_id = ?)"
        ).bind(key, dataset_id, table, period_tag, size, etag, uploaded_at, sha256, user_id, rows,
               fingerprint, dataset_id, user_id),
        db.prepare(
            'INSERT INTO pending_compactions (dataset_id, "table", period_tag, user_id, needed, request_count, '
            "requested_at) SELECT ?, ?, ?, ?, 1, 1, ? WHERE EXISTS (SELECT 1 FROM battle_files WHERE key = ?) "
            'ON CONFLICT(dataset_id, "table", period_tag) DO UPDATE SET needed = 1, '
            "request_count = request_count + 1, failures = 0, requested_at = excluded.requested_at, "
            "updated_at = CURRENT_TIMESTAMP"
        ).bind(dataset_id, table, period_tag, user_id, uploaded_at, key),
        db.prepare(
            "UPDATE datasets SET compaction_needed = 1, updated_at = CURRENT_TIMESTAMP "
            "WHERE id = ? AND user_id = ?"
        ).bind(dataset_id, user_id),
    ])
    return changes_of(results[1]) == 1


async def request_compaction(db: Any, dataset_id: str, table: str, period_tag: str, user_id: str) -> None:
    await db.prepare(
        'INSERT INTO pending_compactions (dataset_id, "table", period_tag, user_id, needed, request_count, '
        "requested_at) VALUES (?, ?, ?, ?, 1, 1, ?) "
        'ON CONFLICT(dataset_id, "table", period_tag) DO UPDATE SET needed = 1, '
        "request_count = request_count + 1, failures = 0, requested_at = excluded.requested_at, "
        "updated_at = CURRENT_TIMESTAMP"
    ).bind(dataset_id, table, period_tag, user_id, iso_now()).run()


async def mark_queued(db: Any, dataset_id: str, table: str, period_tag: str) -> None:
    await db.prepare(
        'UPDATE pending_compactions SET queued_at = ? WHERE dataset_id = ? AND "table" = ? AND period_tag = ?'
    ).bind(iso_now(), dataset_id, table, period_tag).run()


async def table_periods(db: Any, dataset_id: str) -> list[tuple[str, str]]:
    res = await db.prepare(
        'SELECT DISTINCT "table" AS tbl, period_tag FROM battle_files WHERE dataset_id = ? ORDER BY 1, 2'
    ).bind(dataset_id).all()
    return [(r["tbl"], r["period_tag"]) for r in rows_of(res)]


async def compacted_parts(db: Any, dataset_id: str, table: str, period_tag: str) -> list[dict[str, Any]]:
    res = await db.prepare(
        'SELECT part, key, size, rows FROM compacted_files WHERE dataset_id = ? AND "table" = ? '
        "AND period_tag = ? ORDER BY part"
    ).bind(dataset_id, table, period_tag).all()
    return [dict(r) for r in rows_of(res)]


async def dataset_status(db: Any, dataset_id: str, now_ms: int) -> dict[str, Any] | None:
    owner = await dataset_owner(db, dataset_id)
    if owner is None:
        return None
    counts = rows_of(await db.prepare(
        'SELECT "table" AS tbl, period_tag, COUNT(*) AS fragments, '
        "SUM(CASE WHEN compacted_at IS NULL AND quarantined_at IS NULL THEN 1 ELSE 0 END) AS pending, "
        "SUM(CASE WHEN quarantined_at IS NOT NULL THEN 1 ELSE 0 END) AS quarantined "
        'FROM battle_files WHERE dataset_id = ? GROUP BY "table", period_tag ORDER BY 1, 2'
    ).bind(dataset_id).all())
    leases = {(r["tbl"], r["period_tag"]): r for r in rows_of(await db.prepare(
        'SELECT "table" AS tbl, period_tag, needed, lease_owner, lease_expires_at FROM pending_compactions '
        "WHERE dataset_id = ?"
    ).bind(dataset_id).all())}
    outputs: dict[tuple[str, str], list[str]] = {}
    for r in rows_of(await db.prepare(
        'SELECT "table" AS tbl, period_tag, key FROM compacted_files WHERE dataset_id = ? ORDER BY part'
    ).bind(dataset_id).all()):
        outputs.setdefault((r["tbl"], r["period_tag"]), []).append(r["key"])
    runs: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows_of(await db.prepare(
        'SELECT "table" AS tbl, period_tag, run_id, status, rows_in, rows_out, duplicates_dropped, bytes_in, '
        "bytes_out, fragments_quarantined, error_step, error_message, finished_at FROM compaction_runs "
        "WHERE dataset_id = ? AND status IN ('success', 'failure') ORDER BY id DESC"
    ).bind(dataset_id).all()):
        runs.setdefault((r["tbl"], r["period_tag"]), dict(r))
    tables = []
    for c in counts:
        k = (c["tbl"], c["period_tag"])
        lease = leases.get(k)
        run = runs.get(k)
        tables.append({
            "table": c["tbl"], "periodTag": c["period_tag"],
            "fragments": c["fragments"], "pendingFragments": c["pending"] or 0,
            "quarantinedFragments": c["quarantined"] or 0,
            "compacted": outputs.get(k, []),
            "inProgress": bool(lease and lease["lease_owner"] and (lease["lease_expires_at"] or 0) > now_ms),
            "lastRun": None if run is None else {
                "status": run["status"], "runId": run["run_id"], "rowsIn": run["rows_in"],
                "rowsOut": run["rows_out"], "duplicatesDropped": run["duplicates_dropped"],
                "bytesIn": run["bytes_in"], "bytesOut": run["bytes_out"],
                "fragmentsQuarantined": run["fragments_quarantined"], "errorStep": run["error_step"],
                "errorMessage": run["error_message"], "finishedAt": run["finished_at"],
            },
        })
    failures = rows_of(await db.prepare(
        'SELECT source, message_id, "table" AS tbl, period_tag, reason, attempts, created_at '
        "FROM compaction_failures WHERE dataset_id = ? ORDER BY id DESC LIMIT 20"
    ).bind(dataset_id).all())
    return {
        "datasetId": dataset_id, "owner": owner, "tables": tables,
        "failures": [{"source": f["source"], "messageId": f["message_id"], "table": f["tbl"],
                      "periodTag": f["period_tag"], "reason": f["reason"], "attempts": f["attempts"],
                      "createdAt": f["created_at"]} for f in failures],
    }
