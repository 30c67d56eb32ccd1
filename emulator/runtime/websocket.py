"""WebSockets as Workers code sees them: ``WebSocketPair`` and its two ``WebSocket`` ends.

``WebSocketPair.new()`` makes two linked ends: what one end ``send``s, the other receives.
App code keeps one end (the *server* end) and returns the other in
``Response(None, status=101, web_socket=client)``; the runtime then performs a real
WebSocket upgrade of the HTTP connection with aiohttp (``emulator.runtime.aiohttp_adapter``) and
attaches that end to it (``serve_connection``), so a browser or any WebSocket client talks
to the app. Two ends that are never returned talk to each other directly, as in workerd.

The server end is consumed one of two ways (docs/python-workers.md, "WebSockets";
docs/durable_objects.md, "WebSockets"):

- ``ws.accept()`` and ``addEventListener("message" | "close" | "error", listener)`` (or the
  ``onmessage`` / ``onclose`` / ``onerror`` attributes): the standard API, in a Worker or a
  Durable Object. Listeners run as the app that accepted the socket (its ``workers.env``,
  its log); a listener may be a plain function or a coroutine function.
- ``ctx.acceptWebSocket(ws, tags)`` in a Durable Object (the hibernation API): frames become
  events of the object, delivered by its *owner* (``SocketOwner``, implemented by the
  Durable Objects binding), which also holds frames back until the object's writes are
  durable (the output gate).

Frames that arrive before their end is accepted or connected wait for it, in order, with
back pressure on the network reader. Binary frames reach handlers as ``JsArrayBuffer``
(``bytes`` with Pyodide's ``to_py()`` / ``to_bytes()``); text frames as ``str``.
"""

from __future__ import annotations

import asyncio
import functools
import traceback
from collections import deque
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol
from collections.abc import Callable, Iterator

from emulator.runtime.jsproxy import (
    JsArray,
    JsArrayBuffer,
    JsException,
    JsObjectProxy,
    JsProxy,
    PyProxy,
)

if TYPE_CHECKING:
    from aiohttp import web

MAX_ATTACHMENT_BYTES = 16384
# Frames waiting for one end before the network reader waits (back pressure).
MAX_PENDING_FRAMES = 1024
NOT_ACCEPTED = ("You must call one of accept() or state.acceptWebSocket() on this WebSocket before sending "
                "messages.")
DISCONNECTED = "WebSocket disconnected without sending Close frame."
_HANDLER_ATTRIBUTES = ("onmessage", "onclose", "onerror", "onopen")


def _error(message: str, name: str = "Error") -> JsException:
    return JsException(name, message)


class SocketOwner(Protocol):
    """What holds sockets on behalf of a Durable Object (``emulator.bindings.durable_objects``).

    The owner of the code running when ``accept()`` is called, if any, is
    ``current_socket_owner``; a hibernatable socket's owner is the object that accepted it.
    """

    def release_output(self) -> None:
        """The output gate: called before a frame leaves; makes pending writes durable."""

    async def deliver(self, call: Callable[[Any], Any]) -> Any:
        """Run ``call(instance)`` as an event of the object (its gate, its app context)."""

    async def hibernatable_event(self, ws: WebSocket, frame: Frame) -> None:
        """Deliver a frame of a hibernatable socket (``webSocketMessage`` / ``Close`` / ``Error``)."""

    def socket_accepted(self, ws: WebSocket) -> None:
        """A standard socket was accepted in the object's code (it keeps the object active)."""

    def socket_closed(self, ws: WebSocket) -> None:
        """A socket of the object finished closing."""

    def log_socket_error(self, text: str) -> None:
        """An uncaught exception of a socket handler (with its traceback)."""


# The Durable Object whose code is running in this context (None outside Durable Object code).
current_socket_owner: ContextVar[SocketOwner | None] = ContextVar("cf_emulator_socket_owner", default=None)


class Frame:
    """A frame between the two ends: a message, a close, or an error."""

    __slots__ = ("kind", "data", "code", "reason", "clean")

    def __init__(self, kind: str, data: Any = None, code: int = 0, reason: str = "", clean: bool = True) -> None:
        self.kind = kind  # "message" | "close" | "error"
        self.data = data
        self.code = code
        self.reason = reason
        self.clean = clean


class WebSocketEvent(JsObjectProxy):
    """A ``MessageEvent`` / ``CloseEvent`` / ``ErrorEvent``: ``type``, ``data``, ``code``, ..."""


