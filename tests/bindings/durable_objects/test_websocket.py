"""WebSockets (websocket.py): pairs, the hibernation API, and real upgrades through aiohttp."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from emulator.runtime.jsproxy import JsArrayBuffer, JsException
from emulator.runtime.websocket import WebSocketPair, WebSocketRequestResponsePair
from tests.helpers.durable_objects import write_app

ROOM = '''
import json
from js import WebSocketPair, WebSocketRequestResponsePair
from workers import DurableObject, Response, WorkerEntrypoint

CONSTRUCTIONS = []


class Room(DurableObject):
    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        CONSTRUCTIONS.append(ctx.id.name)
        self.seen = 0

    async def fetch(self, request):
        if request.headers.get("Upgrade") != "websocket":
            return Response("expected a WebSocket", status=426)
        client, server = WebSocketPair.new().object_values()
        user = request.url.rsplit("/", 1)[1]
        self.ctx.acceptWebSocket(server, ["all", user])
        server.serializeAttachment({"user": user})
        server.send(json.dumps({"hello": user}))
        return Response(None, status=101, web_socket=client)

    async def webSocketMessage(self, ws, message):
        self.seen += 1
        if isinstance(message, str) and message == "auto-on":
            self.ctx.setWebSocketAutoResponse(WebSocketRequestResponsePair.new("ping", "pong"))
            ws.send("auto set")
            return
        if not isinstance(message, str):
            ws.send(bytes(message.to_bytes()[::-1]))
            return
        who = ws.deserializeAttachment()["user"]
        await self.ctx.storage.put("last", message)
        for peer in self.ctx.getWebSockets("all"):
            peer.send(json.dumps({"from": who, "text": message, "seen": self.seen,
                                  "constructions": len(CONSTRUCTIONS),
                                  "sockets": len(self.ctx.getWebSockets()),
                                  "tags": self.ctx.getTags(peer)}))

    async def webSocketClose(self, ws, code, reason, wasClean):
        await self.ctx.storage.put("closed", [code, reason, wasClean, ws.deserializeAttachment()["user"]])

    async def closed(self):
        return await self.ctx.storage.get("closed")

    async def last(self):
        return await self.ctx.storage.get("last")


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        path = request.url.split("/", 3)[3]
        if path.startswith("room/"):
            return await self.env.ROOM.getByName("lobby").fetch(request)
        if path == "echo":
            # A Worker's own pair, used with the standard API.
            client, server = WebSocketPair.new()
            server.accept()
            server.addEventListener("message", lambda event: server.send("echo:" + event.data))
            return Response(None, status=101, web_socket=client)
        if path == "plain":
            client, server = WebSocketPair.new()
            return Response(None, status=101, web_socket=client)
        return Response("not found", status=404)
'''
BINDINGS = '[[durable_objects.bindings]]\nname = "ROOM"\nclass_name = "Room"\n'


@pytest.fixture
async def room(cf_emulator: Any, tmp_path: Path) -> Any:
    return await cf_emulator(write_app(tmp_path, ROOM, BINDINGS))


async def receive(ws: aiohttp.ClientWebSocketResponse) -> Any:
    msg = await asyncio.wait_for(ws.receive(), timeout=5)
    if msg.type is aiohttp.WSMsgType.TEXT:
        return json.loads(msg.data) if msg.data.startswith("{") else msg.data
    return msg


async def test_hibernatable_sockets_chat_survive_eviction_and_keep_attachments(room: Any) -> None:
    emu = room
    session = emu.client("app")
    ann = await session.ws_connect("/room/ann")
    assert await receive(ann) == {"hello": "ann"}
    bob = await session.ws_connect("/room/bob")
    assert await receive(bob) == {"hello": "bob"}
    await ann.send_str("hi")
    for ws in (ann, bob):
        got = await receive(ws)
        assert got["from"] == "ann" and got["text"] == "hi" and got["sockets"] == 2 and got["constructions"] == 1
    ns = emu.durable_object("ROOM")
    assert ns.websockets("lobby") == 2
    assert ns.evict("lobby") == 1  # hibernate: the sockets stay connected
    await bob.send_str("still here")
    got = await receive(ann)
    assert got["from"] == "bob" and got["constructions"] == 2 and got["seen"] == 1  # a fresh instance
    assert got["tags"] == ["all", "ann"]
    await receive(bob)
    assert await ns.get_by_name("lobby").last() == "still here"


async def test_binary_frames_auto_response_and_close(room: Any) -> None:
    emu = room
    session = emu.client("app")
    ws = await session.ws_connect("/room/cy")
    await receive(ws)
    await ws.send_bytes(b"\x01\x02\x03")
    msg = await receive(ws)
    assert msg.type is aiohttp.WSMsgType.BINARY and msg.data == b"\x03\x02\x01"
    await ws.send_str("auto-on")
    assert await receive(ws) == "auto set"
    ns = emu.durable_object("ROOM")
    ns.evict("lobby")
    await ws.send_str("ping")
    assert await receive(ws) == "pong"
    assert not ns.is_active("lobby")  # answered without waking the object
    await ws.close(code=4000, message=b"bye")
    assert ws.close_code == 4000
    for _ in range(100):
        if ns.websockets("lobby") == 0:
            break
        await asyncio.sleep(0.01)
    assert await ns.get_by_name("lobby").closed() == [4000, "bye", True, "cy"]


async def test_a_workers_own_pair_with_the_standard_api(room: Any) -> None:
    session = room.client("app")
    ws = await session.ws_connect("/echo")
    await ws.send_str("one")
    assert await receive(ws) == "echo:one"
    await ws.close()


async def test_responses_with_a_socket_need_an_upgrade_request(room: Any) -> None:
    response = await room.fetch("app", "/plain")
    assert response.status == 500 and 'did not contain the header "Upgrade: websocket"' in response.text
    assert (await room.fetch("app", "/room/x")).text == "expected a WebSocket"


async def test_stopping_the_emulator_closes_open_sockets(cf_emulator: Any, tmp_path: Path) -> None:
    emu = await cf_emulator(write_app(tmp_path, ROOM, BINDINGS), shutdown_timeout=30)
    session = aiohttp.ClientSession()
    try:
        ws = await session.ws_connect(emu.url("app") + "/room/dee")
        await receive(ws)
        await emu.stop()
        msg = await asyncio.wait_for(ws.receive(), timeout=5)
        assert (msg.type, msg.data, msg.extra) == (aiohttp.WSMsgType.CLOSE, 1001, "Server shutting down")
    finally:
        await session.close()


def test_pairs_and_their_errors() -> None:
    pair = WebSocketPair.new()
    client, server = pair
    assert list(pair.object_values()) == [client, server] and pair[0] is client and len(pair) == 2
    with pytest.raises(JsException, match=r"You must call one of accept\(\) or state\.acceptWebSocket\(\)"):
        server.send("too early")
    for code in (1005, 1006, 999, 5000):
        with pytest.raises(JsException, match=f"^InvalidAccessError: Invalid WebSocket close code: {code}.$"):
            server.close(code)
    with pytest.raises(JsException, match="you must also specify a code"):
        server.close(None, "reason")
    with pytest.raises(JsException, match="must not be longer than 123 bytes"):
        server.close(1000, "x" * 124)
    with pytest.raises(JsException, match="cannot be larger than 16384 bytes"):
        server.serializeAttachment("x" * 20000)
    server.serializeAttachment({"a": [1]})
    assert server.deserializeAttachment() == {"a": [1]}
    with pytest.raises(JsException, match="Request cannot be larger than 2048 bytes"):
        from emulator.bindings.durable_objects.websocket import check_auto_response
        check_auto_response(WebSocketRequestResponsePair("x" * 3000, "y"))
    assert bytes(JsArrayBuffer(b"ab").to_py()) == b"ab" and JsArrayBuffer(b"ab").byteLength == 2


async def test_both_ends_in_process() -> None:
    client, server = WebSocketPair.new()
    got: list[Any] = []
    server.send  # noqa: B018 - attribute exists before accept
    client.accept()
    server.accept()
    client.addEventListener("message", lambda event: got.append(event.data))
    client.addEventListener("close", lambda event: got.append((event.code, event.reason)))
    server.send("text")
    server.send(b"\x00")
    server.close(1000, "done")
    for _ in range(50):
        await asyncio.sleep(0)
    assert got == ["text", b"\x00", (1000, "done")]
    assert server.upgrade_problem() == "Can't return WebSocket in a Response after calling accept()."
    with pytest.raises(JsException, match="Can't call WebSocket send\\(\\) after close\\(\\)"):
        server.send("late")
