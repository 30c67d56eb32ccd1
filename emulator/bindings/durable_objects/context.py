"""``ctx`` of a Durable Object (the SDK's ``DurableObjectContext``): id, storage, gates, WebSockets.

One ``DurableObjectState`` per activation: a re-constructed object gets a fresh one, while
what belongs to the object itself (storage, accepted WebSockets, the auto-response) lives
on its ``ObjectActor`` and survives eviction (docs/durable_objects.md, "The class").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from collections.abc import Awaitable, Callable

from emulator.bindings.durable_objects.actor import ABORTED
from emulator.bindings.durable_objects.entrypoint import DurableObjectAbort
from emulator.bindings.durable_objects.errors import DurableObjectError
from emulator.bindings.durable_objects.storage import DurableObjectStorage
from emulator.bindings.durable_objects.websocket import (
    WebSocket,
    WebSocketRequestResponsePair,
    accept_hibernatable,
    auto_response_timestamp,
    check_auto_response,
    tags_of,
)
from emulator.jsobject import JsObject

if TYPE_CHECKING:
    import asyncio

    from emulator.bindings.durable_objects.actor import ObjectActor

MAX_EVENT_TIMEOUT_MS = 604800 * 1000


class DurableObjectState:
    """``self.ctx`` of a Durable Object."""

    def __init__(self, actor: ObjectActor) -> None:
        self._actor = actor
        self.id = actor.id
        self.storage = DurableObjectStorage(actor)
        self.props = JsObject()

    def waitUntil(self, awaitable: Awaitable[Any]) -> None:  # noqa: N802 - JS spelling
        """Keep work running after the event returned (the object is not evicted meanwhile)."""
        self._actor.wait_until(awaitable)


    def blockConcurrencyWhile(self, callback: Callable[[], Any]) -> asyncio.Task[Any]:  # noqa: N802 - JS spelling
        """Run ``callback`` while no other event is delivered; awaitable for its result."""
        if not callable(callback):
            raise DurableObjectError("blockConcurrencyWhile() expects a function.", "TypeError")
        return self._actor.block_concurrency_while(callback)


    def abort(self, reason: str | None = None) -> None:
        """Reset the object now: unconfirmed writes are dropped, calls in flight fail."""
        self._actor.reset(DurableObjectError(reason if reason is not None else ABORTED, reset=True))
        raise DurableObjectAbort(reason or "Durable Object abort requested")

    # --- WebSockets (hibernation API) --------------------------------------------------------------
    def acceptWebSocket(self, ws: Any, tags: Any = None) -> None:  # noqa: N802 - JS spelling
        accept_hibernatable(self._actor, ws, tags)

    def getWebSockets(self, tag: str | None = None) -> list[WebSocket]:  # noqa: N802 - JS spelling
        return [ws for ws in self._actor.hibernatable if tag is None or tag in ws.tags]

    def getTags(self, ws: Any) -> list[str]:  # noqa: N802 - JS spelling
        return tags_of(ws)

    def setWebSocketAutoResponse(self, pair: Any = None) -> None:  # noqa: N802 - JS spelling
        if pair is None:
            self._actor.auto_response = None
            return
        if not isinstance(pair, WebSocketRequestResponsePair):
            raise DurableObjectError("setWebSocketAutoResponse() expects a WebSocketRequestResponsePair.",
                                     "TypeError")
        check_auto_response(pair)
        self._actor.auto_response = pair

    def getWebSocketAutoResponse(self) -> WebSocketRequestResponsePair | None:  # noqa: N802 - JS spelling
        return self._actor.auto_response  # type: ignore[no-any-return]  # the actor keeps it untyped (set by this class only)

    def getWebSocketAutoResponseTimestamp(self, ws: Any) -> Any:  # noqa: N802 - JS spelling
        return auto_response_timestamp(ws)

    def setHibernatableWebSocketEventTimeout(self, timeout_ms: int | None = None) -> None:  # noqa: N802 - JS spelling
        if not timeout_ms:
            self._actor.event_timeout_ms = None
            return
        if timeout_ms > MAX_EVENT_TIMEOUT_MS:
            raise DurableObjectError("Event timeout should not exceed 604800000 ms.")
        self._actor.event_timeout_ms = int(timeout_ms)

    def getHibernatableWebSocketEventTimeout(self) -> int | None:  # noqa: N802 - JS spelling
        return self._actor.event_timeout_ms

    def __repr__(self) -> str:
        return f"<DurableObjectState {self._actor.describe()}>"
