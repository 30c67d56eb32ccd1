"""WebSockets as Workers code sees them: ``WebSocketPair``, ``WebSocket``, the hibernation API.

``WebSocketPair.new()`` makes two linked ends: what one end ``send``s, the other receives.
App code keeps one end (the *server* end) and returns the other in
``Response(None, status=101, web_socket=client)``; the runtime then performs a real
WebSocket upgrade of the HTTP connection with aiohttp (``emulator.runtime.http``) and
attaches that end to it (``serve_connection``), so a browser or any WebSocket client talks
to the app.

The server end is consumed one of two ways (docs/durable_objects.md, "WebSockets"):

- ``ctx.acceptWebSocket(ws, tags)`` in a Durable Object (the hibernation API): frames
  become events of the object — ``webSocketMessage(ws, message)``,
  ``webSocketClose(ws, code, reason, wasClean)``, ``webSocketError(ws, error)`` — delivered
  through its gate, in order, one after another per socket. The socket belongs to the
  object, not to its instance: it stays connected when the object is evicted (hibernates),
  and the next frame constructs the object again. ``serializeAttachment`` keeps up to
  16 KiB per socket across that; ``ctx.setWebSocketAutoResponse`` answers one exact text
  frame without waking the object.
- ``ws.accept()`` and ``addEventListener("message" | "close" | "error", listener)``: the
  standard API, in a Worker or a Durable Object (where the socket keeps the object from
  being evicted, as in production).

Frames that arrive before their end is accepted or connected wait for it, in order.
Binary frames reach handlers as ``JsArrayBuffer`` (``bytes`` with Pyodide's ``to_py()`` /
``to_bytes()``); text frames as ``str``.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import traceback
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Iterator

from emulator.bindings.durable_objects.errors import DurableObjectError
from emulator.bindings.durable_objects.serialize import decode, encode, ms_date
from emulator.jsobject import JsObject

if TYPE_CHECKING:
    from aiohttp import web

    from emulator.bindings.durable_objects.actor import ObjectActor

MAX_ATTACHMENT_BYTES = 16384
MAX_TAGS = 10
MAX_TAG_LENGTH = 256
MAX_SOCKETS_PER_OBJECT = 32768
MAX_AUTO_RESPONSE_BYTES = 2048
# Frames waiting for one end before the network reader waits (back pressure).
MAX_PENDING_FRAMES = 1024
NOT_ACCEPTED = ("You must call one of accept() or state.acceptWebSocket() on this WebSocket before sending "
                "messages.")
DISCONNECTED = "WebSocket disconnected without sending Close frame."


class JsArrayBuffer(bytes):
    """A binary frame as Python code receives it: ``bytes`` plus Pyodide's ``JsProxy`` methods."""

    def to_py(self) -> memoryview:
        return memoryview(self)

    def to_bytes(self) -> bytes:
        return bytes(self)

    def to_memoryview(self) -> memoryview:
        return memoryview(self)

    @property
    def byteLength(self) -> int:  # noqa: N802 - JS spelling
        return len(self)


class JsDate(_dt.datetime):
    """A JS ``Date`` handed to Python: a naive UTC ``datetime`` with ``getTime()`` (ms)."""

    def getTime(self) -> int:  # noqa: N802 - JS spelling
        from emulator.bindings.durable_objects.serialize import date_ms

        return date_ms(self)


def _js_date(ms: int) -> JsDate:
    d = ms_date(ms)
    return JsDate(d.year, d.month, d.day, d.hour, d.minute, d.second, d.microsecond)


class _Frame:
    __slots__ = ("kind", "data", "code", "reason", "clean")

    def __init__(self, kind: str, data: Any = None, code: int = 0, reason: str = "", clean: bool = True) -> None:
        self.kind = kind  # "message" | "close" | "error"
        self.data = data
        self.code = code
        self.reason = reason
        self.clean = clean


