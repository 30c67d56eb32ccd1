"""What app code sees: the producer on ``env.Q`` and the batch handed to ``queue(batch)``.

Names and call shapes are Cloudflare's as Python Workers code uses them (keyword arguments
become the JS options object; a dict of options as the second positional argument works too)::

    await self.env.Q.send({"id": 1}, contentType="json", delaySeconds=30)
    await self.env.Q.sendBatch([{"body": "a"}, {"body": b"\\x00", "contentType": "bytes"}], delaySeconds=5)

    async def queue(self, batch):
        for msg in batch.messages:
            msg.ack()                     # or msg.retry(delaySeconds=10)
        batch.ackAll() / batch.retryAll(delaySeconds=10)

The state (messages, batching, retries) lives in ``engine.QueueBroker``; these objects only
validate arguments and record the consumer's decisions ("first call wins", with workerd's
warning texts).
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from collections.abc import Callable, Iterator

from emulator.bindings.queues.config import MAX_DELAY_SECONDS
from emulator.bindings.queues.errors import QueueSendError
from emulator.jsobject import JsObject

if TYPE_CHECKING:
    from emulator.bindings.queues.engine import QueueBroker, StoredMessage

# workerd declares delaySeconds as a C++ `int`; JS numbers outside it are a TypeError.
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


class _Missing:
    def __repr__(self) -> str:
        return "undefined"


MISSING: Any = _Missing()


def _js_number_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def js_int(value: Any) -> Any:
    """A number as workerd receives an ``int`` option such as ``delaySeconds`` (jsg's conversion).

    A fraction is truncated toward zero (1.9 → 1, -0.5 → 0), NaN and ±Infinity become 0, and a
    number outside the 32-bit range is a TypeError with jsg's text. Anything that is not a
    number is returned as is, for ``delay_error`` to refuse (docs/queues.md "Limits and edge cases").
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return 0
    if not _INT32_MIN <= value <= _INT32_MAX:
        raise TypeError(f"Value out of range. Must be between {_INT32_MIN} and {_INT32_MAX} (inclusive).")
    return int(value)


def delay_error(value: Any) -> str | None:
    """The broker's validator text for a bad delay (zod wording), or None if it is valid.

    ``value`` is a delay after ``js_int``: a whole number of seconds, 0 to ``MAX_DELAY_SECONDS``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        received = "NaN" if isinstance(value, str) else type(value).__name__
        return f"Invalid input: expected number, received {received}"
    if value < 0:
        return "Too small: expected number to be >=0"
    if value > MAX_DELAY_SECONDS:
        return f"Too big: expected number to be <={MAX_DELAY_SECONDS}"
    return None


def check_delay(value: Any, operation: str) -> int | None:
    """A delay as the broker takes it (``js_int``, then its range); None stays None (= use the next default)."""
    if value is None:
        return None
    value = js_int(value)
    problem = delay_error(value)
    if problem is not None:
        raise QueueSendError(f"Queue {operation} failed: message delay {_js_number_text(value)} is invalid: {problem}")
    return int(value)


def check_delays(requests: list[tuple[str, bytes, Any]], operation: str) -> list[tuple[str, bytes, Any]]:
    """``encode_bodies``' output with each message's delay through ``check_delay``.

    The same list when no message has a delay of its own (the common case costs one scan).
    """
    if all(delay is None for _, _, delay in requests):
        return requests
    return [(ct, data, check_delay(delay, operation)) for ct, data, delay in requests]


def _option(options: Any, name: str, keyword: Any) -> Any:
    """A JS-style option: keyword argument first, else a key of the positional options dict."""
    if keyword is not None:
        return keyword
    if options is None:
        return None
    if isinstance(options, (dict, Mapping)):
        return options.get(name)
    return getattr(options, name, None)


def _batch_item(item: Any) -> tuple[Any, Any, Any]:
    """(body, contentType, delaySeconds) of one ``sendBatch`` entry (a dict, or an object)."""
    if isinstance(item, (dict, Mapping)):
        if "body" not in item:
            raise TypeError("Message body cannot be undefined")
        return item["body"], item.get("contentType"), item.get("delaySeconds")
    body = getattr(item, "body", MISSING)
    if body is MISSING:
        raise TypeError("Message body cannot be undefined")
    return body, getattr(item, "contentType", None), getattr(item, "delaySeconds", None)


class QueueProducerBinding:
    """``env.<BINDING>`` for a ``[[queues.producers]]`` entry."""

    def __init__(self, broker: QueueBroker, queue: str, delivery_delay: int | None = None) -> None:
        self._broker = broker
        self._queue = queue
        self._delivery_delay = delivery_delay

    @property
    def queue_name(self) -> str:
        return self._queue

    def _default_delay(self) -> int:
        # docs/queues.md, "Delivery rules": options.delaySeconds ?? producer deliveryDelay ?? 0
        if self._delivery_delay is not None:
            return self._delivery_delay
        return self._broker.delivery_delay(self._queue)

    async def send(self, body: Any = MISSING, options: Any = None, *,
                   contentType: str | None = None, delaySeconds: float | None = None) -> JsObject:  # noqa: N803 - JS spelling
        if body is MISSING:
            raise TypeError("Message body cannot be undefined")
        # Delays are checked by the broker after the body is serialized: workerd's TypeErrors
        # (client side) come before the broker's validation errors.
        return await self._broker.send(
            self._queue,
            [(body, _option(options, "contentType", contentType), _option(options, "delaySeconds", delaySeconds))],
            default_delay=self._default_delay(),
            operation="send",
        )

    async def sendBatch(self, messages: Any, options: Any = None, *,  # noqa: N802 - JS spelling
                        delaySeconds: float | None = None) -> JsObject:  # noqa: N803 - JS spelling
        items = list(messages) if messages is not None else []
        if not items:
            raise TypeError("sendBatch() requires at least one message")
        requests: list[tuple[Any, Any, Any]] = []
        append = requests.append
        for item in items:
            if type(item) is dict and "body" in item:  # the usual shape, without the call
                append((item["body"], item.get("contentType"), item.get("delaySeconds")))
            else:
                append(_batch_item(item))
        return await self._broker.send(self._queue, requests, default_delay=self._default_delay(),
                                       operation="sendBatch",
                                       batch_delay=_option(options, "delaySeconds", delaySeconds))

    def __repr__(self) -> str:
        return f"<Queue producer for {self._queue!r}>"


# --- consumer side ----------------------------------------------------------------------

_ACK = 1
_RETRY = 2


def _retry_delay(options: Any, delaySeconds: Any) -> int | None:  # noqa: N803 - JS spelling
    value = _option(options, "delaySeconds", delaySeconds)
    if value is None:
        return None
    # Truncated like a send's delay: workerd declares retry's delaySeconds as an `int` too.
    value = js_int(value)
    problem = delay_error(value)
    if problem is not None:
        raise ValueError(f"delaySeconds {_js_number_text(value)} is invalid: {problem}")
    return int(value)


class _BatchDecisions:
    """The batch-wide calls (``ackAll``/``retryAll``), shared by the batch and its messages.

    Messages point here rather than at their batch, so a batch and its messages form no
    reference cycle and are freed as soon as the handler lets go of them (no GC pass needed
    per batch on the hot path).
    """

    __slots__ = ("all", "all_delay", "warn")

    def __init__(self, warn: Callable[[str], object]) -> None:
        self.all = 0
        self.all_delay: int | None = None
        self.warn = warn


class Message:
    """One message of a batch: ``id``, ``timestamp``, ``body``, ``attempts``, ``ack()``, ``retry()``."""

    __slots__ = ("id", "timestamp", "body", "attempts", "_batch", "_record", "_decision", "_delay")

    def __init__(self, batch: _BatchDecisions, record: StoredMessage, body: Any,
                 timestamp: _dt.datetime | None = None) -> None:
        self.id: str = record.id
        self.timestamp: _dt.datetime = timestamp or _dt.datetime.fromtimestamp(
            record.timestamp_ms / 1000, tz=_dt.UTC)
        self.body: Any = body
        self.attempts: int = record.attempts
        self._batch = batch
        self._record = record
        self._decision = 0
        self._delay: int | None = None

    def ack(self) -> None:
        batch = self._batch
        if batch.all == _ACK:
            return  # workerd ignores it silently: the message is acked already
        if batch.all == _RETRY:
            batch.warn(
                f"Received a call to ack() on message {self.id} after retryAll() was already called. "
                "Calling ack() on a message after calling retryAll() has no effect."
            )
            return
        if self._decision == _RETRY:
            batch.warn(
                f"Received a call to ack() on message {self.id} after retry() was already called. "
                "Calling ack() on a message after calling retry() has no effect."
            )
            return
        self._decision = _ACK

    def retry(self, options: Any = None, *, delaySeconds: float | None = None) -> None:  # noqa: N803 - JS spelling
        delay = _retry_delay(options, delaySeconds)
        batch = self._batch
        if batch.all == _ACK:
            batch.warn(
                f"Received a call to retry() on message {self.id} after ackAll() was already called. "
                "Calling retry() on a message after calling ackAll() has no effect."
            )
            return
        if self._decision == _ACK:
            batch.warn(
                f"Received a call to retry() on message {self.id} after ack() was already called. "
                "Calling retry() on a message after calling ack() has no effect."
            )
            return
        # Not blocked by a prior retryAll(); a later retry() overwrites the delay.
        self._decision = _RETRY
        self._delay = delay

    def __repr__(self) -> str:
        return f"<Message id={self.id} attempts={self.attempts} body={self.body!r:.60}>"


class MessageBatch:
    """What ``queue(batch)`` receives: ``queue``, ``messages``, ``ackAll()``, ``retryAll()``."""

    def __init__(self, queue: str, records: list[StoredMessage], bodies: list[Any],
                 warn: Callable[[str], object], metadata: JsObject | None = None) -> None:
        self.queue = queue
        self._decisions = decisions = _BatchDecisions(warn)
        self.metadata = metadata if metadata is not None else JsObject()
        # Messages of one send share a timestamp: build each datetime once.
        stamps: dict[int, _dt.datetime] = {}
        for ms in {r.timestamp_ms for r in records}:
            stamps[ms] = _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.UTC)
        self.messages: list[Message] = [
            Message(decisions, r, body, stamps[r.timestamp_ms]) for r, body in zip(records, bodies, strict=True)]

    def ackAll(self) -> None:  # noqa: N802 - JS spelling
        decisions = self._decisions
        if decisions.all == _RETRY:
            decisions.warn(
                "Received a call to ackAll() after retryAll() was already called. "
                "Calling ackAll() after calling retryAll() has no effect."
            )
            return
        decisions.all = _ACK

    def retryAll(self, options: Any = None, *, delaySeconds: float | None = None) -> None:  # noqa: N802, N803 - JS spelling
        delay = _retry_delay(options, delaySeconds)
        decisions = self._decisions
        if decisions.all == _ACK:
            decisions.warn(
                "Received a call to retryAll() after ackAll() was already called. "
                "Calling retryAll() after calling ackAll() has no effect."
            )
            return
        decisions.all = _RETRY
        decisions.all_delay = delay

    def __len__(self) -> int:
        return len(self.messages)

    def __iter__(self) -> Iterator[Message]:
        return iter(self.messages)

    def __repr__(self) -> str:
        return f"<MessageBatch queue={self.queue!r} messages={len(self.messages)}>"

    def outcome(self, handler_failed: bool) -> list[tuple[Message, bool, int | None]]:
        """Per message: (message, retried?, explicit retry delay) — production semantics.

        Explicit ``ack()``/``ackAll()`` always hold, even when the handler raised (in
        production acked messages are never redelivered; Miniflare retries them too). A
        message left undecided is acked when the handler returned and retried when it raised.
        """
        result: list[tuple[Message, bool, int | None]] = []
        batch_all = self._decisions.all
        all_delay = self._decisions.all_delay
        for msg in self.messages:
            if msg._decision == _ACK:
                result.append((msg, False, None))
            elif msg._decision == _RETRY:
                result.append((msg, True, msg._delay if msg._delay is not None else all_delay))
            elif batch_all == _ACK:
                result.append((msg, False, None))
            elif batch_all == _RETRY:
                result.append((msg, True, all_delay))
            else:
                result.append((msg, handler_failed, None))
        return result
