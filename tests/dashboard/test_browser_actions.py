"""The dashboard's actions in a real headless Chromium: bulk redrive and purge behind their
confirmations, the send-message form, the rate charts, and workflow instance control
(pause, resume, terminate, restart, send an event).

The desk app (``tests/dashboard/actions_app``) runs in-process under the ``cf_emulator``
fixture with a fake clock and a 30 s batch timeout: nothing is delivered unless the test
moves time, so what the page shows stays put while the browser looks. Everything the page does goes through the internal
API's protected writes (``tests/e2e/test_cross_origin.py`` covers the routes themselves).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from emulator.pytest_plugin import EmulatorHandle
from tests.helpers.webdriver import ChromeDriver, rows_js

APP = Path(__file__).parent / "actions_app" / "wrangler.toml"


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    return Path(request.config.rootpath) / "test-artifacts"


def notice_is(text: str) -> str:
    return f"return document.querySelector('#notice').textContent === {text!r}"


def cell(queue: str, column: int) -> str:
    return f"document.querySelector('#queue-table tr[data-queue=\"{queue}\"] td:nth-child({column})')"


async def queue_actions(emu: EmulatorHandle, driver: ChromeDriver, artifacts: Path) -> None:
    broker: Any = emu.platform.plugins["queues"].broker  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)
    parked = broker.peek("tasks-dlq", limit=100)
    await driver.get(emu.dashboard_url + "#queues")

    # --- redrive a whole dead-letter queue: one button, the count in the confirmation ---------
    await driver.wait_for(f"return {cell('tasks-dlq', 1)}", what="queue rows")
    await driver.click('#queue-table tr[data-queue="tasks-dlq"]')
    await driver.wait_for("return !document.querySelector('#queue-dlq-tools').hidden && "
                          "document.querySelector('#queue-redrive-all').textContent === 'Redrive all (30)'",
                          what="redrive-all button")
    assert await driver.execute("return getComputedStyle(document.querySelector('#queue-dlq-tools')).display") != "none"
    await driver.screenshot(artifacts / "dashboard-dlq.png")
    await driver.click("#queue-redrive-all")
    assert await driver.alert_text() == ("Move all 30 message(s) of tasks-dlq back to tasks? "
                                         "Their attempts start again at 1.")
    await driver.dismiss_alert()
    assert len(broker.peek("tasks-dlq", limit=100)) == 30  # cancelled: nothing moved
    await driver.click("#queue-redrive-all")
    await driver.accept_alert()
    await driver.wait_for(notice_is("Redrove 30 message(s) from tasks-dlq to tasks."), what="redrive notice")
    back = broker.peek("tasks", limit=100)
    assert [m["id"] for m in back] == [m["id"] for m in parked]  # same messages, same order
    assert {m["attempts"] for m in back} == {1} and broker.peek("tasks-dlq") == []
    await driver.wait_for("return document.querySelector('#queue-redrive-all').disabled", what="nothing left")

    # --- purge, with the count in the confirmation ---------------------------------------------
    await driver.wait_for(f"return {cell('tasks', 2)}?.textContent === '30'", what="tasks depth 30")
    await driver.click('#queue-table tr[data-queue="tasks"] button.purge')
    assert await driver.alert_text() == "Delete all 30 message(s) of tasks? This cannot be undone."
    await driver.dismiss_alert()
    assert len(broker.peek("tasks", limit=100)) == 30
    await driver.click('#queue-table tr[data-queue="tasks"] button.purge')
    await driver.accept_alert()
    await driver.wait_for(notice_is("Purged 30 message(s) from tasks."), what="purge notice")
    assert broker.peek("tasks") == []

    # --- the send-message form -------------------------------------------------------------------
    await driver.click('#queue-table tr[data-queue="tasks"]')
    await driver.wait_for("return document.querySelector('#queue-detail').dataset.queue === 'tasks'", what="tasks")
    # The dead-letter tools belong to dead-letter queues only.
    assert await driver.execute("return getComputedStyle(document.querySelector('#queue-dlq-tools')).display") == "none"
    await driver.type("#queue-send-body", '{task: "not JSON"}')
    await driver.click("#queue-send")
    await driver.wait_for("return document.querySelector('#notice').textContent.startsWith("
                          "'The body is not valid JSON')", what="JSON refusal")
    assert broker.peek("tasks") == []
    await driver.type("#queue-send-body", '{"task": "from the page", "n": 1.5}')
    await driver.type("#queue-send-delay", "30")
    await driver.click("#queue-send")
    await driver.wait_for("return document.querySelector('#notice').textContent.startsWith('Sent message ')",
                          what="send notice")
    [sent] = broker.peek("tasks")
    assert await driver.text("#notice") == f"Sent message {sent['id']} to tasks, delayed 30 s."
    assert (sent["body"], sent["content_type"], sent["state"]) == ({"task": "from the page", "n": 1.5}, "json",
                                                                   "delayed")
    assert sent["visible_at"] - emu.platform.clock.now() == 30
    await driver.execute("document.querySelector('#queue-send-type').value = 'text'")
    await driver.type("#queue-send-body", "plain words")
    await driver.type("#queue-send-delay", "50000")  # beyond production's 12 hours
    await driver.click("#queue-send")
    await driver.wait_for(notice_is("400: Queue send failed: message delay 50000 is invalid: "
                                    "Too big: expected number to be <=43200"), what="delay refusal")
    await driver.execute("document.querySelector('#queue-send-delay').value = ''")
    await driver.click("#queue-send")
    await driver.wait_for("return document.querySelectorAll('#message-table tbody tr[data-id]').length === 2",
                          what="two messages")
    assert [(m["body"], m["content_type"]) for m in broker.peek("tasks")] == [
        ("plain words", "text"), ({"task": "from the page", "n": 1.5}, "json")]

    # --- rate charts: acked/s and retried/s drawn from the totals the page polls ------------------
    await driver.wait_for(f"return {cell('tasks', 8)}?.querySelector('svg.spark line.spark-base')", what="chart")
    await emu.queue("tasks").sendBatch([{"body": {"task": i}} for i in range(20)] +
                                       [{"body": {"task": "flaky", "fail": True}}])
    before = broker.stats("tasks")
    await emu.advance(30)  # the batch timeout: the 20 tasks and the page's two messages acked, 1 retried
    after = broker.stats("tasks")
    assert (after["acked"] - before["acked"], after["retried"] - before["retried"]) == (22, 1)
    peaks = await driver.wait_for(
        f"const chart = {cell('tasks', 8)}?.querySelector('svg.spark');"
        "return chart && chart.dataset.peakAcked > 0 && chart.dataset.peakRetried > 0 && "
        "chart.querySelector('path.spark-acked') && chart.querySelector('path.spark-retried') "
        "? [chart.dataset.peakAcked, chart.dataset.peakRetried] : null;", what="rates in the chart")
    assert float(peaks[0]) > float(peaks[1]) > 0  # 22 acks against 1 retry
    # Drawn to one scale: the acked line reaches the top (y = 1), the retried line stays lower.
    tops = await driver.execute(
        f"const chart = {cell('tasks', 8)}.querySelector('svg.spark');"
        "const top = (cls) => Math.min(...Array.from(chart.querySelector('path.' + cls).getAttribute('d')"
        ".matchAll(/,([0-9.]+)/g), (m) => parseFloat(m[1])));"
        "return [top('spark-acked'), top('spark-retried')];")
    assert tops[0] == 1 and 1 < tops[1] < 23
    await driver.screenshot(artifacts / "dashboard-queue-actions.png")


async def workflow_actions(emu: EmulatorHandle, driver: ChromeDriver, artifacts: Path) -> None:
    approval = emu.workflow("approval")
    await driver.click('#tabs button[data-tab="workflows"]')

    def status_is(instance: str, status: str) -> str:
        return (f"return document.querySelector('#instance-table tr[data-instance=\"{instance}\"] "
                f"td:nth-child(3)')?.textContent === {status!r}")

    async def select(instance: str) -> None:
        await driver.click(f'#instance-table tr[data-instance="{instance}"]')
        await driver.wait_for(f"return document.querySelector('#instance-detail').dataset.instance === {instance!r}",
                              what=f"{instance} selected")

    async def enabled() -> dict[str, bool]:
        found = await driver.execute(
            "return Object.fromEntries(Array.from(document.querySelectorAll('#instance-actions button'))"
            ".map(b => [b.dataset.action, !b.disabled]).concat("
            "[['event', !document.querySelector('#wf-event-send').disabled]]))")
        return dict(found)

    # --- send an event: the waiting instance goes on and completes ----------------------------------
    await driver.wait_for(status_is("doc-1", "waiting"), what="doc-1 waiting")
    await select("doc-1")
    await driver.wait_for("return document.querySelector('#instance-detail').dataset.status === 'waiting'",
                          what="doc-1 detail")
    assert await enabled() == {"pause": True, "resume": False, "terminate": True, "restart": True, "event": True}
    await driver.type("#wf-event-type", "approved")
    await driver.type("#wf-event-payload", "{by: ann}")
    await driver.click("#wf-event-send")
    await driver.wait_for("return document.querySelector('#notice').textContent.startsWith("
                          "'The payload is not valid JSON')", what="payload refusal")
    await driver.type("#wf-event-payload", '{"by": "ann"}')
    await driver.click("#wf-event-send")
    await driver.wait_for("return document.querySelector('#notice').textContent.startsWith("
                          "'Sent event \"approved\" to approval/doc-1')", what="event notice")
    await driver.wait_for(status_is("doc-1", "complete"), what="doc-1 complete")
    status = await (await approval.get("doc-1")).status()
    assert status["status"] == "complete" and status["output"] == {"published": "spec", "by": "ann"}
    await driver.wait_for("return document.querySelector('#instance-detail').dataset.status === 'complete'",
                          what="doc-1 detail complete")
    assert await enabled() == {"pause": False, "resume": False, "terminate": False, "restart": True,
                               "event": False}

    # --- pause, resume, terminate (confirmed), restart (confirmed) ---------------------------------
    await select("doc-2")
    await driver.click('#instance-actions button[data-action="pause"]')
    await driver.wait_for(notice_is("Paused approval/doc-2: now paused."), what="pause notice")
    await driver.wait_for(status_is("doc-2", "paused"), what="doc-2 paused")
    await driver.wait_for("return document.querySelector('#instance-detail').dataset.status === 'paused'",
                          what="doc-2 detail paused")
    assert (await enabled())["resume"] and not (await enabled())["pause"]
    await driver.click('#instance-actions button[data-action="resume"]')
    await driver.wait_for("return document.querySelector('#notice').textContent.startsWith("
                          "'Resumed approval/doc-2: now ')", what="resume notice")
    await driver.wait_for(status_is("doc-2", "waiting"), what="doc-2 waiting again")
    await driver.wait_for("return !document.querySelector('#instance-actions button[data-action=\"terminate\"]')"
                          ".disabled", what="terminate enabled")
    await driver.click('#instance-actions button[data-action="terminate"]')
    assert await driver.alert_text() == "Terminate approval/doc-2? It stops for good."
    await driver.dismiss_alert()
    assert (await (await approval.get("doc-2")).status())["status"] == "waiting"
    await driver.click('#instance-actions button[data-action="terminate"]')
    await driver.accept_alert()
    await driver.wait_for(notice_is("Terminated approval/doc-2: now terminated."), what="terminate notice")
    await driver.wait_for(status_is("doc-2", "terminated"), what="doc-2 terminated")
    await driver.click('#instance-actions button[data-action="restart"]')
    assert await driver.alert_text() == ("Restart approval/doc-2 from the beginning? "
                                         "Its step results are discarded.")
    await driver.accept_alert()
    await driver.wait_for("return document.querySelector('#notice').textContent.startsWith("
                          "'Restarted approval/doc-2: now ')", what="restart notice")
    await driver.wait_for(status_is("doc-2", "waiting"), what="doc-2 running again")
    steps = await driver.wait_for(
        "const rows = Array.from(document.querySelectorAll('#step-table tbody tr[data-step]'));"
        "return rows.length === 2 ? rows.map(r => r.dataset.step) : null;", what="doc-2 steps again")
    assert steps == ["prepare", "wait for approval"]
    await driver.screenshot(artifacts / "dashboard-workflow-actions.png")
    # The other instance's row still reads as it should.
    instances = {row[1]: row[2] for row in await driver.execute(rows_js("instance-table"))}
    assert instances == {"doc-1": "complete", "doc-2": "waiting"}


async def test_dashboard_actions_in_headless_chromium(cf_emulator: Any, artifacts: Path) -> None:
    emu: EmulatorHandle = await cf_emulator(APP)
    # 30 tasks fail twice (max_retries = 1) and end in the dead-letter queue.
    await emu.queue("tasks").sendBatch([{"body": {"task": i, "fail": True}} for i in range(30)])
    await emu.run_until_idle(max_time=120)
    assert emu.stats()["queues"]["tasks-dlq"]["depth"] == 30
    for doc_id, doc in (("doc-1", "spec"), ("doc-2", "plan")):
        await emu.workflow("approval").create(id=doc_id, params={"doc": doc})
    await emu.drain()

    driver = await ChromeDriver().start()
    try:
        await queue_actions(emu, driver, artifacts)
        await workflow_actions(emu, driver, artifacts)
    finally:
        await driver.close()
