"""Compaction end to end: upload → queue (30 s batch) → DataCompactionWorkflow → download."""

from __future__ import annotations

import asyncio
from typing import Any

import pyarrow as pa

from fixtures import fragments as fr
from tests.helpers.demo_apps import BATCH_TIMEOUT, DLQ_BATCH_TIMEOUT, PERIOD, WORKFLOW, Fusou

FAMILY = "battle"


def as_rows(table: pa.Table) -> list[Any]:
    return sorted((tuple(sorted(r.items())) for r in table.to_pylist()), key=repr)


def expected_rows(specs: list[fr.FragmentSpec]) -> list[Any]:
    indexes = sorted({i for s in specs for i in range(s.start, s.start + s.count)})
    variant = specs[0].variant
    return as_rows(pa.concat_tables([fr.rows(specs[0].table, i, 1, variant) for i in indexes]))


async def upload_all(f: Fusou, specs: list[fr.FragmentSpec]) -> None:
    for spec in specs:
        status, body = await f.upload(spec.data(), spec.table)
        assert status == 200 and body["queued"], body


async def test_happy_path_output_has_exactly_the_distinct_rows(fusou: Fusou) -> None:
    specs = [fr.FragmentSpec(f"b{i}", FAMILY, i * 150, 200) for i in range(5)]  # 50-row overlaps
    await upload_all(fusou, specs)
    assert (await fusou.table_status(FAMILY))["pendingFragments"] == 5
    await fusou.clock.advance(BATCH_TIMEOUT - 2)
    await fusou.emu.drain()
    assert (await fusou.table_status(FAMILY))["compacted"] == []  # the batch has not timed out yet
    await fusou.compact()
    table = await fusou.table_status(FAMILY)
    assert table["pendingFragments"] == 0 and table["inProgress"] is False
    assert table["compacted"] == [f"compacted/alice/{FAMILY}/{PERIOD}/part-0.parquet"]
    run = table["lastRun"]
    assert run["status"] == "success"
    assert (run["rowsIn"], run["rowsOut"], run["duplicatesDropped"]) == (1000, 800, 200)
    assert run["bytesIn"] > 0 and run["bytesOut"] > 0
    downloaded = await fusou.download(FAMILY)
    assert as_rows(downloaded) == expected_rows(specs)
    # Five triggers in one batch: one run compacted, the other four were coalesced into it.
    runs = await fusou.d1("SELECT status FROM compaction_runs ORDER BY id")
    assert sorted(r["status"] for r in runs) == ["coalesced"] * 4 + ["success"]

    # A later upload re-compacts into the same part, still exactly the distinct rows.
    more = [fr.FragmentSpec("b5", FAMILY, 700, 300)]
    await upload_all(fusou, more)
    await fusou.compact()
    table = await fusou.table_status(FAMILY)
    assert table["compacted"] == [f"compacted/alice/{FAMILY}/{PERIOD}/part-0.parquet"]
    assert as_rows(await fusou.download(FAMILY)) == expected_rows(specs + more)
    assert table["lastRun"]["rowsOut"] == 1000
    assert await fusou.list_keys("tmp/") == []


