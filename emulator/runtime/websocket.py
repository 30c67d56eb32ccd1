"""``WebSocketPair``: the two connected ends of a WebSocket, as Workers code uses them.

A Worker accepts a WebSocket by creating a pair, keeping the ``server`` end (``accept()``,
``send()``, ``close()``, ``addEventListener("message", ...)``) and returning the
``client`` end in ``Response(None, status=101, web_socket=client)``. The runtime then
connects the client end to the real connection (``bridge``): what the browser sends
arrives as ``message`` events on the server end, and what the server end sends goes to the
browser (docs/python-workers.md, "Interop"). Two ends that are never returned talk to each
other directly, which is also how workerd behaves.

Event listeners run as the app that added them (its ``workers.env``, its log); a listener
may be a plain function or a coroutine function.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
from typing import TYPE_CHECKING, Any, Callable

from emulator.runtime.jsproxy import JsArray, JsArrayBuffer, JsObjectProxy, JsProxy, PyProxy

if TYPE_CHECKING:
    from aiohttp import web

logger = logging.getLogger("cf_emulator.websocket")

CONNECTING, OPEN, CLOSING, CLOSED = 0, 1, 2, 3
_tasks: set["asyncio.Task[Any]"] = set()


class WebSocketEvent(JsObjectProxy):
    """A ``MessageEvent`` / ``CloseEvent`` / ``ErrorEvent``: ``type``, ``data``, ``code``, ..."""


class WebSocket(JsProxy):
    """One end of a ``WebSocketPair``."""

    __slots__ = ("_peer", "_listeners", "_handlers", "_accepted", "_pending", "readyState", "binaryType",
                 "_transport", "_contexts", "url", "protocol", "extensions", "__weakref__")
    js_type_name = "WebSocket"
    CONNECTING, OPEN, CLOSING, CLOSED = CONNECTING, OPEN, CLOSING, CLOSED

    def __init__(self) -> None:
        self._peer: WebSocket | None = None
        self._listeners: dict[str, list[tuple[Any, contextvars.Context]]] = {}
        self._handlers: dict[str, tuple[Any, contextvars.Context]] = {}
        self._accepted = False
        self._pending: list[WebSocketEvent] = []
        self.readyState = OPEN
        self.binaryType = "blob"
        self._transport: _Transport | None = None
        self.url: str | None = None
        self.protocol = ""
        self.extensions = ""

    # -- listeners ---------------------------------------------------------------------
    def addEventListener(self, type: str, listener: Any, options: Any = None) -> None:  # noqa: N802 - JS
        self._listeners.setdefault(type, []).append((listener, contextvars.copy_context()))

    def removeEventListener(self, type: str, listener: Any, options: Any = None) -> None:  # noqa: N802
        self._listeners[type] = [(fn, ctx) for fn, ctx in self._listeners.get(type, []) if fn is not listener]

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("onmessage", "onclose", "onerror", "onopen"):
            self._handlers[name[2:]] = (value, contextvars.copy_context())
            return
        object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        if name in ("onmessage", "onclose", "onerror", "onopen"):
            handler = self._handlers.get(name[2:])
            return handler[0] if handler else None
        raise AttributeError(name)

    def accept(self) -> None:
        """Start delivering events (those that arrived before are delivered now)."""
        if self._accepted:
            return
        self._accepted = True
        pending, self._pending = self._pending, []
        for event in pending:
            self._dispatch(event)

    # -- sending -------------------------------------------------------------------------
    def send(self, message: Any) -> None:
        if self.readyState != OPEN:
            raise _js_error("TypeError", "Can't call WebSocket send() after close().")
        data = message if isinstance(message, str) else bytes(message)
        peer = self._peer
        if peer is None:
            return
        if peer._transport is not None:
            peer._transport.send(data)
        else:
            peer._receive(data)

    def close(self, code: int = 1000, reason: str = "") -> None:
        if self.readyState in (CLOSING, CLOSED):
            return
        self.readyState = CLOSED
        peer = self._peer
        if peer is None:
            return
        if peer._transport is not None:
            peer._transport.close(code, reason)
        elif peer.readyState != CLOSED:
            peer.readyState = CLOSED
            peer._deliver(WebSocketEvent(type="close", code=code, reason=reason, wasClean=True))

    def deserializeAttachment(self) -> Any:  # noqa: N802 - hibernation API, DO only
        raise NotImplementedError("WebSocket attachments need Durable Objects, which cf-emulator does not emulate yet")

    # -- delivery ------------------------------------------------------------------------
    def _receive(self, data: Any) -> None:
        if isinstance(data, (bytes, bytearray)):
            data = JsArrayBuffer(bytes(data))
        self._deliver(WebSocketEvent(type="message", data=data))

    def _deliver(self, event: WebSocketEvent) -> None:
        if not self._accepted and self._transport is None:
            self._pending.append(event)
            return
        self._dispatch(event)

    def _dispatch(self, event: WebSocketEvent) -> None:
        targets = list(self._listeners.get(event["type"], []))
        handler = self._handlers.get(event["type"])
        if handler is not None:
            targets.append(handler)
        for listener, ctx in targets:
            ctx.run(_call_listener, listener, event)

    def __repr__(self) -> str:
        return f"WebSocket {{ readyState: {self.readyState} }}"


def _call_listener(listener: Any, event: WebSocketEvent) -> None:
    fn = listener._obj if isinstance(listener, PyProxy) else listener
    handle = getattr(fn, "handleEvent", None)
    try:
        result = (handle or fn)(event)
    except Exception:  # noqa: BLE001 - an app listener's error must not break the socket
        logger.exception("WebSocket event listener failed")
        return
    if inspect.isawaitable(result):
        task = asyncio.ensure_future(result)
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)


def _js_error(name: str, message: str) -> Exception:
    from emulator.runtime.jsproxy import JsException

    return JsException(name, message)


class WebSocketPair(JsProxy):
    """``WebSocketPair.new()``: ``client, server = pair`` or ``pair.object_values()``."""

    __slots__ = ("client", "server")
    js_type_name = "WebSocketPair"

    def __init__(self) -> None:
        self.client = WebSocket()
        self.server = WebSocket()
        self.client._peer, self.server._peer = self.server, self.client

    def object_values(self) -> JsArray:
        return JsArray([self.client, self.server])

    def __iter__(self) -> Any:
        return iter((self.client, self.server))

    def __getitem__(self, index: int) -> WebSocket:
        return (self.client, self.server)[index]


class _Transport:
    """The real connection behind a client end: an aiohttp ``WebSocketResponse``."""

    def __init__(self, ws: "web.WebSocketResponse") -> None:
        self.ws = ws
        self._outbox: asyncio.Queue[Any] = asyncio.Queue()
        self.closed = asyncio.Event()

    def send(self, data: str | bytes) -> None:
        self._outbox.put_nowait(data)

    def close(self, code: int, reason: str) -> None:
        self._outbox.put_nowait(("close", code, reason))

    async def pump_out(self) -> None:
        while True:
            item = await self._outbox.get()
            if isinstance(item, tuple):
                _, code, reason = item
                await self.ws.close(code=code, message=reason.encode())
                self.closed.set()
                return
            if isinstance(item, str):
                await self.ws.send_str(item)
            else:
                await self.ws.send_bytes(item)


async def bridge(client: WebSocket, request: "web.Request", on_error: Callable[[str], None]) -> "web.StreamResponse":
    """Connect ``client`` (returned in a 101 response) to the incoming connection."""
    from aiohttp import WSMsgType, web

    ws = web.WebSocketResponse(autoclose=False)
    await ws.prepare(request)
    transport = _Transport(ws)
    client._transport = transport
    server = client._peer
    # What the server end sent before the response went out (history, a welcome line).
    pending, client._pending = client._pending, []
    for event in pending:
        if event["type"] == "message":
            data = event["data"]
            transport.send(data if isinstance(data, str) else bytes(data))
        elif event["type"] == "close":
            transport.close(event["code"], event["reason"])
    out = asyncio.ensure_future(transport.pump_out())
    try:
        async for msg in ws:
            if server is None:
                continue
            if msg.type == WSMsgType.TEXT:
                server._receive(msg.data)
            elif msg.type == WSMsgType.BINARY:
                server._receive(msg.data)
            elif msg.type == WSMsgType.CLOSE:
                break
            elif msg.type == WSMsgType.ERROR:
                server._deliver(WebSocketEvent(type="error", error=str(ws.exception())))
        code = ws.close_code or 1005
        if server is not None and server.readyState != CLOSED:
            server.readyState = CLOSED
            server._deliver(WebSocketEvent(type="close", code=code, reason="", wasClean=True))
        if not ws.closed:
            await ws.close(code=1000 if code == 1005 else code)
    except Exception as exc:  # noqa: BLE001 - report, then close
        on_error(f"WebSocket connection failed: {type(exc).__name__}: {exc}")
    finally:
        out.cancel()
    return ws