class WebSocket(JsProxy):
    """One end of a ``WebSocketPair``."""

    js_type_name = "WebSocket"
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
        self._owner: SocketOwner | None = None
        self._invocation: Any = None  # the app context that accepted a standard socket
        self._listeners: dict[str, list[Callable[..., Any]]] = {}
        self._handlers: dict[str, Any] = {}
        self._inbox: deque[Frame] = deque()
        self._pump: asyncio.Task[None] | None = None
        self._connection: _Connection | None = None
        self._released = False  # returned in a Response
        self._closed_outgoing = False
        self._closed_incoming = False
        self._attachment: bytes | None = None
        self.tags: tuple[str, ...] = ()  # a hibernatable socket's tags
        self.auto_response_ms: int | None = None  # when the owner last auto-answered it
        self._space: asyncio.Future[None] | None = None

    # --- the standard API ----------------------------------------------------------------------
    def accept(self) -> None:
        """Use this end with ``addEventListener`` (the standard, non-hibernatable API)."""
        from emulator.runtime.invocation import current

        if self._released:
            raise _error("Can't accept() WebSocket that was already used in a response.", "TypeError")
        if self._mode == "hibernatable":
            raise _error("Can't accept() WebSocket after enabling hibernation.", "TypeError")
        if self._mode == "standard":
            return
        self._mode = "standard"
        self._invocation = current.get()
        owner = current_socket_owner.get()
        if owner is not None:
            self._owner = owner
            owner.socket_accepted(self)
        self._wake()

    def hibernate_with(self, owner: SocketOwner, tags: tuple[str, ...]) -> None:
        """``ctx.acceptWebSocket(ws, tags)``: ``owner`` takes this end's events (checked by the caller)."""
        self._mode = "hibernatable"
        self._owner = owner
        self.tags = tags
        self._wake()

    @property
    def mode(self) -> str | None:
        return self._mode

    @property
    def released(self) -> bool:
        return self._released

    @property
    def peer(self) -> WebSocket | None:
        return self._peer

    def send(self, message: Any) -> None:
        if self._closed_outgoing:
            raise _error("Can't call WebSocket send() after close().", "TypeError")
        if self._mode not in ("standard", "hibernatable"):
            raise _error(NOT_ACCEPTED, "TypeError")
        if isinstance(message, str):
            data: Any = str.__str__(message)
        elif isinstance(message, (bytes, bytearray, memoryview)):
            data = JsArrayBuffer(bytes(message))
        else:
            raise _error("WebSocket send() expects a string or bytes (an ArrayBuffer).", "TypeError")
        peer = self._peer
        assert peer is not None
        if peer._released and peer._connection is None:
            return  # the connection is gone: ignored, as the spec says for a closed socket
        self._release_output()
        peer._receive(Frame("message", data))

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        if code is not None and (isinstance(code, bool) or not isinstance(code, int) or not (1000 <= code < 5000)
                                 or code in (1004, 1005, 1006, 1015)):
            raise _error(f"Invalid WebSocket close code: {code}.", "InvalidAccessError")
        if reason is not None:
            if code is None:
                raise _error("If you specify a WebSocket close reason, you must also specify a code.",
                             "InvalidAccessError")
            if len(str(reason).encode("utf-8")) > 123:
                raise _error("WebSocket close reason must not be longer than 123 bytes when UTF-8 encoded.",
                             "SyntaxError")
        if self._closed_outgoing:
            return  # a second close() is ignored
        if self._mode not in ("standard", "hibernatable"):
            raise _error(NOT_ACCEPTED, "TypeError")
        self._closed_outgoing = True
        self.readyState = self.READY_STATE_CLOSED if self._closed_incoming else self.READY_STATE_CLOSING
        self._release_output()
        assert self._peer is not None
        self._peer._receive(Frame("close", code=code if code is not None else 1005, reason=str(reason or "")))

    def reply(self, text: str) -> None:
        """Send ``text`` to the peer without the accepted-socket checks (an owner's auto-response)."""
        if not self._closed_outgoing and self._peer is not None:
            self._peer._receive(Frame("message", text))

    def _release_output(self) -> None:
        if self._owner is not None:
            self._owner.release_output()

    # --- attachments (the hibernation API keeps one per socket) ---------------------------------
    def serializeAttachment(self, value: Any) -> None:  # noqa: N802 - JS spelling
        # Structured clone, as the platform serializes RPC arguments and storage values.
        from emulator.bindings.durable_objects.serialize import encode

        data = encode(value)
        if len(data) > MAX_ATTACHMENT_BYTES:
            raise _error(f"A WebSocket 'attachment' cannot be larger than {MAX_ATTACHMENT_BYTES} bytes.")
        self._attachment = data

    def deserializeAttachment(self) -> Any:  # noqa: N802 - JS spelling
        from emulator.bindings.durable_objects.serialize import decode

        return None if self._attachment is None else decode(self._attachment)

    # --- listeners ------------------------------------------------------------------------------------
    def addEventListener(self, kind: str, listener: Callable[..., Any], *_: Any) -> None:  # noqa: N802 - JS spelling
        self._listeners.setdefault(kind, []).append(listener)

    def removeEventListener(self, kind: str, listener: Callable[..., Any], *_: Any) -> None:  # noqa: N802 - JS spelling
        try:
            self._listeners.get(kind, []).remove(listener)
        except ValueError:
            pass

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _HANDLER_ATTRIBUTES:
            self._handlers[name[2:]] = value
            return
        object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        if name in _HANDLER_ATTRIBUTES:
            return self.__dict__.get("_handlers", {}).get(name[2:])
        raise AttributeError(name)

    # --- receiving --------------------------------------------------------------------------------------
    def _receive(self, frame: Frame) -> None:
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
                        assert self._owner is not None
                        try:
                            await self._owner.hibernatable_event(self, frame)
                        finally:
                            if frame.kind == "close":
                                self._finish_close(frame)
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
        if self._owner is not None:
            self._owner.log_socket_error(text)
            return
        inv = self._invocation
        if inv is not None:
            inv.host.platform.log.error(inv.host.log_source, "Uncaught exception in a WebSocket event listener:\n"
                                        + text.rstrip())

    async def _standard_event(self, frame: Frame) -> None:
        from emulator.runtime.invocation import invoke
        from emulator.runtime.relaxed_call import relaxed_call

        if frame.kind == "message":
            event = WebSocketEvent(type="message", data=frame.data)
        elif frame.kind == "close":
            event = WebSocketEvent(type="close", code=frame.code, reason=frame.reason, wasClean=frame.clean)
        else:
            event = WebSocketEvent(type="error", error=frame.data, message=str(frame.data))
        listeners = list(self._listeners.get(frame.kind, ()))
        handler = self._handlers.get(frame.kind)
        if handler is not None:
            listeners.append(handler)
        try:
            for listener in listeners:
                fn = listener._obj if isinstance(listener, PyProxy) else listener
                fn = getattr(fn, "handleEvent", None) or fn
                if self._owner is not None:
                    await self._owner.deliver(functools.partial(_call_listener, fn, event))
                    continue
                inv = self._invocation
                if inv is None:
                    result = relaxed_call(fn, event)
                else:
                    with invoke(inv.host, inv.env, inv.ctx):
                        result = relaxed_call(fn, event)
                if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                    await result
        finally:
            if frame.kind == "close":
                self._finish_close(frame)

    def _finish_close(self, frame: Frame) -> None:
        """After the close event: complete the handshake if the app did not, and let the socket go."""
        if not self._closed_outgoing and self._peer is not None:
            self._closed_outgoing = True
            code = frame.code if frame.code not in (1005, 1006, 1015, 1004) else 1000
            self._peer._receive(Frame("close", code=code, reason=""))
        self.readyState = self.READY_STATE_CLOSED
        if self._owner is not None:
            self._owner.socket_closed(self)

    # --- the network side (the end returned in a 101 response) -----------------------------------------
    def upgrade_problem(self) -> str | None:
        """Why this end cannot be returned in a Response (workerd's checks), or None."""
        if self._released:
            return "Can't return WebSocket that was already used in a response."
        if self._mode == "hibernatable":
            return "Can't return WebSocket in a Response after calling acceptWebSocket()."
        if self._mode == "standard":
            return "Can't return WebSocket in a Response after calling accept()."
        return None

    async def serve_connection(self, ws: web.WebSocketResponse) -> None:
        """Carry this end over an upgraded aiohttp connection until either side closes it."""
        self._released = True
        self._mode = "network"
        connection = _Connection(ws, self)
        self._connection = connection
        while self._inbox:  # what the app sent before the upgrade
            connection.write(self._inbox.popleft())
        await connection.run()

    def __repr__(self) -> str:
        return f"<WebSocket readyState={self.readyState}{' ' + repr(self.tags) if self.tags else ''}>"