async def test_two_schemas_give_two_outputs(fusou: Fusou) -> None:
    plain = [fr.FragmentSpec("p0", FAMILY, 0, 100), fr.FragmentSpec("p1", FAMILY, 50, 100)]
    variant = [fr.FragmentSpec("v0", FAMILY, 1000, 80, variant=True),
               fr.FragmentSpec("v1", FAMILY, 1040, 80, variant=True)]
    await upload_all(fusou, plain + variant)
    await fusou.compact()
    table = await fusou.table_status(FAMILY)
    assert table["compacted"] == [f"compacted/alice/{FAMILY}/{PERIOD}/part-0.parquet",
                                  f"compacted/alice/{FAMILY}/{PERIOD}/part-1.parquet"]
    async with fusou.session.get(f"{fusou.web}/api/datasets/alice/compacted/{FAMILY}/{PERIOD}") as resp:
        assert resp.status == 200 and resp.headers["x-compacted-parts"] == "0,1"
        assert resp.headers["x-compacted-part"] == "0"
    part0, part1 = await fusou.download(FAMILY, part=0), await fusou.download(FAMILY, part=1)
    assert as_rows(part0) == expected_rows(plain)
    assert as_rows(part1) == expected_rows(variant)
    assert "airbase_id" in part1.schema.names and "airbase_id" not in part0.schema.names

    # Re-running the completed instance converges: same outputs, same figures.
    before = await fusou.table_status(FAMILY)
    (winner,) = [i for i in await fusou.instances()
                 if (await fusou.describe(i["id"]))["output"]["status"] == "success"]
    url = f"{fusou.emu.internal_url}/_emulator/workflows/{WORKFLOW}/instances/{winner['id']}/restart"
    async with fusou.session.post(url, json={}) as resp:  # a JSON write, as the internal API wants
        assert resp.status == 200, await resp.text()
    await fusou.emu.drain()
    assert (await fusou.describe(winner["id"]))["status"] == "complete"
    assert await fusou.table_status(FAMILY) == before
    assert as_rows(await fusou.download(FAMILY, part=1)) == expected_rows(variant)


async def test_empty_and_corrupt_fragments_are_quarantined_not_fatal(fusou: Fusou) -> None:
    good = [fr.FragmentSpec("g0", FAMILY, 0, 100), fr.FragmentSpec("g1", FAMILY, 60, 100)]
    await upload_all(fusou, good)
    assert (await fusou.upload(fr.empty_fragment(FAMILY), FAMILY))[0] == 200
    bucket = fusou.env().BATTLE_DATA_BUCKET
    # Bit rot after upload: one stored fragment truncated, one with garbage data pages
    # behind a valid footer (only the merge's page reads can notice that one).
    status, rotten = await fusou.upload(fr.fragment(FAMILY, 500, 100), FAMILY)
    assert status == 200, rotten
    status, paged = await fusou.upload(fr.fragment(FAMILY, 700, 3000), FAMILY)
    assert status == 200, paged
    original = await (await bucket.get(rotten["key"])).bytes()
    await bucket.put(rotten["key"], fr.truncated(original))
    data = bytearray(await (await bucket.get(paged["key"])).bytes())
    data[200:4000] = b"\xff" * 3800
    await bucket.put(paged["key"], bytes(data))

    await fusou.compact()
    table = await fusou.table_status(FAMILY)
    assert table["lastRun"]["status"] == "success", table
    assert table["quarantinedFragments"] == 3 and table["pendingFragments"] == 0
    assert table["lastRun"]["fragmentsQuarantined"] == 3
    assert as_rows(await fusou.download(FAMILY)) == expected_rows(good)
    reasons = {r["key"]: r["quarantine_reason"] for r in await fusou.d1(
        "SELECT key, quarantine_reason FROM battle_files WHERE quarantined_at IS NOT NULL")}
    assert "empty" in reasons.pop(next(k for k in reasons if k not in (rotten["key"], paged["key"])))
    assert "not Parquet" in reasons[rotten["key"]]
    assert "unreadable" in reasons[paged["key"]]


async def test_invalid_messages_go_to_the_dlq_and_are_recorded(fusou: Fusou) -> None:
    await fusou.upload(fr.fragment(FAMILY, 0, 10), FAMILY)
    await fusou.compact()
    queue = fusou.env().COMPACTION_QUEUE
    await queue.send({"datasetId": "alice", "table": FAMILY, "periodTag": PERIOD, "priority": "urgent"})
    await queue.send({"hello": "world"})
    await fusou.clock.advance(BATCH_TIMEOUT)
    await fusou.emu.drain()
    await fusou.clock.advance(DLQ_BATCH_TIMEOUT)
    await fusou.emu.drain()
    failures = await fusou.d1("SELECT source, dataset_id, reason FROM compaction_failures ORDER BY id")
    assert [f["source"] for f in failures] == ["invalid-message", "invalid-message"]
    assert "priority must be one of" in failures[0]["reason"] and failures[0]["dataset_id"] == "alice"
    assert "datasetId" in failures[1]["reason"] and failures[1]["dataset_id"] is None
    status = await fusou.status()
    assert [f["reason"] for f in status["failures"]] == [failures[0]["reason"]]
    # The invalid message did not start anything.
    runs = await fusou.d1("SELECT status FROM compaction_runs")
    assert [r["status"] for r in runs] == ["success"]


