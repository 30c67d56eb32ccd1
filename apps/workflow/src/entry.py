"""fusou-workflow: compaction queue consumer, DLQ consumer, cron re-drive, and the
durable ``DataCompactionWorkflow``.

- ``queue``: messages of ``dev-kc-compaction-queue`` start one workflow instance per
  (dataset, table, period); malformed messages go straight to the DLQ (retrying cannot
  fix them); a failure to start the instance retries the message (3 retries → DLQ).
- ``queue`` on ``dev-kc-compaction-dlq``: record the failure in D1, clear stale flags, ack.
- ``scheduled``: re-enqueue compactions recorded in D1 but not running (a failed send at
  upload time, a follow-up, an expired lease).
- ``fetch``: ``GET /`` health, ``POST /run`` manual start, ``GET /status/{instanceId}``.

Instance ids derive from the queue message id, so a redelivered message finds the
instance it already started instead of starting a second one.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any
from urllib.parse import urlparse

from workers import Response, WorkerEntrypoint, WorkflowEntrypoint
from workers.workflows import NonRetryableError

import battle_index as idx


def compaction() -> Any:
    """The compaction module (pyarrow, numpy), imported by the first compaction step that
    needs it: the queue consumers, the cron and `fetch` do without it, so the Worker (and
    `cf-emulator dev`) starts ~0.2 s sooner. Later calls find it in ``sys.modules``."""
    import compaction as module

    return module


LOG = "[Compaction Queue Consumer]"
DLQ_LOG = "[DLQ Handler]"
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
PRIORITIES = ("realtime", "manual", "scheduled")
STEP_CONFIG = {"retries": {"limit": 3, "delay": "2 seconds", "backoff": "exponential"}}
DEFAULT_LEASE_SECONDS = 900
DEFAULT_MAX_FRAGMENTS = 1000


def _get(obj: Any, name: str, default: Any = None) -> Any:
    """Read a field of a binding result or event whether it is a dict or an object."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _instance_id(prefix: str, raw: str) -> str:
    # Workflow ids: ^[a-zA-Z0-9_][a-zA-Z0-9-_]*$, at most 100 characters.
    return (prefix + re.sub(r"[^A-Za-z0-9_-]", "-", raw))[:100]


def validate_message(body: Any) -> tuple[dict[str, Any] | None, str | None]:
    """(normalized message, None) or (None, reason it can never succeed)."""
    if not isinstance(body, dict):
        return None, f"body must be a JSON object, got {type(body).__name__}"
    dataset_id = body.get("datasetId")
    if not isinstance(dataset_id, str) or not dataset_id:
        return None, "Missing required field: datasetId"
    if not NAME_RE.fullmatch(dataset_id):
        return None, "datasetId must match ^[A-Za-z0-9_.-]{1,64}$"
    priority = body.get("priority", "scheduled")
    if priority not in PRIORITIES:
        return None, f"priority must be one of {'|'.join(PRIORITIES)}, got {priority!r}"
    for name in ("table", "periodTag"):
        value = body.get(name)
        if value is not None and (not isinstance(value, str) or not NAME_RE.fullmatch(value)):
            return None, f"{name} must match ^[A-Za-z0-9_.-]{{1,64}}$"
    user_id = body.get("userId")
    if user_id is not None and not isinstance(user_id, str):
        return None, "userId must be a string"
    return {
        "datasetId": dataset_id, "table": body.get("table"), "periodTag": body.get("periodTag"),
        "priority": priority, "userId": user_id, "metricId": body.get("metricId"),
        "triggeredAt": body.get("triggeredAt"),
    }, None