class WebSocket:
    """One end of a ``WebSocketPair``."""

    READY_STATE_CONNECTING = 0
    READY_STATE_OPEN = 1
    READY_STATE_CLOSING = 2
    READY_STATE_CLOSED = 3
    CONNECTING, OPEN, CLOSING, CLOSED = 0, 1, 2, 3

    def __init__(self) -> None:
        self._peer: WebSocket | None = None
        self.readyState = self.READY_STATE_OPEN
        self.url: str | None = None
        self.protocol = ""
        self.extensions = ""
        self.binaryType = "arraybuffer"
        # How this end is consumed: None (not yet), "standard" (accept()), "hibernatable"
        # (ctx.acceptWebSocket), "network" (returned in a 101 response and connected).
        self._mode: str | None = None
        self._owner: "ObjectActor | None" = None
        self._invocation: Any = None  # the app context that accepted a standard socket
        self._listeners: dict[str, list[Callable[..., Any]]] = {}
        self._inbox: deque[_Frame] = deque()
        self._pump: asyncio.Task[None] | None = None
        self._connection: _Connection | None = None
        self._released = False  # returned in a Response
        self._closed_outgoing = False
        self._closed_incoming = False
        self._attachment: bytes | None = None
        self._tags: tuple[str, ...] = ()
        self._auto_response_ms: int | None = None
        self._space: asyncio.Future[None] | None = None

    # --- sending ----------------------------------------------------------------------------------
    def accept(self) -> None:
        """Use this end with ``addEventListener`` (the standard, non-hibernatable API)."""
        from emulator.bindings.durable_objects.actor import current_actor
        from emulator.runtime.invocation import current

        if self._released:
            raise DurableObjectError("Can't accept() WebSocket that was already used in a response.", "TypeError")
        if self._mode == "hibernatable":
            raise DurableObjectError("Can't accept() WebSocket after enabling hibernation.", "TypeError")
        if self._mode == "standard":
            return
        self._mode = "standard"
        self._invocation = current.get()
        actor = current_actor.get()
        if actor is not None:
            self._owner = actor
            actor.standard_sockets += 1
        self._wake()

    def send(self, message: Any) -> None:
        if self._closed_outgoing:
            raise DurableObjectError("Can't call WebSocket send() after close().", "TypeError")
        if self._mode not in ("standard", "hibernatable"):
            raise DurableObjectError(NOT_ACCEPTED, "TypeError")
        if isinstance(message, str):
            data: Any = str.__str__(message)
        elif isinstance(message, (bytes, bytearray, memoryview)):
            data = JsArrayBuffer(bytes(message))
        else:
            raise DurableObjectError("WebSocket send() expects a string or bytes (an ArrayBuffer).", "TypeError")
        peer = self._peer
        assert peer is not None
        if peer._released and peer._connection is None:
            return  # the connection is gone: ignored, as the spec says for a closed socket
        self._release_output()
        assert self._peer is not None
        self._peer._receive(_Frame("message", data))

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        if code is not None:
            if isinstance(code, bool) or not isinstance(code, int) or not (1000 <= code < 5000) \
                    or code in (1004, 1005, 1006, 1015):
                raise DurableObjectError(f"Invalid WebSocket close code: {code}.", "InvalidAccessError")
        if reason is not None:
            if code is None:
                raise DurableObjectError("If you specify a WebSocket close reason, you must also specify a code.",
                                         "InvalidAccessError")
            if len(str(reason).encode("utf-8")) > 123:
                raise DurableObjectError("WebSocket close reason must not be longer than 123 bytes when UTF-8 "
                                         "encoded.", "SyntaxError")
        if self._closed_outgoing:
            return  # a second close() is ignored
        if self._mode not in ("standard", "hibernatable"):
            raise DurableObjectError(NOT_ACCEPTED, "TypeError")
        self._closed_outgoing = True
        self.readyState = self.READY_STATE_CLOSED if self._closed_incoming else self.READY_STATE_CLOSING
        self._release_output()
        assert self._peer is not None
        self._peer._receive(_Frame("close", code=code if code is not None else 1005, reason=str(reason or "")))

    def _release_output(self) -> None:
        """The output gate: a message leaves a Durable Object only after its writes are durable."""
        owner = self._owner
        if owner is not None and (owner.store.in_txn or owner.pending_alarm is not None):
            owner.flush()

    # --- attachments, listeners -------------------------------------------------------------------
    def serializeAttachment(self, value: Any) -> None:  # noqa: N802 - JS spelling
        data = encode(value)
        if len(data) > MAX_ATTACHMENT_BYTES:
            raise DurableObjectError(f"A WebSocket 'attachment' cannot be larger than {MAX_ATTACHMENT_BYTES} bytes.")
        self._attachment = data

    def deserializeAttachment(self) -> Any:  # noqa: N802 - JS spelling
        return None if self._attachment is None else decode(self._attachment)


    def addEventListener(self, kind: str, listener: Callable[..., Any], *_: Any) -> None:  # noqa: N802
        self._listeners.setdefault(kind, []).append(listener)

    def removeEventListener(self, kind: str, listener: Callable[..., Any], *_: Any) -> None:  # noqa: N802
        try:
            self._listeners.get(kind, []).remove(listener)
        except ValueError:
            pass


    # --- receiving ----------------------------------------------------------------------------------
    def _receive(self, frame: _Frame) -> None:
        """A frame from the other end, for this end to handle (now or once it is consumed)."""
        if frame.kind == "close":
            self._closed_incoming = True
            self.readyState = self.READY_STATE_CLOSED if self._closed_outgoing else self.READY_STATE_CLOSING
        if self._connection is not None:
            self._connection.write(frame)
            return
        self._inbox.append(frame)
        self._wake()

    @property
    def pending_frames(self) -> int:
        return len(self._inbox)

    @property
    def handling(self) -> bool:
        """Whether frames are waiting for, or being delivered to, the app."""
        return self._pump is not None or (bool(self._inbox) and self._mode in ("standard", "hibernatable"))

    async def drained(self) -> None:
        """Return once at most half of ``MAX_PENDING_FRAMES`` frames wait for this end."""
        while len(self._inbox) > MAX_PENDING_FRAMES // 2 and self._mode in ("standard", "hibernatable"):
            self._space = asyncio.get_running_loop().create_future()
            await self._space

    def _wake(self) -> None:
        if self._mode in ("standard", "hibernatable") and self._inbox and self._pump is None:
            self._pump = asyncio.get_running_loop().create_task(self._run_pump())

    async def _run_pump(self) -> None:
        try:
            while self._inbox:
                frame = self._inbox.popleft()
                space = self._space
                if space is not None and len(self._inbox) <= MAX_PENDING_FRAMES // 2:
                    self._space = None
                    if not space.done():
                        space.set_result(None)
                try:
                    if self._mode == "hibernatable":
                        await self._hibernatable_event(frame)
                    else:
                        await self._standard_event(frame)
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - app code: logged, the socket goes on
                    self._log_error(traceback.format_exc())
        finally:
            self._pump = None
            if self._inbox and self._mode is not None:
                self._wake()

    def _log_error(self, text: str) -> None:
        owner = self._owner
        if owner is not None:
            owner.namespace.log.error(f"app:{owner.namespace.script}",
                                      f"Uncaught exception in a WebSocket handler of {owner.describe()}:\n"
                                      + text.rstrip())
        else:
            inv = self._invocation
            if inv is not None:
                inv.host.platform.log.error(inv.host.log_source, "Uncaught exception in a WebSocket event "
                                            "listener:\n" + text.rstrip())

    async def _hibernatable_event(self, frame: _Frame) -> None:
        from emulator.runtime.relaxed_call import relaxed_call

        actor = self._owner
        assert actor is not None
        if frame.kind == "message":
            pair = actor.auto_response
            if pair is not None and isinstance(frame.data, str) and frame.data == pair.request:
                # Answered without waking the object (it is not even constructed).
                self._auto_response_ms = actor.namespace.clock.now_ms()
                if not self._closed_outgoing and self._peer is not None:
                    self._peer._receive(_Frame("message", pair.response))
                return
            args: tuple[Any, ...] = (self, frame.data)
            name = "webSocketMessage"
        elif frame.kind == "close":
            args = (self, frame.code, frame.reason, frame.clean)
            name = "webSocketClose"
        else:
            args = (self, frame.data)
            name = "webSocketError"
        handler_name = actor.namespace.handler_name(name)

        def call(instance: Any) -> Any:
            handler = getattr(instance, handler_name, None)
            if not callable(handler):
                if name != "webSocketError":
                    actor.namespace.log.warn("durable_objects", f"{actor.describe()} received a WebSocket "
                                             f"{frame.kind} but defines no {handler_name}() handler; it was dropped")
                return None
            return relaxed_call(handler, *args)

        try:
            await actor.deliver(call)
        finally:
            if frame.kind == "close":
                self._finish_close(frame)

    async def _standard_event(self, frame: _Frame) -> None:
        from emulator.runtime.invocation import invoke
        from emulator.runtime.relaxed_call import relaxed_call

        if frame.kind == "message":
            event = JsObject(type="message", data=frame.data)
        elif frame.kind == "close":
            event = JsObject(type="close", code=frame.code, reason=frame.reason, wasClean=frame.clean)
        else:
            event = JsObject(type="error", error=frame.data, message=str(frame.data))
        listeners = list(self._listeners.get(frame.kind, ()))
        try:
            for listener in listeners:
                if self._owner is not None:
                    await self._owner.deliver(lambda _instance, fn=listener: relaxed_call(fn, event))
                    continue
                inv = self._invocation
                if inv is None:
                    result = relaxed_call(listener, event)
                else:
                    with invoke(inv.host, inv.env, inv.ctx):
                        result = relaxed_call(listener, event)
                if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                    await result
        finally:
            if frame.kind == "close":
                self._finish_close(frame)

    def _finish_close(self, frame: _Frame) -> None:
        """After the close event: complete the handshake if the app did not, and let the socket go."""
        if not self._closed_outgoing and self._peer is not None:
            self._closed_outgoing = True
            code = frame.code if frame.code not in (1005, 1006, 1015, 1004) else 1000
            self._peer._receive(_Frame("close", code=code, reason=""))
        self.readyState = self.READY_STATE_CLOSED
        owner = self._owner
        if owner is not None:
            if self._mode == "hibernatable":
                try:
                    owner.hibernatable.remove(self)
                except ValueError:
                    pass
                owner.namespace.sockets_changed(owner)
            elif self._mode == "standard":
                owner.standard_sockets = max(0, owner.standard_sockets - 1)

    # --- the network side (the end returned in a 101 response) ---------------------------------------
    def upgrade_problem(self) -> str | None:
        """Why this end cannot be returned in a Response (workerd's checks), or None."""
        if self._released:
            return "Can't return WebSocket that was already used in a response."
        if self._mode == "hibernatable":
            return "Can't return WebSocket in a Response after calling acceptWebSocket()."
        if self._mode == "standard":
            return "Can't return WebSocket in a Response after calling accept()."
        return None

    async def serve_connection(self, ws: "web.WebSocketResponse") -> None:
        """Carry this end over an upgraded aiohttp connection until either side closes it."""
        self._released = True
        self._mode = "network"
        connection = _Connection(ws, self)
        self._connection = connection
        while self._inbox:  # what the app sent before the upgrade
            connection.write(self._inbox.popleft())
        await connection.run()

    def __repr__(self) -> str:
        return f"<WebSocket readyState={self.readyState}{' ' + repr(self._tags) if self._tags else ''}>"