async def test_workflow_refuses_another_users_dataset_and_records_the_failure(fusou: Fusou) -> None:
    await fusou.upload(fr.fragment(FAMILY, 0, 10), FAMILY)
    body = {"datasetId": "alice", "table": FAMILY, "periodTag": PERIOD, "userId": "mallory"}
    async with fusou.session.post(f"{fusou.worker}/run", json=body) as resp:
        assert resp.status == 202
        instance_id = (await resp.json())["instanceId"]
    await fusou.emu.drain()
    async with fusou.session.get(f"{fusou.worker}/status/{instance_id}") as resp:
        status = await resp.json()
    assert status["status"] == "errored"
    table = await fusou.table_status(FAMILY)
    assert table["lastRun"]["status"] == "failure"
    assert table["lastRun"]["errorStep"] == "validate-dataset"
    assert "belongs to different user" in table["lastRun"]["errorMessage"]
    assert table["inProgress"] is False and table["pendingFragments"] == 1


async def test_a_trigger_during_a_run_is_coalesced_and_covered_by_one_follow_up(fusou: Fusou) -> None:
    workflow = fusou.emu.platform.app("fusou-workflow")
    workflow.vars["COMPACTION_STEP_DELAY_MS"] = "250"
    fusou.emu.hosts["fusou-workflow"].reload()  # type: ignore[attr-defined]  # a runtime host (BaseHost)
    first = fr.FragmentSpec("a", FAMILY, 0, 100)
    second = fr.FragmentSpec("b", FAMILY, 80, 100)
    await upload_all(fusou, [first])
    await fusou.clock.advance(BATCH_TIMEOUT)  # run 1 starts; each of its steps takes 250 ms
    (instance,) = await fusou.instances()
    for _ in range(100):  # real time: the delay knob sleeps for real
        steps = {s["name"]: s["status"] for s in (await fusou.describe(instance["id"]))["steps"]}
        if steps.get("list-fragments") == "complete":
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"run 1 did not list its fragments: {steps}")
    await upload_all(fusou, [second])  # after run 1's listing: it cannot include this one
    await fusou.clock.advance(BATCH_TIMEOUT)  # run 2 starts while run 1 holds the lease
    await fusou.emu.drain()
    runs = await fusou.d1("SELECT status FROM compaction_runs ORDER BY id")
    assert sorted(r["status"] for r in runs) == ["coalesced", "success"]
    assert (await fusou.table_status(FAMILY))["pendingFragments"] == 1
    # Run 1 saw the new fragment when it released the lease and enqueued one follow-up.
    await fusou.compact(rounds=1)
    statuses = [r["status"] for r in await fusou.d1("SELECT status FROM compaction_runs ORDER BY id")]
    assert sorted(statuses) == ["coalesced", "success", "success"]
    table = await fusou.table_status(FAMILY)
    assert table["pendingFragments"] == 0 and table["inProgress"] is False
    assert as_rows(await fusou.download(FAMILY)) == expected_rows([first, second])


