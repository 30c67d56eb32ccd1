"""The plugin end to end: Cloudflare's examples unchanged, start-up checks, persistence, reloads.

The two official examples (vendored in ``tests/examples/python-workers-examples/``, Apache-2.0,
see NOTICE there) run exactly as
published: ``07-durable-objects`` (RPC to a per-list object storing a list) and
``15-chatroom`` (a hibernatable WebSocket chat room), the latter through real WebSocket
connections of an aiohttp client.
"""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from emulator.bindings.durable_objects.plugin import IDLE_TIMEOUT_VARIABLE, _idle_timeout_setting
from emulator.errors import StartError
from tests.helpers.durable_objects import write_app

EXAMPLES = Path(__file__).parents[2] / "examples" / "python-workers-examples"


async def test_example_07_durable_objects_runs_unchanged_and_persists(cf_emulator: Any) -> None:
    emu = await cf_emulator(EXAMPLES / "07-durable-objects" / "wrangler.jsonc")
    app = "python-durable-object"
    assert (await emu.fetch(app, "/groceries/add/milk")).text == "Message sent"
    assert (await emu.fetch(app, "/groceries/add/eggs")).text == "Message sent"
    assert (await emu.fetch(app, "/groceries/show")).text == "milk\neggs"
    assert (await emu.fetch(app, "/chores/show")).text == "No messages"
    assert (await emu.fetch(app, "/")).status == 400
    table = next(m for m in emu.log_messages(source="dev") if "Your Worker has access" in m)
    assert "env.LISTS  List      Durable Object  emulated" in table
    health = (await emu.fetch(app, "/_emulator/health")).json()
    assert health["plugins"]["durable_objects"]["namespaces"]["python-durable-object-List"]["sqlite"] is True
    assert health["apps"][app]["bindings"]["durable_objects"] == {"LISTS": {"class_name": "List",
                                                                          "script_name": None}}
    # The pytest handle reaches the same object by binding name and object name.
    lists = emu.durable_object("LISTS")
    assert await lists.get_by_name("groceries").get_messages() == ["milk", "eggs"]
    assert await lists.storage("groceries").get("messages") == ["milk", "eggs"]
    await emu.restart()
    assert (await emu.fetch(app, "/groceries/show")).text == "milk\neggs"


async def test_example_15_chatroom_runs_unchanged_over_real_websockets(cf_emulator: Any) -> None:
    emu = await cf_emulator(EXAMPLES / "15-chatroom" / "wrangler.jsonc")
    app = "python-chatroom"
    page = await emu.fetch(app, "/")
    assert page.status == 200 and "new WebSocket" in page.text
    session = emu.client(app)

    async def receive(ws: aiohttp.ClientWebSocketResponse) -> Any:
        return await asyncio.wait_for(ws.receive_json(), timeout=5)

    ann = await session.ws_connect("/room/lobby")
    assert (await receive(ann))["text"] == "Connected to chatroom"
    await ann.send_str(json.dumps({"username": "ann", "text": "first"}))
    assert (await receive(ann))["text"] == "first"
    bob = await session.ws_connect("/room/lobby")
    history = await receive(bob)
    assert history["type"] == "history" and [m["text"] for m in history["messages"]] == ["first"]
    assert (await receive(bob))["type"] == "system"
    await bob.send_str(json.dumps({"username": "bob", "text": "hello ann"}))
    for ws in (ann, bob):
        got = await receive(ws)
        assert (got["username"], got["text"]) == ("bob", "hello ann")
    other = await session.ws_connect("/room/elsewhere")  # another room: another object
    assert (await receive(other))["type"] == "system"
    await bob.close()
    await ann.close()
    logged = ["Client disconnected. Active sessions: 2", "Client disconnected. Active sessions: 1"]
    for _ in range(200):
        if emu.log_messages(source="app:python-chatroom") == logged:
            break
        await asyncio.sleep(0.01)
    # As in workerd, a socket is still listed during its own close event.
    assert emu.log_messages(source="app:python-chatroom") == logged
    assert (await emu.fetch(app, "/room/lobby")).text == "Expected WebSocket upgrade"
    await other.close()


CROSS_DEFINER = '''
from workers import DurableObject, Response, WorkerEntrypoint


class Counter(DurableObject):
    async def add(self, n):
        value = (await self.ctx.storage.get("n") or 0) + n
        await self.ctx.storage.put("n", value)
        return value


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response(str(await self.env.COUNTER.getByName("shared").add(1)))
'''
CROSS_USER = '''
from workers import Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response(str(await self.env.REMOTE.getByName("shared").add(10)))
'''


