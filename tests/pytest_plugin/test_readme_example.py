"""The first example test of docs/testing.md, verbatim but for the path (the page runs it
from the app's folder; here the app is ``app/`` next to this file). README.md's tour runs
this file and shows it abridged."""


async def test_an_order_is_fulfilled(cf_emulator):
    emu = await cf_emulator("app/wrangler.toml", apply_migrations=True)  # app config, workspace or folder

    resp = await emu.fetch("orders", "/orders", method="POST", json={"id": "a1", "item": "tea", "qty": 2})
    assert resp.status == 202
    await emu.queue("jobs").send({"id": "a2", "item": "cake", "qty": 1})   # as a producer would

    await emu.drain()                 # nothing runnable now: the batch waits for its 2 s timeout
    await emu.clock.advance(2)        # fake time: the batch timeout fires at once
    await emu.drain()                 # (emu.advance(2) does both)

    row = await emu.d1("orders-db").prepare("SELECT qty FROM orders WHERE id = ?").bind("a1").first()
    assert row["qty"] == 2
    assert await emu.r2("receipts").get("receipts/a2.json") is not None

    instance = await emu.workflow("fulfil-order").get("order-a1")
    assert (await instance.status())["status"] == "waiting"     # step.sleep("…", "1 hour")
    await emu.advance(3600)
    assert (await instance.status())["status"] == "complete"
    assert "QUEUE jobs 2/2" in " ".join(emu.log_messages(source="queues"))