class _Connection:
    """An upgraded aiohttp WebSocket carrying one end: a reader loop and an ordered writer."""

    def __init__(self, ws: "web.WebSocketResponse", end: WebSocket) -> None:
        self.ws = ws
        self.end = end
        self._outgoing: deque[_Frame] = deque()
        self._wakeup = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closing: _Frame | None = None

    def write(self, frame: _Frame) -> None:
        if frame.kind == "close":
            self._closing = frame
        elif self._closing is None:
            self._outgoing.append(frame)
        self._wakeup.set()

    async def _write_loop(self) -> None:
        ws = self.ws
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                while self._outgoing:
                    frame = self._outgoing.popleft()
                    if ws.closed:
                        return
                    if isinstance(frame.data, str):
                        await ws.send_str(frame.data)
                    else:
                        await ws.send_bytes(bytes(frame.data))
                if self._closing is not None:
                    close = self._closing
                    code = close.code if close.code not in (1005, 1006, 1015, 1004) else 1000
                    await ws.close(code=code, message=close.reason.encode("utf-8"))
                    return
        except (ConnectionResetError, ConnectionError, RuntimeError):
            return

    async def run(self) -> None:
        from aiohttp import WSMsgType

        ws = self.ws
        peer = self.end._peer
        assert peer is not None
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())
        frame: _Frame | None = None
        try:
            while True:
                msg = await ws.receive()
                if msg.type is WSMsgType.TEXT:
                    peer._receive(_Frame("message", msg.data))
                elif msg.type is WSMsgType.BINARY:
                    peer._receive(_Frame("message", JsArrayBuffer(msg.data)))
                elif msg.type is WSMsgType.CLOSE:
                    # The client closed: reply at once (workerd's web_socket_auto_reply_to_close),
                    # then tell the app.
                    code = int(msg.data) if msg.data else 1005
                    reason = msg.extra or ""
                    self._closing = self._closing or _Frame("close", code=code, reason="")
                    self._wakeup.set()
                    frame = _Frame("close", code=code, reason=reason, clean=True)
                    break
                elif msg.type in (WSMsgType.CLOSING, WSMsgType.CLOSED):
                    if self._closing is not None and self._writer is not None:
                        # The app closed: our close() completes the handshake with the client.
                        await asyncio.shield(self._writer)
                        code = ws.close_code or 1006
                        frame = _Frame("close", code=code, reason="", clean=code != 1006)
                    else:
                        # The connection dropped, or the server is shutting down.
                        frame = _Frame("close", code=1006, reason=DISCONNECTED, clean=False)
                    break
                elif msg.type is WSMsgType.ERROR:
                    frame = _Frame("close", code=1006, reason=DISCONNECTED, clean=False)
                    break
                if peer.pending_frames > MAX_PENDING_FRAMES:
                    await peer.drained()  # back pressure on a client sending faster than the app handles
        except asyncio.CancelledError:
            frame = _Frame("close", code=1006, reason=DISCONNECTED, clean=False)
            raise
        finally:
            if frame is None:
                frame = _Frame("close", code=1006, reason=DISCONNECTED, clean=False)
            if not peer._closed_incoming:
                peer._receive(frame)
            writer = self._writer
            if writer is not None and not writer.done():
                if self._closing is None:
                    writer.cancel()
                else:
                    try:
                        await asyncio.wait_for(asyncio.shield(writer), timeout=5)
                    except (asyncio.TimeoutError, asyncio.CancelledError):
                        writer.cancel()
            if not ws.closed:
                await ws.close()
            self.end._connection = None