class Default(WorkerEntrypoint):
    # ------------------------------------------------------------------ HTTP
    async def fetch(self, request: Any) -> Any:
        path = urlparse(request.url).path.rstrip("/") or "/"
        method = str(request.method).upper()
        if method == "GET" and path == "/":
            return Response.json({"status": "ok", "service": "fusou-workflow"})
        if method == "POST" and path == "/run":
            try:
                body = json.loads(await request.text() or "{}")
            except ValueError:
                return Response.json({"error": "body must be JSON"}, status=400)
            message, reason = validate_message({"priority": "manual", **body} if isinstance(body, dict) else body)
            if message is None:
                return Response.json({"error": reason}, status=400)
            if not message["table"] or not message["periodTag"]:
                return Response.json({"error": "table and periodTag are required"}, status=400)
            instance = await self.env.DATA_COMPACTION.create(
                id=_instance_id("run-", f"{message['datasetId']}-{_now_ms()}"), params=message)
            return Response.json({"instanceId": instance.id, "status": "started", **message}, status=202)
        if method == "GET" and path.startswith("/status/"):
            instance_id = path[len("/status/"):]
            try:
                instance = await self.env.DATA_COMPACTION.get(instance_id)
                status = await instance.status()
            except Exception as exc:  # noqa: BLE001 - binding errors are JS errors of any type
                return Response.json({"error": f"instance {instance_id!r} not found: {exc}"}, status=404)
            return Response.json({"instanceId": instance_id, "status": _get(status, "status"),
                                  "output": _get(status, "output"), "error": _get(status, "error")})
        return Response("Not Found", status=404)

    # ----------------------------------------------------------------- queues
    async def queue(self, batch: Any) -> None:
        if "dlq" in str(batch.queue).lower():
            await self._dead_letters(batch)
            return
        print(f"{LOG} batch of {len(batch.messages)} from {batch.queue}")
        for msg in batch.messages:
            message, reason = validate_message(msg.body)
            if message is None:
                try:
                    await self.env.COMPACTION_DLQ.send({"reason": reason, "messageId": msg.id,
                                                        "attempts": msg.attempts, "original": msg.body})
                    print(f"{LOG} invalid message {msg.id} sent to the DLQ: {reason}")
                    msg.ack()
                except Exception as exc:  # noqa: BLE001 - binding errors are JS errors of any type; the message is retried
                    print(f"{LOG} could not forward invalid message {msg.id} to the DLQ: {exc}")
                    msg.retry()
                continue
            try:
                started = await self._start(message, msg.id)
                print(f"{LOG} message {msg.id} (attempt {msg.attempts}) started {', '.join(started) or 'nothing'}")
                msg.ack()
            except Exception as exc:  # noqa: BLE001 - any failure retries the message
                print(f"{LOG} message {msg.id} failed (attempt {msg.attempts}): {type(exc).__name__}: {exc}; retrying")
                msg.retry()

    async def _start(self, message: dict[str, Any], message_id: str) -> list[str]:
        keys: list[tuple[str, str]]
        if message["table"] and message["periodTag"]:
            keys = [(message["table"], message["periodTag"])]
        else:
            # A dataset-wide trigger fans out to every table/period with work waiting.
            keys = [(t, p) for t, p in await idx.pending_keys(self.env.BATTLE_INDEX_DB, message["datasetId"])
                    if not message["table"] or t == message["table"]]
        started = []
        for n, (table, period_tag) in enumerate(keys):
            instance_id = _instance_id("cmp-", f"{message_id}-{n}" if len(keys) > 1 else message_id)
            params = {**message, "table": table, "periodTag": period_tag}
            try:
                await self.env.DATA_COMPACTION.create(id=instance_id, params=params)
            except Exception as exc:
                # A redelivered message: the instance it started is already there (production
                # refuses the duplicate id; locally `create` returns the existing instance).
                if "already" not in str(exc).lower():
                    raise
            started.append(instance_id)
        return started

    async def _dead_letters(self, batch: Any) -> None:
        print(f"{DLQ_LOG} Processing {len(batch.messages)} failed messages")
        db = self.env.BATTLE_INDEX_DB
        for msg in batch.messages:
            body = msg.body
            try:
                if isinstance(body, dict) and "original" in body and "reason" in body:
                    source, reason, original = "invalid-message", str(body["reason"]), body["original"]
                    message_id = str(body.get("messageId") or msg.id)
                    attempts = body.get("attempts")
                else:
                    # The main queue's delivery count does not travel with the message (the
                    # DLQ delivery starts again at 1), so it is not recorded.
                    source, original, message_id, attempts = "retries-exhausted", body, str(msg.id), None
                    reason = "the compaction could not be started after every retry"
                fields = original if isinstance(original, dict) else {}
                dataset_id = fields.get("datasetId") if isinstance(fields.get("datasetId"), str) else None
                table = fields.get("table") if isinstance(fields.get("table"), str) else None
                period_tag = fields.get("periodTag") if isinstance(fields.get("periodTag"), str) else None
                user_id = fields.get("userId") if isinstance(fields.get("userId"), str) else None
                await idx.record_failure(db, source=source, reason=reason, message_id=message_id,
                                         body=json.dumps(original, default=str)[:4000], attempts=attempts,
                                         dataset_id=dataset_id, table=table, period_tag=period_tag,
                                         user_id=user_id)
                if dataset_id:
                    await idx.clear_stale_flag(db, dataset_id, table, period_tag, _now_ms())
                print(f"{DLQ_LOG} recorded {source} for message {message_id}: {reason}")
            except Exception as exc:  # noqa: BLE001 - always ack, see below
                print(f"{DLQ_LOG} Error processing DLQ message {msg.id}: {exc}")
            # Always ack: a DLQ message that cannot be recorded would otherwise loop forever.
            msg.ack()

    # ------------------------------------------------------------------ cron
    async def scheduled(self, controller: Any) -> None:
        rows = await idx.redrivable(self.env.BATTLE_INDEX_DB, _now_ms())
        if not rows:
            print("[Compaction Cron] nothing pending")
            return
        now = idx.iso_now()
        await self.env.COMPACTION_QUEUE.sendBatch([
            {"body": {"datasetId": r["dataset_id"], "table": r["tbl"], "periodTag": r["period_tag"],
                      "priority": "scheduled", "userId": r["user_id"], "triggeredAt": now}}
            for r in rows
        ])
        print(f"[Compaction Cron] re-enqueued {len(rows)} pending compaction(s)")