async def test_a_class_of_another_hosted_app_through_script_name(cf_emulator: Any, tmp_path: Path) -> None:
    write_app(tmp_path, CROSS_DEFINER, '[[durable_objects.bindings]]\nname = "COUNTER"\nclass_name = "Counter"\n',
              name="definer")
    write_app(tmp_path, CROSS_USER, '[[durable_objects.bindings]]\nname = "REMOTE"\nclass_name = "Counter"\n'
                                    'script_name = "definer"\n', name="user")
    (tmp_path / "wrangler.toml").write_text('[workspace]\napps = ["definer", "user"]\n')
    emu = await cf_emulator(tmp_path / "wrangler.toml")
    assert (await emu.fetch("definer", "/")).text == "1"
    assert (await emu.fetch("user", "/")).text == "11"  # the same object
    assert await emu.durable_object("REMOTE").storage("shared").get("n") == 11


async def test_a_bound_class_missing_from_the_module_stops_the_start(cf_emulator: Any, tmp_path: Path) -> None:
    source = "from workers import WorkerEntrypoint\n\nclass Default(WorkerEntrypoint):\n    pass\n\nGhost = None\n"
    config = write_app(tmp_path, source, '[[durable_objects.bindings]]\nname = "G"\nclass_name = "Ghost"\n')
    with pytest.raises(StartError, match=r'Durable Object class "Ghost" is not defined by app "app": .* defines no '
                                         r"class named 'Ghost'"):
        await cf_emulator(config)
    config = write_app(tmp_path, source.replace("Ghost = None", "class Ghost:\n    pass"),
                       '[[durable_objects.bindings]]\nname = "G"\nclass_name = "Ghost"\n', name="plain")
    with pytest.raises(StartError, match=r'Durable Object class "Ghost" of app "plain" must derive from '
                                         r"workers\.DurableObject"):
        await cf_emulator(config)
    config = write_app(tmp_path, source.replace("Ghost = None\n", ""),
                       '[[durable_objects.bindings]]\nname = "G"\nclass_name = "Ghost"\n', name="other")
    # `check` (our CFE113) refuses it before the code is even imported.
    with pytest.raises(StartError, match="CFE113"):
        await cf_emulator(config)


RELOADED = '''
from workers import DurableObject, Response, WorkerEntrypoint


class Versioned(DurableObject):
    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        self.version = "VERSION"

    async def which(self):
        await self.ctx.storage.put("seen", self.version)
        return self.version


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response(await self.env.V.getByName("v").which())
'''


async def test_a_code_reload_gives_new_events_a_new_instance(cf_emulator: Any, tmp_path: Path) -> None:
    config = write_app(tmp_path, RELOADED.replace("VERSION", "one"),
                       '[[durable_objects.bindings]]\nname = "V"\nclass_name = "Versioned"\n')
    emu = await cf_emulator(config)
    assert (await emu.fetch("app", "/")).text == "one"
    (config.parent / "src" / "entry.py").write_text(textwrap.dedent(RELOADED.replace("VERSION", "two")))
    emu.emulator.platform.hosts["app"].reload()
    assert (await emu.fetch("app", "/")).text == "two"
    assert await emu.durable_object("V").storage("v").get("seen") == "two"


def test_the_idle_timeout_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from emulator.bindings.durable_objects.errors import DurableObjectsConfigError

    monkeypatch.delenv(IDLE_TIMEOUT_VARIABLE, raising=False)
    assert _idle_timeout_setting() == 10.0
    monkeypatch.setenv(IDLE_TIMEOUT_VARIABLE, "2.5")
    assert _idle_timeout_setting() == 2.5
    for bad in ("soon", "-1"):
        monkeypatch.setenv(IDLE_TIMEOUT_VARIABLE, bad)
        with pytest.raises(DurableObjectsConfigError, match=IDLE_TIMEOUT_VARIABLE):
            _idle_timeout_setting()


async def test_the_pytest_handle_names_what_exists(cf_emulator: Any) -> None:
    from emulator.pytest_plugin import LookupFailed

    emu = await cf_emulator(EXAMPLES / "07-durable-objects" / "wrangler.jsonc")
    assert emu.durable_object("List").engine.class_name == "List"
    with pytest.raises(LookupFailed, match=r"no Durable Object namespace named 'NOPE'.*'LISTS'"):
        emu.durable_object("NOPE")
