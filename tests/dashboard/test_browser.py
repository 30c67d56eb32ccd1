"""The dashboard in a real headless Chromium (Debian's ``chromium`` + ``chromium-driver``).

The orders app (``tests/pytest_plugin/app``) runs in-process under the ``cf_emulator``
fixture; the test makes queue messages, a dead letter and a sleeping workflow with fake
time, then checks what the page shows and redrives the dead letter from the page.
Screenshots land in ``test-artifacts/`` (git-ignored).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from emulator.pytest_plugin import EmulatorHandle
from tests.helpers.webdriver import ChromeDriver, rows_js

APP = Path(__file__).parent.parent / "pytest_plugin" / "app" / "wrangler.toml"
XSS = "<img src=x onerror=\"document.title='pwned'\">"


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    return Path(request.config.rootpath) / "test-artifacts"


async def prepare(emu: EmulatorHandle) -> None:
    jobs = emu.queue("jobs")
    # One order goes through (workflow started, then asleep for an hour), one's workflow
    # errors, one fails twice and is dead-lettered.
    await jobs.sendBatch([{"body": {"id": "bad", "fail": True}},
                          {"body": {"id": "g1", "item": "tea", "qty": 2}},
                          {"body": {"id": "g2", "item": "ink", "qty": 1, "out_of_stock": True}}])
    await emu.advance(2)
    await emu.advance(10)
    await emu.advance(2)
    # Three orders wait for the batch timeout (no time passes while the browser looks).
    await jobs.send({"id": "m1", "item": "cake", "qty": 1})
    await jobs.send({"id": "m2", "item": XSS, "qty": 1})
    await jobs.send({"id": "m3", "item": "pie", "qty": 5})
    await emu.drain()


async def test_dashboard_in_headless_chromium(cf_emulator: Any, artifacts: Path) -> None:
    emu: EmulatorHandle = await cf_emulator(APP, apply_migrations=True)
    await prepare(emu)
    broker: Any = emu.platform.plugins["queues"].broker  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)
    dead = broker.peek("jobs-dlq")
    assert [m["body"]["id"] for m in dead] == ["bad"]

    driver = await ChromeDriver().start()
    try:
        await driver.get(emu.dashboard_url)

        # --- overview: every app's bindings table ----------------------------------------
        await driver.wait_for("return document.querySelectorAll('#overview-apps table.bindings tbody tr').length",
                              what="bindings table")
        bindings = await driver.execute(
            "return Array.from(document.querySelectorAll('#overview-apps tbody tr'))"
            ".map(r => Array.from(r.querySelectorAll('td')).map(c => c.textContent))")
        assert ["env.JOBS", "jobs", "Queue", "emulated"] in bindings

        # --- queues: depth and the messages the test sent -----------------------------
        await driver.click('#tabs button[data-tab="queues"]')
        queues = await driver.wait_for(
            rows_js("queue-table") + "", what="queue rows")
        await driver.wait_for("return document.querySelector('#queue-table tr[data-queue=\"jobs\"] .depth')"
                              "?.textContent === '3'", what="jobs depth 3")
        queues = await driver.execute(rows_js("queue-table"))
        by_name = {row[0].split("dead-letter")[0]: row for row in queues}
        assert by_name["jobs"][1:5] == ["3", "0", "0", "1"]  # depth, in flight, delayed, dead letters
        assert by_name["jobs-dlq"][0] == "jobs-dlqdead-letter queue of jobs"
        await driver.wait_for("return document.querySelector('#queue-detail').dataset.queue === 'jobs' && "
                              "document.querySelectorAll('#message-table tbody tr[data-id]').length === 3",
                              what="jobs messages")
        messages = await driver.execute(rows_js("message-table"))
        bodies = [m[4] for m in messages]
        assert [m[1] for m in messages] == ["1", "1", "1"]  # attempts
        assert any('"m1"' in b for b in bodies) and any('"m3"' in b for b in bodies)
        # User data is text, never markup.
        assert any(XSS.replace('"', '\\"') in b for b in bodies)
        assert await driver.execute("return document.querySelectorAll('#message-table img').length") == 0
        assert await driver.execute("return document.title") == "cf-emulator dashboard"
        await driver.screenshot(artifacts / "dashboard.png")

        # --- workflows: the instance and its steps --------------------------------------
        await driver.click('#tabs button[data-tab="workflows"]')
        await driver.wait_for("return document.querySelector('#instance-table tr[data-instance=\"order-g1\"]')",
                              what="instance rows")
        await driver.click('#instance-table tr[data-instance="order-g1"]')
        await driver.wait_for("return document.querySelector('#instance-detail')?.dataset.instance === 'order-g1' && "
                              "document.querySelectorAll('#step-table tbody tr[data-step]').length === 2",
                              what="workflow steps")
        instances = {row[1]: row for row in await driver.execute(rows_js("instance-table"))}
        assert instances["order-g1"][:3] == ["fulfil-order", "order-g1", "waiting"]
        assert instances["order-g2"][2] == "errored"
        assert instances["order-g2"][5].startswith("WorkflowFatalError: ")  # as production words it
        steps = await driver.execute(rows_js("step-table"))
        assert steps[0][:4] == ["reserve stock", "do", "complete", "1"]
        assert steps[0][5] == '{"reserved":2}'
        assert steps[1][:3] == ["wait for courier", "sleep", "sleeping"]
        await driver.screenshot(artifacts / "dashboard-workflows.png")
        await driver.click('#instance-table tr[data-instance="order-g2"]')
        await driver.wait_for("return document.querySelector('#instance-detail')?.dataset.instance === 'order-g2' && "
                              "document.querySelectorAll('#step-table tbody tr[data-step]').length === 1",
                              what="errored workflow's step")
        failed_step = (await driver.execute(rows_js("step-table")))[0]
        assert failed_step[:4] == ["reserve stock", "do", "errored", "1"]
        assert failed_step[5] == "NonRetryableError: ink is out of stock"

        # --- redrive the dead letter from the page --------------------------------------
        await driver.click('#tabs button[data-tab="queues"]')
        await driver.click('#queue-table tr[data-queue="jobs-dlq"]')
        await driver.wait_for("return document.querySelector('#queue-detail').dataset.queue === 'jobs-dlq' && "
                              "document.querySelector('#message-table button.redrive')", what="redrive button")
        dlq_rows = await driver.execute(rows_js("message-table"))
        assert dlq_rows[0][:2] == [dead[0]["id"], str(dead[0]["attempts"])]
        await driver.click("#message-table button.redrive")
        await driver.wait_for("return document.querySelector('#notice').textContent.includes('redriven')",
                              what="redrive notice")
        assert await driver.text("#notice") == f"Message {dead[0]['id']} redriven from jobs-dlq to jobs."
        await driver.wait_for("return document.querySelector('#queue-table tr[data-queue=\"jobs\"] .depth')"
                              "?.textContent === '4'", what="jobs depth 4")
        assert broker.peek("jobs-dlq") == []
        back = [m for m in broker.peek("jobs") if m["id"] == dead[0]["id"]]
        assert len(back) == 1 and back[0]["attempts"] == 1

        # --- rates: acked/s comes from the totals the page sees grow ------------------------
        await emu.advance(2)  # the batch of 4: three orders acked, the redriven one retried
        rate = await driver.wait_for(
            "const cell = document.querySelector('#queue-table tr[data-queue=\"jobs\"] td:nth-child(6)');"
            "return cell && parseFloat(cell.textContent) > 0 ? cell.textContent : null;", what="acked/s")
        assert float(rate) > 0

        # --- purge, after the page's confirmation -----------------------------------------
        await driver.click('#queue-table tr[data-queue="jobs"] button.purge')
        await driver.accept_alert()
        await driver.wait_for("return document.querySelector('#notice').textContent === "
                              "'Purged 1 message(s) from jobs.'", what="purge notice")
        assert broker.peek("jobs") == []

        # --- live log tail ---------------------------------------------------------------
        await driver.click('#tabs button[data-tab="logs"]')
        emu.platform.log.info("probe", "live <b>line</b> from the test")
        await driver.wait_for("return Array.from(document.querySelectorAll('#log-lines .message'))"
                              ".some(e => e.textContent === 'live <b>line</b> from the test')", what="live log line")
        lines = await driver.execute("return Array.from(document.querySelectorAll('#log-lines .message'))"
                                     ".map(e => e.textContent)")
        assert any(line.startswith("QUEUE jobs 2/3") for line in lines)
        assert await driver.execute("return document.querySelectorAll('#log-lines b').length") == 0
        await driver.screenshot(artifacts / "dashboard-logs.png")

        # --- D1: tables, a query, a refused write ------------------------------------------
        await driver.click('#tabs button[data-tab="d1"]')
        await driver.wait_for("return document.querySelectorAll('#d1-tables li strong').length", what="D1 tables")
        tables = await driver.execute("return Array.from(document.querySelectorAll('#d1-tables li strong'))"
                                      ".map(e => e.textContent)")
        assert tables == ["d1_migrations", "orders"]
        await driver.type("#d1-sql", "SELECT id, item, qty FROM orders ORDER BY id")
        await driver.click("#d1-run")
        await driver.wait_for("return document.querySelector('#d1-info').textContent === '5 row(s)'", what="query")
        assert await driver.execute(rows_js("d1-result")) == [
            ["g1", "tea", "2"], ["g2", "ink", "1"], ["m1", "cake", "1"], ["m2", XSS, "1"], ["m3", "pie", "5"]]
        assert await driver.execute("return document.querySelectorAll('#d1-result img').length") == 0
        await driver.screenshot(artifacts / "dashboard-d1.png")
        await driver.type("#d1-sql", "DELETE FROM orders")
        await driver.click("#d1-run")
        await driver.wait_for("return document.querySelector('#d1-info').className === 'error-text'", what="refusal")
        assert "read-only" in await driver.text("#d1-info")
        row = await emu.d1("orders-db").prepare("SELECT count(*) AS n FROM orders").first()
        assert row["n"] == 5

        # --- KV: keys by prefix, one key's value and metadata ----------------------------------
        await driver.click('#tabs button[data-tab="kv"]')
        await driver.wait_for("return document.querySelectorAll('#kv-table tbody tr[data-key]').length === 5",
                              what="KV keys")
        kv_keys = [row[0] for row in await driver.execute(rows_js("kv-table"))]
        assert kv_keys == sorted(f"by-item/{item}" for item in ("tea", "ink", "cake", XSS, "pie"))
        await driver.type("#kv-prefix", "by-item/p")
        await driver.click("#kv-go")
        await driver.wait_for("return document.querySelectorAll('#kv-table tbody tr[data-key]').length === 1",
                              what="KV prefix search")
        await driver.click('#kv-table tr[data-key="by-item/pie"]')
        await driver.wait_for("return document.querySelector('#kv-detail')?.dataset.key === 'by-item/pie'",
                              what="KV entry")
        assert await driver.text("#kv-value") == "m3"
        assert '"qty": 5' in await driver.text("#kv-summary")
        assert await driver.execute("return document.querySelectorAll('#kv-table img').length") == 0

        # --- R2: browse by prefix, download ---------------------------------------------------
        await driver.click('#tabs button[data-tab="r2"]')
        await driver.wait_for("return document.querySelector('#r2-table a.folder')?.textContent === 'receipts/'",
                              what="R2 prefixes")
        await driver.click("#r2-table a.folder")
        await driver.wait_for("return document.querySelectorAll('#r2-table a[download]').length === 5",
                              what="R2 objects")
        keys = await driver.execute("return Array.from(document.querySelectorAll('#r2-table td.mono:first-child'))"
                                    ".map(e => e.textContent)")
        assert keys == [f"receipts/{k}.json" for k in ("g1", "g2", "m1", "m2", "m3")]
        href = await driver.execute("return document.querySelector('#r2-table a[download]').href")
        async with aiohttp.ClientSession() as session:
            async with session.get(href) as resp:
                assert resp.status == 200
                assert await resp.json(content_type=None) == {"id": "g1", "item": "tea", "qty": 2}
        await driver.screenshot(artifacts / "dashboard-r2.png")
    finally:
        await driver.close()