class WebSocketPair:
    """``WebSocketPair.new()`` (Pyodide) or ``WebSocketPair()``: ``client, server = pair``.

    Also ``pair.object_values()`` (the chat-room example) and ``pair[0]`` / ``pair[1]``.
    """

    def __init__(self) -> None:
        client, server = WebSocket(), WebSocket()
        client._peer, server._peer = server, client
        self._ends = (client, server)

    @classmethod
    def new(cls) -> "WebSocketPair":
        return cls()

    def object_values(self) -> tuple[WebSocket, WebSocket]:
        return self._ends

    def __iter__(self) -> Iterator[WebSocket]:
        return iter(self._ends)

    def __getitem__(self, index: Any) -> WebSocket:
        return self._ends[int(index)]

    def __len__(self) -> int:
        return 2

    def __repr__(self) -> str:
        return "<WebSocketPair>"


class WebSocketRequestResponsePair:
    """``ctx.setWebSocketAutoResponse(WebSocketRequestResponsePair.new(request, response))``."""

    def __init__(self, request: str, response: str) -> None:
        if not isinstance(request, str) or not isinstance(response, str):
            raise DurableObjectError("WebSocketRequestResponsePair expects two strings.", "TypeError")
        self.request = request
        self.response = response

    @classmethod
    def new(cls, request: str, response: str) -> "WebSocketRequestResponsePair":
        return cls(request, response)

    def __repr__(self) -> str:
        return f"WebSocketRequestResponsePair({self.request!r}, {self.response!r})"