async def test_a_workflow_that_cannot_start_is_retried_then_dead_lettered_and_nothing_is_lost(
        fusou: Fusou, monkeypatch: Any) -> None:
    from emulator.bindings.workflows import binding as workflow_binding

    real_create = workflow_binding.Workflow.create

    async def refusing_create(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("workflows unavailable (injected by the test)")

    monkeypatch.setattr(workflow_binding.Workflow, "create", refusing_create)
    await upload_all(fusou, [fr.FragmentSpec("x", FAMILY, 0, 40)])
    for attempt in range(4):  # max_retries = 3: four deliveries, then the DLQ
        assert await fusou.d1("SELECT id FROM compaction_failures") == [], attempt
        await fusou.clock.advance(BATCH_TIMEOUT)
        await fusou.emu.drain()
    async with fusou.session.get(f"{fusou.emu.internal_url}/_emulator/queues/dev-kc-compaction-queue") as resp:
        stats = await resp.json()
    assert (stats["retried"], stats["dlq"], stats["acked"]) == (3, 1, 0), stats
    await fusou.clock.advance(DLQ_BATCH_TIMEOUT)
    await fusou.emu.drain()
    failures = await fusou.d1("SELECT source, dataset_id, \"table\", attempts FROM compaction_failures")
    assert failures == [{"source": "retries-exhausted", "dataset_id": "alice", "table": FAMILY, "attempts": None}]
    assert (await fusou.status())["failures"][0]["source"] == "retries-exhausted"
    assert (await fusou.table_status(FAMILY))["pendingFragments"] == 1

    # The pending mark survived in D1: once workflows work again, a trigger compacts it.
    monkeypatch.setattr(workflow_binding.Workflow, "create", real_create)
    assert (await fusou.trigger({"datasetId": "alice", "table": FAMILY, "periodTag": PERIOD}))[0] == 200
    await fusou.compact()
    table = await fusou.table_status(FAMILY)
    assert table["pendingFragments"] == 0 and table["lastRun"]["rowsOut"] == 40


async def test_a_backlog_larger_than_one_run_is_finished_by_follow_up_runs(fusou: Fusou) -> None:
    workflow = fusou.emu.platform.app("fusou-workflow")
    workflow.vars["COMPACTION_MAX_FRAGMENTS"] = "2"
    fusou.emu.hosts["fusou-workflow"].reload()  # type: ignore[attr-defined]  # a runtime host (BaseHost)
    specs = [fr.FragmentSpec(f"k{i}", FAMILY, i * 30, 40) for i in range(5)]
    await upload_all(fusou, specs)
    await fusou.compact(rounds=4)
    table = await fusou.table_status(FAMILY)
    assert table["pendingFragments"] == 0
    runs = [r["status"] for r in await fusou.d1("SELECT status FROM compaction_runs ORDER BY id")]
    assert runs.count("success") == 3  # 2 + 2 + 1 fragments
    assert as_rows(await fusou.download(FAMILY)) == expected_rows(specs)
    assert table["compacted"] == [f"compacted/alice/{FAMILY}/{PERIOD}/part-0.parquet"]


async def run_until_idle(f: Fusou, seconds: float, step: float = 10.0) -> None:
    """Advance the fake clock in steps (batch timeouts, step retry backoff), draining each time."""
    elapsed = 0.0
    while elapsed < seconds:
        await f.clock.advance(step)
        await f.emu.drain()
        elapsed += step


async def test_a_persistently_failing_key_fails_cleanly_and_the_cron_gives_up_after_3_runs(fusou: Fusou) -> None:
    await upload_all(fusou, [fr.FragmentSpec("f0", FAMILY, 0, 50)])
    await fusou.compact()
    bucket = fusou.env().BATTLE_DATA_BUCKET
    part = (await fusou.table_status(FAMILY))["compacted"][0]
    await bucket.put(part, b"PAR1 not really")  # the previous output rots
    await upload_all(fusou, [fr.FragmentSpec("f1", FAMILY, 50, 50)])
    await run_until_idle(fusou, 60)  # batch timeout, then 4 attempts with 2 s, 4 s, 8 s backoff
    table = await fusou.table_status(FAMILY)
    assert table["lastRun"]["status"] == "failure" and table["lastRun"]["errorStep"] == "stream-merge"
    assert table["inProgress"] is False and table["pendingFragments"] == 1
    failures = await fusou.d1("SELECT failures FROM pending_compactions")
    assert failures == [{"failures": 1}]
    # The cron re-drives it twice more (every 5 minutes), then leaves it alone.
    for expected in (2, 3, 3):
        await run_until_idle(fusou, 300)
        assert await fusou.d1("SELECT failures FROM pending_compactions") == [{"failures": expected}]
    runs = [r["status"] for r in await fusou.d1("SELECT status FROM compaction_runs ORDER BY id")]
    assert runs == ["success", "failure", "failure", "failure"]