def _call_listener(listener: Any, event: Any, _instance: Any) -> Any:
    """A listener's call as an object's delivery (which passes the object instance)."""
    from emulator.runtime.relaxed_call import relaxed_call

    return relaxed_call(listener, event)


class _Connection:
    """An upgraded aiohttp WebSocket carrying one end: a reader loop and an ordered writer."""

    def __init__(self, ws: web.WebSocketResponse, end: WebSocket) -> None:
        self.ws = ws
        self.end = end
        self._outgoing: deque[Frame] = deque()
        self._wakeup = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closing: Frame | None = None

    def write(self, frame: Frame) -> None:
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
        frame: Frame | None = None
        try:
            while True:
                msg = await ws.receive()
                if msg.type is WSMsgType.TEXT:
                    peer._receive(Frame("message", msg.data))
                elif msg.type is WSMsgType.BINARY:
                    peer._receive(Frame("message", JsArrayBuffer(msg.data)))
                elif msg.type is WSMsgType.CLOSE:
                    # The client closed: reply at once (workerd's web_socket_auto_reply_to_close),
                    # then tell the app.
                    code = int(msg.data) if msg.data else 1005
                    reason = msg.extra or ""
                    self._closing = self._closing or Frame("close", code=code, reason="")
                    self._wakeup.set()
                    frame = Frame("close", code=code, reason=reason, clean=True)
                    break
                elif msg.type in (WSMsgType.CLOSING, WSMsgType.CLOSED):
                    if self._closing is not None and self._writer is not None:
                        # The app closed: our close() completes the handshake with the client.
                        await asyncio.shield(self._writer)
                        code = ws.close_code or 1006
                        frame = Frame("close", code=code, reason="", clean=code != 1006)
                    else:
                        # The connection dropped, or the server is shutting down.
                        frame = Frame("close", code=1006, reason=DISCONNECTED, clean=False)
                    break
                elif msg.type is WSMsgType.ERROR:
                    frame = Frame("close", code=1006, reason=DISCONNECTED, clean=False)
                    break
                if peer.pending_frames > MAX_PENDING_FRAMES:
                    await peer.drained()  # back pressure on a client sending faster than the app handles
        except asyncio.CancelledError:
            frame = Frame("close", code=1006, reason=DISCONNECTED, clean=False)
            raise
        finally:
            if frame is None:
                frame = Frame("close", code=1006, reason=DISCONNECTED, clean=False)
            if not peer._closed_incoming:
                peer._receive(frame)
            writer = self._writer
            if writer is not None and not writer.done():
                if self._closing is None:
                    writer.cancel()
                else:
                    try:
                        await asyncio.wait_for(asyncio.shield(writer), timeout=5)
                    except (TimeoutError, asyncio.CancelledError):
                        writer.cancel()
            if not ws.closed:
                await ws.close()
            self.end._connection = None


