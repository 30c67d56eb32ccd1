"""The internal API (routes.py) on a running emulator: namespaces, objects, storage, SQL, evict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.helpers.durable_objects import INSPECTED_APP as SOURCE
from tests.helpers.durable_objects import write_app



async def test_inspection_routes(cf_emulator: Any, tmp_path: Path) -> None:
    emu = await cf_emulator(write_app(tmp_path, SOURCE, '[[durable_objects.bindings]]\nname = "ROOMS"\n'
                                                        'class_name = "Room"\n'))
    assert (await emu.fetch("app", "/")).text == "ok"
    base = "/_emulator/durable_objects/namespaces"
    namespaces = (await emu.fetch("app", base)).json()
    assert namespaces == [{"key": "app-Room", "className": "Room", "script": "app", "sqlite": True,
                           "bindings": [{"app": "app", "binding": "ROOMS"}], "active": 1, "stored": 1, "alarms": 1}]
    lobby = emu.durable_object("ROOMS").idFromName("lobby").toString()
    objects = (await emu.fetch("app", f"{base}/ROOMS/objects")).json()
    assert objects["objects"] == [{"id": lobby, "name": "lobby", "active": True, "sockets": 0,
                                   "alarm": 4102444800000}]
    described = (await emu.fetch("app", f"{base}/app-Room/object?name=lobby")).json()
    assert described["keys"] == 2 and described["size"] > 0
    assert described["tables"] == [{"name": "messages", "rows": 2,
                                    "sql": "CREATE TABLE messages (id INTEGER PRIMARY KEY, text TEXT)"}]
    entries = (await emu.fetch("app", f"{base}/Room/object/storage?id={lobby}")).json()["entries"]
    assert [(e["key"], e["value"]) for e in entries] == [("blob", {"$bytes": "AAE="}), ("title", "lobby")]
    value = (await emu.fetch("app", f"{base}/Room/object/value?name=lobby&key=title")).json()
    assert value["value"] == "lobby"
    assert (await emu.fetch("app", f"{base}/Room/object/value?name=lobby&key=nope")).status == 404
    result = (await emu.fetch("app", f"{base}/Room/object/sql?name=lobby", method="POST",
                              json={"sql": "SELECT text FROM messages WHERE id > ?", "params": [1]})).json()
    assert result["columns"] == ["text"] and result["rows"] == [["there"]]
    refused = await emu.fetch("app", f"{base}/Room/object/sql?name=lobby", method="POST",
                              json={"sql": "SELECT * FROM _cf_KV"})
    assert refused.status == 400 and "access to _cf_KV.key is prohibited" in refused.json()["message"]
    assert (await emu.fetch("app", f"{base}/Room/object/evict?name=lobby", method="POST")).json() == {"evicted": 1}
    assert not emu.durable_object("ROOMS").is_active("lobby")
    # Reading an inactive object does not construct it.
    assert (await emu.fetch("app", f"{base}/Room/object?name=lobby")).json()["active"] is False
    assert not emu.durable_object("ROOMS").is_active("lobby")
    missing = await emu.fetch("app", f"{base}/Nope/objects")
    assert missing.status == 404 and "app-Room" in missing.json()["message"]
    bad = await emu.fetch("app", f"{base}/Room/object?id=xyz")
    assert bad.status == 400 and "64 hex digits" in bad.json()["message"]
