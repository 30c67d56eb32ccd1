"""The battle-data index in D1 (binding ``BATTLE_INDEX_DB``), as fusou-workflow uses it.

The lease on ``pending_compactions`` is what keeps compactions of one (dataset, table,
period) from overlapping: a run takes it in ``validate-dataset`` (or finds it held and
is coalesced), and gives it back in ``update-metadata`` in the same transaction that
marks fragments compacted and recomputes ``needed`` from fragments still uncompacted,
so a trigger that arrived during the run is never lost: it either sees the lease free,
or the holder sees its fragment and re-enqueues a follow-up.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

UNCOMPACTED = "compacted_at IS NULL AND quarantined_at IS NULL"
# After this many consecutive failed runs the cron stops re-driving a key (a new upload or
# a manual trigger resets the count), so a permanently failing key does not loop forever.
MAX_REDRIVE_FAILURES = 3
KEY = 'dataset_id = ? AND "table" = ? AND period_tag = ?'


def iso_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def rows_of(result: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in (result["results"] or [])]


def changes_of(result: Any) -> int:
    meta = result["meta"] if "meta" in result else {}  # noqa: SIM401 - also works on a JS object, which has no .get()
    return int((meta or {}).get("changes", 0) or 0)


async def dataset(db: Any, dataset_id: str) -> dict[str, Any] | None:
    row = await db.prepare("SELECT id, user_id FROM datasets WHERE id = ?").bind(dataset_id).first()
    return None if row is None else dict(row)


async def acquire_lease(db: Any, dataset_id: str, table: str, period_tag: str, user_id: str,
                        owner: str, now_ms: int, lease_ms: int) -> dict[str, Any]:
    """Take the (dataset, table, period) lease for ``owner``; re-entrant for the same owner."""
    results = await db.batch([
        db.prepare(
            'INSERT INTO pending_compactions (dataset_id, "table", period_tag, user_id, needed) '
            'VALUES (?, ?, ?, ?, 1) ON CONFLICT(dataset_id, "table", period_tag) DO NOTHING'
        ).bind(dataset_id, table, period_tag, user_id),
        db.prepare(
            "UPDATE pending_compactions SET lease_owner = ?, lease_expires_at = ?, updated_at = CURRENT_TIMESTAMP "
            f"WHERE {KEY} AND (lease_owner IS NULL OR lease_owner = ? OR lease_expires_at < ?)"
        ).bind(owner, now_ms + lease_ms, dataset_id, table, period_tag, owner, now_ms),
        db.prepare(
            "UPDATE datasets SET compaction_in_progress = 1, updated_at = CURRENT_TIMESTAMP WHERE id = ?"
        ).bind(dataset_id),
    ])
    if changes_of(results[1]) == 1:
        return {"acquired": True, "heldBy": owner}
    row = await db.prepare(
        f"SELECT lease_owner, lease_expires_at FROM pending_compactions WHERE {KEY}"
    ).bind(dataset_id, table, period_tag).first()
    return {"acquired": False, "heldBy": None if row is None else row["lease_owner"]}


async def list_fragments(db: Any, dataset_id: str, table: str, period_tag: str, limit: int) -> list[dict[str, Any]]:
    """The oldest ``limit`` uncompacted fragments; the rest wait for the follow-up run."""
    res = await db.prepare(
        f"SELECT id, key, size, rows FROM battle_files WHERE {KEY} AND {UNCOMPACTED} ORDER BY uploaded_at, id "
        "LIMIT ?"
    ).bind(dataset_id, table, period_tag, limit).all()
    return rows_of(res)


async def compacted_outputs(db: Any, dataset_id: str, table: str, period_tag: str) -> list[dict[str, Any]]:
    res = await db.prepare(
        f"SELECT part, key, schema_fingerprint AS fingerprint, size, rows FROM compacted_files WHERE {KEY} "
        "ORDER BY part"
    ).bind(dataset_id, table, period_tag).all()
    return rows_of(res)


async def quarantine(db: Any, key: str, reason: str) -> None:
    await db.prepare(
        "UPDATE battle_files SET quarantined_at = ?, quarantine_reason = ? WHERE key = ? AND quarantined_at IS NULL"
    ).bind(iso_now(), reason[:500], key).run()


async def quarantined_keys(db: Any, keys: list[str]) -> set[str]:
    if not keys:
        return set()
    found: set[str] = set()
    for i in range(0, len(keys), 90):  # stay under SQLite's bound-parameter limit
        chunk = keys[i:i + 90]
        res = await db.prepare(
            f"SELECT key FROM battle_files WHERE quarantined_at IS NOT NULL AND key IN ({','.join('?' * len(chunk))})"
        ).bind(*chunk).all()
        found.update(r["key"] for r in rows_of(res))
    return found


async def finalize(db: Any, *, dataset_id: str, table: str, period_tag: str, run_id: str,
                   merged_keys: list[str], outputs: list[dict[str, Any]], now_ms: int) -> bool:
    """One transaction: fragments compacted, outputs recorded, lease released, ``needed``
    recomputed. Returns whether fragments are still waiting (a follow-up run is owed)."""
    now = iso_now()
    stmts = []
    for i in range(0, len(merged_keys), 90):
        chunk = merged_keys[i:i + 90]
        stmts.append(db.prepare(
            f"UPDATE battle_files SET compacted_at = ?, compacted_run_id = ? WHERE compacted_at IS NULL "
            f"AND key IN ({','.join('?' * len(chunk))})"
        ).bind(now, run_id, *chunk))
    for out in outputs:
        stmts.append(db.prepare(
            'INSERT INTO compacted_files (dataset_id, "table", period_tag, part, key, schema_fingerprint, size, '
            "rows, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            'ON CONFLICT(dataset_id, "table", period_tag, part) DO UPDATE SET key = excluded.key, '
            "schema_fingerprint = excluded.schema_fingerprint, size = excluded.size, rows = excluded.rows, "
            "run_id = excluded.run_id, updated_at = CURRENT_TIMESTAMP"
        ).bind(dataset_id, table, period_tag, out["part"], out["key"], out["fingerprint"], out["size"],
               out["rows"], run_id))
    stmts.append(db.prepare(
        "UPDATE pending_compactions SET lease_owner = NULL, lease_expires_at = NULL, last_run_id = ?, failures = 0, "
        f"needed = EXISTS (SELECT 1 FROM battle_files b WHERE b.dataset_id = pending_compactions.dataset_id "
        f'AND b."table" = pending_compactions."table" AND b.period_tag = pending_compactions.period_tag '
        f"AND b.compacted_at IS NULL AND b.quarantined_at IS NULL), updated_at = CURRENT_TIMESTAMP "
        f"WHERE {KEY} AND (lease_owner = ? OR lease_owner IS NULL)"
    ).bind(run_id, dataset_id, table, period_tag, run_id))
    stmts.append(db.prepare(
        "UPDATE datasets SET last_compacted_at = datetime('now'), updated_at = datetime('now'), "
        "compaction_needed = EXISTS (SELECT 1 FROM pending_compactions p WHERE p.dataset_id = datasets.id "
        "AND p.needed = 1), "
        "compaction_in_progress = EXISTS (SELECT 1 FROM pending_compactions p WHERE p.dataset_id = datasets.id "
        "AND p.lease_owner IS NOT NULL AND p.lease_expires_at > ?), "
        "file_size_bytes = (SELECT COALESCE(SUM(size), 0) FROM compacted_files c WHERE c.dataset_id = datasets.id), "
        "row_count = (SELECT COALESCE(SUM(rows), 0) FROM compacted_files c WHERE c.dataset_id = datasets.id) "
        "WHERE id = ?"
    ).bind(now_ms, dataset_id))
    await db.batch(stmts)
    row = await db.prepare(f"SELECT needed FROM pending_compactions WHERE {KEY}").bind(
        dataset_id, table, period_tag).first()
    return bool(row and row["needed"])


async def release_after_failure(db: Any, dataset_id: str, table: str, period_tag: str, run_id: str,
                                now_ms: int) -> None:
    await db.batch([
        db.prepare(
            "UPDATE pending_compactions SET lease_owner = NULL, lease_expires_at = NULL, last_run_id = ?, "
            f"failures = failures + 1, updated_at = CURRENT_TIMESTAMP WHERE {KEY} AND lease_owner = ?"
        ).bind(run_id, dataset_id, table, period_tag, run_id),
        db.prepare(
            "UPDATE datasets SET compaction_in_progress = EXISTS (SELECT 1 FROM pending_compactions p "
            "WHERE p.dataset_id = datasets.id AND p.lease_owner IS NOT NULL AND p.lease_expires_at > ?), "
            "updated_at = datetime('now') WHERE id = ?"
        ).bind(now_ms, dataset_id),
    ])


async def record_run(db: Any, run: dict[str, Any], replace: bool = True) -> None:
    """Write the run's metrics row, keyed by the workflow instance id (idempotent).

    ``replace=False`` keeps an existing row: a restarted instance that finds nothing left to
    do must not overwrite the figures of the run that did the work.
    """
    known = ["run_id", "dataset_id", "table", "period_tag", "metric_id", "priority", "status", "rows_in",
             "rows_out", "duplicates_dropped", "bytes_in", "bytes_out", "compression_ratio", "fragments_merged",
             "fragments_quarantined", "outputs", "workflow_total_duration_ms", "error_step", "error_message",
             "started_at", "finished_at"]
    # Only the fields given: the others keep their column defaults (0 for the counters).
    cols = [c for c in known if run.get(c) is not None]
    quoted = ", ".join(f'"{c}"' for c in cols)
    insert = db.prepare(
        f"INSERT INTO compaction_runs ({quoted}) VALUES ({', '.join('?' * len(cols))}) "
        "ON CONFLICT(run_id) DO NOTHING"
    ).bind(*(run[c] for c in cols))
    if replace:
        # A whole new row (a failure's error text must not survive into a later success).
        await db.batch([db.prepare("DELETE FROM compaction_runs WHERE run_id = ?").bind(run["run_id"]), insert])
    else:
        await insert.run()


async def record_failure(db: Any, *, source: str, reason: str, message_id: str | None, body: str | None,
                         attempts: int | None, dataset_id: str | None, table: str | None,
                         period_tag: str | None, user_id: str | None) -> None:
    await db.prepare(
        'INSERT INTO compaction_failures (source, message_id, dataset_id, "table", period_tag, user_id, reason, '
        "body, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ).bind(source, message_id, dataset_id, table, period_tag, user_id, reason[:1000], body, attempts).run()


async def clear_stale_flag(db: Any, dataset_id: str, table: str | None, period_tag: str | None, now_ms: int) -> int:
    """The DLQ's flag reset: only leases no live run holds (a live holder still finishes)."""
    if table and period_tag:
        res = await db.prepare(
            "UPDATE pending_compactions SET lease_owner = NULL, lease_expires_at = NULL "
            f"WHERE {KEY} AND lease_owner IS NOT NULL AND lease_expires_at <= ?"
        ).bind(dataset_id, table, period_tag, now_ms).run()
    else:
        res = await db.prepare(
            "UPDATE pending_compactions SET lease_owner = NULL, lease_expires_at = NULL "
            "WHERE dataset_id = ? AND lease_owner IS NOT NULL AND lease_expires_at <= ?"
        ).bind(dataset_id, now_ms).run()
    await db.prepare(
        "UPDATE datasets SET compaction_in_progress = EXISTS (SELECT 1 FROM pending_compactions p "
        "WHERE p.dataset_id = datasets.id AND p.lease_owner IS NOT NULL AND p.lease_expires_at > ?), "
        "updated_at = datetime('now') WHERE id = ?"
    ).bind(now_ms, dataset_id).run()
    return changes_of(res)


async def pending_keys(db: Any, dataset_id: str) -> list[tuple[str, str]]:
    res = await db.prepare(
        f'SELECT DISTINCT "table" AS tbl, period_tag FROM battle_files WHERE dataset_id = ? AND {UNCOMPACTED}'
    ).bind(dataset_id).all()
    return [(r["tbl"], r["period_tag"]) for r in rows_of(res)]


async def redrivable(db: Any, now_ms: int, limit: int = 100) -> list[dict[str, Any]]:
    res = await db.prepare(
        'SELECT dataset_id, "table" AS tbl, period_tag, user_id FROM pending_compactions '
        "WHERE needed = 1 AND failures < ? AND (lease_owner IS NULL OR lease_expires_at < ?) "
        "ORDER BY updated_at LIMIT ?"
    ).bind(MAX_REDRIVE_FAILURES, now_ms, limit).all()
    return rows_of(res)