class WebSocketPair(JsProxy):
    """``WebSocketPair.new()`` (Pyodide) or ``WebSocketPair()``: ``client, server = pair``.

    Also ``pair.object_values()`` (the chat-room example) and ``pair[0]`` / ``pair[1]``.
    """

    js_type_name = "WebSocketPair"

    def __init__(self) -> None:
        client, server = WebSocket(), WebSocket()
        client._peer, server._peer = server, client
        self.client, self.server = client, server

    @classmethod
    def new(cls) -> WebSocketPair:
        return cls()

    def object_values(self) -> JsArray:
        return JsArray([self.client, self.server])

    def __iter__(self) -> Iterator[WebSocket]:
        return iter((self.client, self.server))

    def __getitem__(self, index: Any) -> WebSocket:
        return (self.client, self.server)[int(index)]

    def __len__(self) -> int:
        return 2

    def __repr__(self) -> str:
        return "<WebSocketPair>"


class WebSocketRequestResponsePair(JsProxy):
    """``ctx.setWebSocketAutoResponse(WebSocketRequestResponsePair.new(request, response))``."""

    js_type_name = "WebSocketRequestResponsePair"

    def __init__(self, request: str, response: str) -> None:
        if not isinstance(request, str) or not isinstance(response, str):
            raise _error("WebSocketRequestResponsePair expects two strings.", "TypeError")
        self.request = request
        self.response = response

    @classmethod
    def new(cls, request: str, response: str) -> WebSocketRequestResponsePair:
        return cls(request, response)

    def __repr__(self) -> str:
        return f"WebSocketRequestResponsePair({self.request!r}, {self.response!r})"
