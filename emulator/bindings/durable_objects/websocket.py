"""The hibernation API of Durable Objects over the runtime's WebSockets.

``WebSocketPair`` and ``WebSocket`` are the runtime's (``emulator.runtime.websocket``): a
WebSocket is not specific to Durable Objects. What is: ``ctx.acceptWebSocket(ws, tags)``
(the object takes the socket's frames as ``webSocketMessage`` / ``webSocketClose`` /
``webSocketError`` events, delivered by ``ObjectActor.hibernatable_event`` through its gate,
in order, one after another per socket), tags, ``ctx.getWebSockets(tag)``, and
``ctx.setWebSocketAutoResponse`` (one exact text frame answered without waking the object).
The socket belongs to the object, not to its instance: it stays connected when the object
is evicted (hibernates), and the next frame constructs the object again
(docs/durable_objects.md, "WebSockets").
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any

from emulator.bindings.durable_objects.errors import DurableObjectError
from emulator.bindings.durable_objects.serialize import ms_date
from emulator.runtime.websocket import (
    WebSocket,
    WebSocketPair,
    WebSocketRequestResponsePair,
)

if TYPE_CHECKING:
    from emulator.bindings.durable_objects.actor import ObjectActor

__all__ = ["JsDate", "WebSocket", "WebSocketPair", "WebSocketRequestResponsePair", "accept_hibernatable",
           "auto_response_timestamp", "check_auto_response", "tags_of"]

MAX_TAGS = 10
MAX_TAG_LENGTH = 256
MAX_SOCKETS_PER_OBJECT = 32768
MAX_AUTO_RESPONSE_BYTES = 2048


class JsDate(_dt.datetime):
    """A JS ``Date`` handed to Python: a naive UTC ``datetime`` with ``getTime()`` (ms)."""

    def getTime(self) -> int:  # noqa: N802 - JS spelling
        from emulator.bindings.durable_objects.serialize import date_ms

        return date_ms(self)


def _js_date(ms: int) -> JsDate:
    d = ms_date(ms)
    return JsDate(d.year, d.month, d.day, d.hour, d.minute, d.second, d.microsecond)



def check_auto_response(pair: WebSocketRequestResponsePair) -> None:
    for what, text in (("Request", pair.request), ("Response", pair.response)):
        size = len(text.encode("utf-8"))
        if size > MAX_AUTO_RESPONSE_BYTES:
            raise DurableObjectError(f"{what} cannot be larger than {MAX_AUTO_RESPONSE_BYTES} bytes. A "
                                     f"{what.lower()} of size {size} was provided.", "RangeError")


def accept_hibernatable(actor: ObjectActor, ws: Any, tags: Any) -> None:
    """``ctx.acceptWebSocket(ws, tags)``: the object takes the socket's events."""
    if not isinstance(ws, WebSocket):
        raise DurableObjectError("acceptWebSocket() expects a WebSocket (an end of a WebSocketPair).", "TypeError")
    if ws.mode == "standard":
        raise DurableObjectError("Cannot call `acceptWebSocket()` if the WebSocket was already accepted via "
                                 "`accept()`")
    if ws.mode is not None or ws.released or (ws.peer is not None and ws.peer.mode in ("standard",
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
    actor.hibernatable.append(ws)
    ws.hibernate_with(actor, tuple(distinct))
    actor.namespace.sockets_changed(actor)


def tags_of(ws: Any) -> list[str]:
    if not isinstance(ws, WebSocket) or ws.mode not in ("standard", "hibernatable"):
        raise DurableObjectError("you must call 'acceptWebSocket()' before attempting to access the tags of a "
                                 "WebSocket.")
    if ws.mode != "hibernatable":
        raise DurableObjectError("only hibernatable websockets can have tags.")
    return list(ws.tags)


def auto_response_timestamp(ws: Any) -> JsDate | None:
    if not isinstance(ws, WebSocket) or ws.auto_response_ms is None:
        return None
    return _js_date(ws.auto_response_ms)