class DataCompactionWorkflow(WorkflowEntrypoint):
    """Compact one (dataset, table, period): durable steps, small outputs (keys and counts)."""

    async def run(self, event: Any, step: Any) -> Any:
        params = dict(_get(event, "payload") or {})
        run_id = str(_get(event, "instanceId") or _get(event, "instance_id") or params.get("runId") or "run")
        env = self.env
        db, bucket = env.BATTLE_INDEX_DB, env.BATTLE_DATA_BUCKET
        # "" when missing: the validate-dataset step refuses such a payload.
        dataset_id: str = params.get("datasetId") or ""
        table: str = params.get("table") or ""
        period_tag: str = params.get("periodTag") or ""
        user_id = params.get("userId")
        started_ms = _now_ms()
        started_at = idx.iso_now()
        lease_seconds = getattr(env, "COMPACTION_LEASE_SECONDS", DEFAULT_LEASE_SECONDS) or DEFAULT_LEASE_SECONDS
        lease_ms = int(float(lease_seconds) * 1000)
        delay_ms = compaction().step_delay_ms(env)
        # Step outputs must stay small (≤ 1 MiB): a run takes at most this many fragments and
        # leaves the rest to the follow-up run that `update-metadata` enqueues.
        max_fragments = int(getattr(env, "COMPACTION_MAX_FRAGMENTS", DEFAULT_MAX_FRAGMENTS) or DEFAULT_MAX_FRAGMENTS)

        async def pause() -> None:
            if delay_ms:
                await asyncio.sleep(delay_ms / 1000)  # dev/test knob only (COMPACTION_STEP_DELAY_MS)

        def base_run(status: str) -> dict[str, Any]:
            return {"run_id": run_id, "dataset_id": dataset_id or "", "table": table or "",
                    "period_tag": period_tag or "", "metric_id": params.get("metricId"),
                    "priority": params.get("priority"), "status": status, "started_at": started_at}

        current = "validate-dataset"
        try:
            @step.do("validate-dataset", config=STEP_CONFIG)
            async def validate_dataset() -> dict[str, Any]:
                await pause()
                if not dataset_id or not table or not period_tag:
                    raise NonRetryableError("datasetId, table and periodTag are required")
                row = await idx.dataset(db, dataset_id)
                if row is None:
                    raise NonRetryableError(f"Dataset {dataset_id} not found")
                if user_id and row["user_id"] != user_id:
                    raise NonRetryableError(f"Dataset {dataset_id} belongs to different user")
                lease = await idx.acquire_lease(db, dataset_id, table, period_tag, row["user_id"], run_id,
                                                _now_ms(), lease_ms)
                return {"owner": row["user_id"], "coalesced": not lease["acquired"], "heldBy": lease["heldBy"]}

            validated = await validate_dataset()
            if validated["coalesced"]:
                current = "record-metrics"

                @step.do("record-metrics", config=STEP_CONFIG)
                async def record_coalesced() -> dict[str, Any]:
                    await idx.record_run(db, {**base_run("coalesced"), "finished_at": idx.iso_now(),
                                              "workflow_total_duration_ms": _now_ms() - started_ms},
                                         replace=False)
                    return {"status": "coalesced", "heldBy": validated["heldBy"]}

                return await record_coalesced()

            current = "list-fragments"

            @step.do("list-fragments", config=STEP_CONFIG)
            async def list_fragments() -> dict[str, Any]:
                await pause()
                fragments = await idx.list_fragments(db, dataset_id, table, period_tag, max_fragments)
                outputs = await idx.compacted_outputs(db, dataset_id, table, period_tag)
                return {"fragments": [{"key": f["key"], "size": f["size"]} for f in fragments],
                        "outputs": outputs}

            listed = await list_fragments()

            current = "extract-schema"

            @step.do("extract-schema", config=STEP_CONFIG)
            async def extract_schema() -> dict[str, Any]:
                await pause()
                good, bad = [], []
                for frag in listed["fragments"]:
                    try:
                        info = await compaction().read_footer(bucket, frag["key"])
                    except compaction().FragmentError as exc:
                        await idx.quarantine(db, frag["key"], exc.reason)
                        bad.append({"key": frag["key"], "reason": exc.reason})
                        continue
                    good.append({"key": frag["key"], "fingerprint": info.fingerprint, "rows": info.rows,
                                 "size": info.size})
                return {"fragments": good, "quarantined": bad}

            schemas = await extract_schema()

            current = "group-by-schema"

            @step.do("group-by-schema", config=STEP_CONFIG)
            async def group_by_schema() -> dict[str, Any]:
                groups = compaction().group_by_schema(schemas["fragments"])
                existing = {o["fingerprint"]: o for o in listed["outputs"]}
                next_part = max((o["part"] for o in listed["outputs"]), default=-1) + 1
                planned = []
                for fingerprint, keys in groups.items():
                    previous = existing.get(fingerprint)
                    if previous is not None:
                        part = previous["part"]
                    else:
                        part, next_part = next_part, next_part + 1
                    planned.append({"part": part, "fingerprint": fingerprint, "fragments": keys,
                                    "previous": previous["key"] if previous else None})
                return {"groups": planned}

            grouped = await group_by_schema()

            merges: list[dict[str, Any]] = []
            for group in grouped["groups"]:
                current = "stream-merge"
                merges.append(await step.do("stream-merge", config=STEP_CONFIG)(
                    self._merge_step(group, dataset_id, table, period_tag, run_id, pause))())

            current = "update-metadata"

            @step.do("update-metadata", config=STEP_CONFIG)
            async def update_metadata() -> dict[str, Any]:
                await pause()
                merged = [k for m in merges for k in m["merged"] if not k.startswith("compacted/")]
                outputs = [{"part": m["part"], "key": m["key"], "fingerprint": m["fingerprint"],
                            "size": m["bytesOut"], "rows": m["rowsOut"]} for m in merges]
                follow_up = await idx.finalize(db, dataset_id=dataset_id, table=table, period_tag=period_tag,
                                               run_id=run_id, merged_keys=merged, outputs=outputs,
                                               now_ms=_now_ms())
                queued = False
                if follow_up:
                    # Fragments arrived while this run held the lease: one follow-up run covers them.
                    try:
                        await env.COMPACTION_QUEUE.send({
                            "datasetId": dataset_id, "table": table, "periodTag": period_tag,
                            "priority": "scheduled", "userId": validated["owner"],
                            "triggeredAt": idx.iso_now(), "metricId": f"followup-{run_id}"})
                        queued = True
                    except Exception as exc:  # noqa: BLE001 - the cron re-drive still sees `needed = 1`
                        print(f"[Workflow] follow-up enqueue failed for {dataset_id}/{table}/{period_tag}: {exc}")
                return {"merged": len(merged), "outputs": [o["key"] for o in outputs], "followUp": follow_up,
                        "followUpQueued": queued}

            finalized = await update_metadata()

            current = "record-metrics"

            @step.do("record-metrics", config=STEP_CONFIG)
            async def record_metrics() -> dict[str, Any]:
                rows_in = sum(m["rowsIn"] for m in merges)
                rows_out = sum(m["rowsOut"] for m in merges)
                bytes_in = sum(m["bytesIn"] for m in merges)
                bytes_out = sum(m["bytesOut"] for m in merges)
                quarantined = len(schemas["quarantined"]) + sum(len(m["quarantined"]) for m in merges)
                summary = {
                    **base_run("success" if merges else "nothing-to-do"),
                    "rows_in": rows_in, "rows_out": rows_out,
                    "duplicates_dropped": sum(m["duplicatesDropped"] for m in merges),
                    "bytes_in": bytes_in, "bytes_out": bytes_out,
                    "compression_ratio": (bytes_out / bytes_in) if bytes_in else 1.0,
                    "fragments_merged": finalized["merged"], "fragments_quarantined": quarantined,
                    "outputs": len(merges), "workflow_total_duration_ms": _now_ms() - started_ms,
                    "finished_at": idx.iso_now(),
                }
                await idx.record_run(db, summary, replace=bool(merges))
                return {"status": summary["status"], "rowsIn": rows_in, "rowsOut": rows_out,
                        "duplicatesDropped": summary["duplicates_dropped"], "bytesIn": bytes_in,
                        "bytesOut": bytes_out, "outputs": finalized["outputs"],
                        "fragmentsMerged": finalized["merged"], "fragmentsQuarantined": quarantined,
                        "followUp": finalized["followUp"]}

            return await record_metrics()
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            print(f"[Workflow] Failed for {dataset_id} at {current}: {message}")

            @step.do("record-failure", config=STEP_CONFIG)
            async def record_failure() -> dict[str, Any]:
                await idx.record_run(db, {**base_run("failure"), "error_step": current, "error_message": message,
                                          "finished_at": idx.iso_now(),
                                          "workflow_total_duration_ms": _now_ms() - started_ms})
                if dataset_id and table and period_tag:
                    await idx.release_after_failure(db, dataset_id, table, period_tag, run_id, _now_ms())
                return {"errorStep": current}

            try:
                await record_failure()
            except Exception as record_exc:  # noqa: BLE001 - the original error is re-raised below
                print(f"[Workflow] could not record the failure: {record_exc}")
            raise

    def _merge_step(self, group: dict[str, Any], dataset_id: str, table: str, period_tag: str,
                    run_id: str, pause: Any) -> Any:
        db, bucket = self.env.BATTLE_INDEX_DB, self.env.BATTLE_DATA_BUCKET

        async def stream_merge() -> dict[str, Any]:
            await pause()
            final_key = f"compacted/{dataset_id}/{table}/{period_tag}/part-{group['part']}.parquet"
            inputs = ([group["previous"]] if group["previous"] else []) + list(group["fragments"])
            skip = await idx.quarantined_keys(db, list(group["fragments"]))
            quarantined: dict[str, str] = {}
            # Each pass either finishes or quarantines one more fragment, so this terminates.
            for _ in range(len(inputs) + 1):
                if not [k for k in inputs if k not in skip]:
                    raise NonRetryableError("every fragment of the group is unreadable")
                try:
                    result = await compaction().stream_merge(
                        bucket, inputs, final_key, skip=skip,
                        custom_metadata={"dataset_id": dataset_id, "table": table, "period_tag": period_tag,
                                         "schema_fingerprint": group["fingerprint"], "run_id": run_id})
                    break
                except compaction().FragmentError as exc:
                    if exc.key == group["previous"] or exc.key not in group["fragments"]:
                        raise
                    await idx.quarantine(db, exc.key, exc.reason)
                    quarantined[exc.key] = exc.reason
                    skip.add(exc.key)
            else:
                raise NonRetryableError("merge did not converge")
            out: dict[str, Any] = result.as_dict()
            out.update({"part": group["part"], "fingerprint": group["fingerprint"], "quarantined": quarantined})
            if group["previous"]:
                out["merged"] = [k for k in out["merged"] if k != group["previous"]]
            return out

        return stream_merge
