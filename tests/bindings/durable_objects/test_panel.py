"""The dashboard's Durable Objects tab (panel.js) in a real headless Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.helpers.webdriver import ChromeDriver, rows_js
from tests.helpers.durable_objects import INSPECTED_APP, write_app

XSS = "<img src=x onerror=\"document.title='pwned'\">"


async def test_objects_keys_tables_and_a_query(cf_emulator: Any, tmp_path: Path) -> None:
    emu = await cf_emulator(write_app(tmp_path, INSPECTED_APP, '[[durable_objects.bindings]]\nname = "ROOMS"\n'
                                                                 'class_name = "Room"\n'))
    rooms = emu.durable_object("ROOMS")
    assert await rooms.get_by_name("lobby").setup() == "ok"
    await rooms.storage("lobby").put(XSS, XSS)
    await emu.drain()
    driver = await ChromeDriver().start()
    try:
        await driver.get(emu.dashboard_url)
        await driver.wait_for("return document.querySelector('#tabs button[data-tab=\"durable_objects\"]')",
                              what="Durable Objects tab")
        await driver.click('#tabs button[data-tab="durable_objects"]')
        await driver.wait_for("return document.querySelectorAll('#do-objects tbody tr[data-id]').length === 1",
                              what="objects")
        row = (await driver.execute(rows_js("do-objects")))[0]
        assert row[0] == "lobby" and row[2] == "active" and row[3].startswith("2100-01-01")
        await driver.click("#do-objects tbody tr[data-id]")
        await driver.wait_for("return document.querySelectorAll('#do-keys tbody tr[data-key]').length === 3",
                              what="keys")
        keys = [r[0] for r in await driver.execute(rows_js("do-keys"))]
        assert keys == sorted([XSS, "blob", "title"])
        assert await driver.execute("return document.querySelectorAll('#do-detail img').length") == 0
        assert "messages" in await driver.text("#do-tables")
        await driver.type("#do-sql", "SELECT text FROM messages ORDER BY id")
        await driver.click("#do-run")
        await driver.wait_for("return document.querySelector('#do-sql-info').textContent.startsWith('2 row')",
                              what="query result")
        assert await driver.execute(rows_js("do-result")) == [["hi"], ["there"]]
        assert await driver.execute("return document.title") == "cf-emulator dashboard"
    finally:
        await driver.close()