def check_auto_response(pair: WebSocketRequestResponsePair) -> None:
    for what, text in (("Request", pair.request), ("Response", pair.response)):
        size = len(text.encode("utf-8"))
        if size > MAX_AUTO_RESPONSE_BYTES:
            raise DurableObjectError(f"{what} cannot be larger than {MAX_AUTO_RESPONSE_BYTES} bytes. A "
                                     f"{what.lower()} of size {size} was provided.", "RangeError")


def accept_hibernatable(actor: "ObjectActor", ws: Any, tags: Any) -> None:
    """``ctx.acceptWebSocket(ws, tags)``: the object takes the socket's events."""
    if not isinstance(ws, WebSocket):
        raise DurableObjectError("acceptWebSocket() expects a WebSocket (an end of a WebSocketPair).", "TypeError")
    if ws._mode == "standard":
        raise DurableObjectError("Cannot call `acceptWebSocket()` if the WebSocket was already accepted via "
                                 "`accept()`")
    if ws._mode is not None or ws._released or (ws._peer is not None and ws._peer._mode in ("standard",
                                                                                            "hibernatable")):
        raise DurableObjectError("Cannot call `acceptWebSocket()` on this WebSocket because its pair has already "
                                 "been accepted or used in a Response.")
    distinct: list[str] = []
    for tag in list(tags) if tags is not None else []:
        if not isinstance(tag, str):
            raise DurableObjectError("WebSocket tags must be strings.", "TypeError")
        if len(distinct) >= MAX_TAGS and tag not in distinct:
            raise DurableObjectError(f"a Hibernatable WebSocket cannot have more than {MAX_TAGS} tags")
        if len(tag) > MAX_TAG_LENGTH:
            raise DurableObjectError(f'"{tag}" is longer than the max tag length ({MAX_TAG_LENGTH} characters).')
        if tag not in distinct:
            distinct.append(tag)
    if len(actor.hibernatable) >= MAX_SOCKETS_PER_OBJECT:
        raise DurableObjectError(f"A Durable Object cannot accept more than {MAX_SOCKETS_PER_OBJECT} WebSockets.")
    ws._mode = "hibernatable"
    ws._owner = actor
    ws._tags = tuple(distinct)
    actor.hibernatable.append(ws)
    actor.namespace.sockets_changed(actor)
    ws._wake()


def tags_of(ws: Any) -> list[str]:
    if not isinstance(ws, WebSocket) or ws._mode not in ("standard", "hibernatable"):
        raise DurableObjectError("you must call 'acceptWebSocket()' before attempting to access the tags of a "
                                 "WebSocket.")
    if ws._mode != "hibernatable":
        raise DurableObjectError("only hibernatable websockets can have tags.")
    return list(ws._tags)


def auto_response_timestamp(ws: Any) -> JsDate | None:
    if not isinstance(ws, WebSocket) or ws._auto_response_ms is None:
        return None
    return _js_date(ws._auto_response_ms)
