"""The queue broker: messages, batching, retries and dead-letter queues, durable in SQLite.

Semantics follow Cloudflare production where Miniflare differs (see README "Parity notes"):

- a batch flushes when ``max_batch_size`` messages are visible, or ``max_batch_timeout``
  seconds after the first message of the batch became visible (later arrivals do not extend
  it); with a timeout of 0 each message that becomes visible on its own is dispatched at once;
- explicit ``ack()``/``ackAll()`` always hold; a handler that raises retries every message
  that was not explicitly acked; after ``max_retries + 1`` failed deliveries a message moves
  to the dead-letter queue (same id and timestamp, attempts back to 1) or is dropped;
- at most ``max_concurrency`` batches of one queue are in flight (1 when unset);
- a message leaves the store only when acked, moved or dropped, so after a crash every
  unacked message — including those that were in flight — is delivered again.

Memory holds the working set (bodies included) for speed; SQLite (``store.MessageStore``) holds
the truth. A ``send`` returns only after its rows are committed; acks, retries and moves are
written behind (group-committed) because losing one of those in a crash only means a
redelivery, which at-least-once delivery allows. Every timer goes through the platform clock.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import heapq
import os
import random
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

from emulator.bindings.queues.binding import Message, MessageBatch, QueueProducerBinding, QueueSendError, check_delay
from emulator.bindings.queues.config import QueueConsumer
from emulator.bindings.queues.serialize import decode_bodies, encode_bodies, preview
from emulator.bindings.queues.store import TOTAL_KEYS, MessageStore, Row
from emulator.clock import Clock, TimerHandle
from emulator.errors import EmulatorError
from emulator.jsobject import JsObject
from emulator.logs import EventLog

# Cloudflare limits (workerd / Miniflare broker constants).
MAX_MESSAGE_BYTES = 128 * 1000
MAX_BATCH_MESSAGES = 100
MAX_BATCH_BYTES = (256 + 32) * 1000

# Backpressure: a producer waits (never fails) while this much is queued for the disk.
PENDING_BYTES_HIGH_WATER = 64 * 1024 * 1024
PENDING_ROWS_HIGH_WATER = 50_000

PENDING, VISIBLE, DELAYED, IN_FLIGHT, GONE = range(5)
_STATE_NAMES = {PENDING: "pending", VISIBLE: "visible", DELAYED: "delayed", IN_FLIGHT: "in_flight", GONE: "gone"}

BatchHandler = Callable[[MessageBatch], Awaitable[None]]


class QueuesError(EmulatorError):
    """A queue configuration the platform refuses (Miniflare's ``QueuesError``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class QueueNotFound(LookupError):
    pass


@dataclass(slots=True, eq=False)
class StoredMessage:
    seq: int
    id: str
    queue: str
    timestamp_ms: int
    content_type: str
    body: bytes
    attempts: int  # attempt number of the next delivery (1 = never failed)
    visible_at: float
    state: int = PENDING

    def row(self) -> Row:
        return (self.seq, self.id, self.queue, self.timestamp_ms, self.content_type, self.body,
                self.attempts, self.visible_at)


@dataclass(eq=False)
class _Queue:
    name: str
    visible: deque[StoredMessage] = field(default_factory=deque)
    visible_bytes: int = 0
    in_flight: dict[int, StoredMessage] = field(default_factory=dict)
    in_flight_batches: int = 0
    delayed: int = 0
    consumer: QueueConsumer | None = None
    handler: BatchHandler | None = None
    owner: str | None = None
    # The DLQ named by this queue's consumer config, known even before a handler registers.
    dead_letter_queue: str | None = None
    flush_timer: TimerHandle | None = None
    flush_deadline: float = 0.0
    # `queues pause-delivery`: messages accumulate (sends, retries, dead letters still
    # arrive); nothing is dispatched until resumed, then in order (docs/cli.md, "queues").
    paused: bool = False
    totals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOTAL_KEYS, 0))

    @property
    def max_concurrency(self) -> int:
        c = self.consumer
        return max(1, c.max_concurrency) if c is not None and c.max_concurrency else 1


# Ids need uniqueness, not secrecy: a generator seeded from the OS once is ~50x cheaper per
# id than os.urandom here, and 128 random bits make a collision practically impossible.
_id_source = random.Random(os.urandom(32))


def _new_ids(n: int) -> list[str]:
    """Message ids: 16 random bytes as 32 lowercase hex chars, like Cloudflare's."""
    raw = _id_source.randbytes(16 * n).hex()
    return [raw[i:i + 32] for i in range(0, 32 * n, 32)]


def _iso(ms: int) -> str:
    return _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.timezone.utc).isoformat().replace("+00:00", "Z")


def validate_consumer(consumer: QueueConsumer) -> None:
    """Ranges the broker enforces (Miniflare's schema; production's documented limits)."""
    q = consumer.queue
    checks: list[tuple[str, float, float, float]] = [
        ("max_batch_size", consumer.max_batch_size, 1, MAX_BATCH_MESSAGES),
        ("max_batch_timeout", consumer.max_batch_timeout, 0, 60),
        ("max_retries", consumer.max_retries, 0, 100),
        ("retry_delay", consumer.retry_delay, 0, 86400),
    ]
    if consumer.max_concurrency is not None:
        checks.append(("max_concurrency", consumer.max_concurrency, 1, 250))
    for key, value, low, high in checks:
        if not low <= value <= high:
            raise QueuesError(
                "ERR_VALIDATION",
                f'Invalid consumer for queue "{q}": "{key}" must be between {low:g} and {high:g}, got {value}',
            )
    if consumer.dead_letter_queue is not None and consumer.dead_letter_queue == q:
        raise QueuesError("ERR_DEAD_LETTER_QUEUE_CYCLE", f'Dead letter queue for queue "{q}" cannot be itself')


class QueueBroker:
    """Every queue of the platform, in one SQLite file."""

    def __init__(self, path: Path, clock: Clock, log: EventLog) -> None:
        self.path = Path(path)
        self.clock = clock
        self.log = log
        self._store = MessageStore(self.path, on_error=lambda exc: self.log.error(
            "queues", f"Writing the queue store {self.path} failed: {type(exc).__name__}: {exc}"))
        self._queues: dict[str, _Queue] = {}
        self._delivery_delays: dict[str, int] = {}
        self._delayed: list[tuple[float, int, StoredMessage]] = []
        self._delay_timer: TimerHandle | None = None
        self._delay_deadline: float | None = None
        self._next_seq = 1
        self._opened: asyncio.Future[None] | None = None
        self._sends_in_progress = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # --- lifecycle ----------------------------------------------------------------------
    async def open(self) -> None:
        """Open the store and restore every persisted message (in-flight ones become visible)."""
        if self._opened is not None:
            await self._opened
            return
        self._opened = asyncio.get_running_loop().create_future()
        try:
            rows, totals, next_seq = await self._store.open()
            paused = await self._store.paused_queues()
        except BaseException as exc:
            self._opened.set_exception(exc)
            self._opened.exception()  # mark retrieved; the caller gets `exc`
            raise
        self._next_seq = next_seq
        for name, values in totals.items():
            self._queue(name).totals.update(values)
        for name in paused:
            self._queue(name).paused = True
        now = self.clock.now()
        for seq, mid, queue, ts, ct, body, attempts, visible_at in rows:
            record = StoredMessage(seq, mid, queue, ts, ct, bytes(body), attempts, visible_at)
            q = self._queue(queue)
            if visible_at <= now:
                self._make_visible(q, record)
            else:
                self._push_delayed(q, record)
        self._opened.set_result(None)
        for q in list(self._queues.values()):
            self._pump(q)

    async def close(self) -> None:
        """Stop timers and deliveries; whatever is unacked stays in the store."""
        if self._closed:
            return
        self._closed = True
        for q in self._queues.values():
            if q.flush_timer is not None:
                q.flush_timer.cancel()
                q.flush_timer = None
        if self._delay_timer is not None:
            self._delay_timer.cancel()
            self._delay_timer = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._opened is not None and self._opened.done():
            await self._store.close()

    async def _ready(self) -> None:
        if self._closed:
            raise RuntimeError("the queue broker is stopped")
        if self._opened is None:
            await self.open()
        elif not self._opened.done():
            await self._opened

    # --- configuration ------------------------------------------------------------------
    def _queue(self, name: str) -> _Queue:
        q = self._queues.get(name)
        if q is None:
            q = self._queues[name] = _Queue(name)
        return q

    def declare(self, name: str, dead_letter_queue: str | None = None) -> None:
        """Make a queue known (listed even while empty); remember its consumer's DLQ."""
        q = self._queue(name)
        if dead_letter_queue is not None:
            q.dead_letter_queue = dead_letter_queue
            self._queue(dead_letter_queue)

    def set_delivery_delay(self, queue: str, seconds: int | None) -> None:
        """Queue-level default delay (the first producer's ``delivery_delay`` wins, §4.3)."""
        if seconds is not None and queue not in self._delivery_delays:
            self._delivery_delays[queue] = int(seconds)
        self._queue(queue)

    def delivery_delay(self, queue: str) -> int:
        return self._delivery_delays.get(queue, 0)

    def producer(self, queue_name: str, delivery_delay: int | None = None) -> QueueProducerBinding:
        """A producer binding (what ``env.Q`` is) for a queue."""
        self._queue(queue_name)
        return QueueProducerBinding(self, queue_name, delivery_delay)

    def register_consumer(self, consumer: QueueConsumer, handler: BatchHandler, owner: str) -> None:
        """Attach the one consumer of a queue; deliveries start at once if messages wait."""
        validate_consumer(consumer)
        q = self._queue(consumer.queue)
        if q.handler is not None and q.owner is not None:
            raise QueuesError(
                "ERR_MULTIPLE_CONSUMERS",
                f'Multiple consumers defined for queue "{consumer.queue}": "{q.owner}" and "{owner}"',
            )
        q.consumer, q.handler, q.owner = consumer, handler, owner
        q.dead_letter_queue = consumer.dead_letter_queue
        if consumer.dead_letter_queue:
            self._queue(consumer.dead_letter_queue)
        if self._opened is not None and self._opened.done():
            self._pump(q)

    def unregister_consumer(self, queue: str) -> None:
        q = self._queue(queue)
        if q.flush_timer is not None:
            q.flush_timer.cancel()
            q.flush_timer = None
        q.consumer = q.handler = q.owner = None

    def add_commit_listener(self, listener: Callable[[list[str]], None]) -> Callable[[], None]:
        """Call ``listener(ids)`` with the ids of acked messages once their removal is on disk."""
        self._store.commit_listeners.append(listener)
        return lambda: self._store.commit_listeners.remove(listener)

    # --- producing ----------------------------------------------------------------------
    def _metrics(self, q: _Queue) -> JsObject:
        oldest = q.visible[0].timestamp_ms if q.visible else None
        return JsObject(metadata=JsObject(metrics=JsObject(
            backlogCount=len(q.visible),
            backlogBytes=q.visible_bytes,
            oldestMessageTimestamp=(
                _dt.datetime.fromtimestamp(oldest / 1000, tz=_dt.timezone.utc) if oldest is not None else None
            ),
        )))

    async def send(self, queue: str, requests: list[tuple[Any, Any, Any]], default_delay: int,
                   operation: str = "send", batch_delay: Any = None) -> JsObject:
        """Validate, persist, then enqueue; resolves to the pre-send backlog metrics (§4.2)."""
        metrics, _ = await self.enqueue(queue, requests, default_delay, operation, batch_delay)
        return metrics

    async def enqueue(self, queue: str, requests: list[tuple[Any, Any, Any]], default_delay: int,
                      operation: str = "send", batch_delay: Any = None) -> tuple[JsObject, list[StoredMessage]]:
        """``requests`` are (body, contentType, delaySeconds) as the app gave them.

        Delay precedence (§4.3): the message's delay ?? ``batch_delay`` (sendBatch option) ??
        ``default_delay`` (the producer's / queue's delivery delay).
        """
        # Client-side checks first (TypeError, like workerd), then the broker's: delays, then
        # limits. In production the limits apply whether or not the queue has a consumer.
        encoded = encode_bodies(requests)
        sizes = [len(data) for _, data, _ in encoded]
        total, largest = sum(sizes), max(sizes)
        if batch_delay is not None:
            default_delay = check_delay(batch_delay, operation) or 0
        for _, _, delay in encoded:
            if delay is not None:
                check_delay(delay, operation)
        if operation == "send":
            if largest > MAX_MESSAGE_BYTES:
                raise QueueSendError(
                    f"Queue send failed: message length of {largest} bytes exceeds limit of {MAX_MESSAGE_BYTES}"
                )
        else:
            if len(encoded) > MAX_BATCH_MESSAGES:
                raise QueueSendError(
                    f"Queue sendBatch failed: batch message count of {len(encoded)} exceeds limit of {MAX_BATCH_MESSAGES}"
                )
            if largest > MAX_MESSAGE_BYTES:
                raise QueueSendError(
                    f"Queue sendBatch failed: message in batch has length {largest} bytes which exceeds "
                    f"single message size limit of {MAX_MESSAGE_BYTES}"
                )
            if total > MAX_BATCH_BYTES:
                raise QueueSendError(
                    f"Queue sendBatch failed: batch size of {total} bytes exceeds limit of {MAX_BATCH_BYTES}"
                )
        self._sends_in_progress += 1
        try:
            await self._ready()
            store = self._store
            while store.pending_insert_bytes > PENDING_BYTES_HIGH_WATER or store.pending_insert_rows > PENDING_ROWS_HIGH_WATER:
                await store.next_commit()
            q = self._queue(queue)
            metrics = self._metrics(q)
            now = self.clock.now()
            ts = self.clock.now_ms()
            records: list[StoredMessage] = []
            rows: list[Row] = []
            seq = self._next_seq
            self._next_seq += len(encoded)
            for (ct, data, delay), mid in zip(encoded, _new_ids(len(encoded))):
                visible_at = now + (int(delay) if delay is not None else default_delay)
                records.append(StoredMessage(seq, mid, queue, ts, ct, data, 1, visible_at))
                rows.append((seq, mid, queue, ts, ct, data, 1, visible_at))
                seq += 1
            await store.insert(rows, total)
            # Durable now. Messages become visible in send order.
            now = self.clock.now()
            visible = q.visible
            added = 0
            for r in records:
                if r.state != PENDING:
                    continue  # purged while being written
                if r.visible_at <= now:
                    r.state = VISIBLE
                    visible.append(r)
                    added += len(r.body)
                else:
                    self._push_delayed(q, r)
            q.visible_bytes += added
            self._pump(q)
            return metrics, records
        finally:
            self._sends_in_progress -= 1

    # --- visibility and delay timers ----------------------------------------------------
    def _make_visible(self, q: _Queue, r: StoredMessage) -> None:
        r.state = VISIBLE
        q.visible.append(r)
        q.visible_bytes += len(r.body)

    def _push_delayed(self, q: _Queue, r: StoredMessage) -> None:
        r.state = DELAYED
        q.delayed += 1
        heapq.heappush(self._delayed, (r.visible_at, r.seq, r))
        if self._delay_deadline is None or r.visible_at < self._delay_deadline:
            self._arm_delay_timer()

    def _arm_delay_timer(self) -> None:
        if self._delay_timer is not None:
            self._delay_timer.cancel()
            self._delay_timer = None
            self._delay_deadline = None
        while self._delayed and not self._live_delayed(self._delayed[0]):
            heapq.heappop(self._delayed)
        if self._delayed and not self._closed:
            deadline = self._delayed[0][0]
            self._delay_deadline = deadline
            self._delay_timer = self.clock.call_at(deadline, self._on_delay_timer)

    @staticmethod
    def _live_delayed(entry: tuple[float, int, StoredMessage]) -> bool:
        r = entry[2]
        return r.state == DELAYED and r.visible_at == entry[0]

    def _on_delay_timer(self) -> None:
        self._delay_timer = None
        self._delay_deadline = None
        now = self.clock.now()
        heap = self._delayed
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            if not self._live_delayed(entry):
                continue
            r = entry[2]
            q = self._queue(r.queue)
            q.delayed -= 1
            self._make_visible(q, r)
            # One pump per message: with max_batch_timeout = 0 each message that becomes
            # visible on its own is dispatched on its own (Miniflare's delay tests).
            self._pump(q)
        self._arm_delay_timer()

    # --- batching -----------------------------------------------------------------------
    def _pump(self, q: _Queue) -> None:
        """Start every batch the rules allow now, or arm the batch timeout (§4.5)."""
        if q.paused:
            return
        c = q.consumer
        while c is not None and q.visible and not self._closed and q.in_flight_batches < q.max_concurrency:
            full = len(q.visible) >= c.max_batch_size
            if q.flush_timer is not None:
                if not full:
                    return  # the timeout runs from the first message; arrivals don't extend it
                q.flush_timer.cancel()
                q.flush_timer = None
            if full or c.max_batch_timeout <= 0:
                self._start_batch(q, c)
                continue
            q.flush_deadline = self.clock.now() + c.max_batch_timeout
            q.flush_timer = self.clock.call_later(c.max_batch_timeout, lambda q=q: self._on_flush_timer(q))
            return

    def _on_flush_timer(self, q: _Queue) -> None:
        q.flush_timer = None
        c = q.consumer
        if c is not None and q.visible and q.in_flight_batches < q.max_concurrency and not q.paused:
            self._start_batch(q, c)
        self._pump(q)

    def _start_batch(self, q: _Queue, c: QueueConsumer) -> None:
        n = min(c.max_batch_size, len(q.visible))
        popleft = q.visible.popleft
        records = [popleft() for _ in range(n)]
        in_flight = q.in_flight
        size = 0
        for r in records:
            r.state = IN_FLIGHT
            size += len(r.body)
            in_flight[r.seq] = r
        q.visible_bytes -= size
        q.in_flight_batches += 1
        handler = q.handler
        assert handler is not None
        task = asyncio.get_running_loop().create_task(self._deliver(q, c, handler, records))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, q: _Queue, c: QueueConsumer, handler: BatchHandler,
                       records: list[StoredMessage]) -> None:
        settled = False
        try:
            oldest = q.visible[0].timestamp_ms if q.visible else None
            metadata = JsObject(metrics=JsObject(
                backlogCount=len(q.visible), backlogBytes=q.visible_bytes,
                oldestMessageTimestamp=(
                    _dt.datetime.fromtimestamp(oldest / 1000, tz=_dt.timezone.utc) if oldest is not None else None
                ),
            ))
            warn = lambda text: self.log.warn("queues", text, queue=q.name)  # noqa: E731
            # Handler time for the log line, on the platform clock like Miniflare's timers
            # (so a fake clock logs 0ms, deterministically).
            started = self.clock.now()
            failed = False
            try:
                batch = MessageBatch(q.name, records, decode_bodies(records), warn, metadata)
            except Exception as exc:
                # A body that no longer decodes (e.g. a hand-edited row) counts as a failed
                # delivery, so it ends in the dead-letter queue instead of looping forever.
                self.log.error("queues", f'Could not decode a batch of queue "{q.name}": {type(exc).__name__}: {exc}',
                               queue=q.name)
                batch = MessageBatch(q.name, records, [None] * len(records), warn, metadata)
                self._settle(q, c, batch, True, 0)
                settled = True
                return
            try:
                await handler(batch)
            except asyncio.CancelledError:
                if self._closed:
                    raise  # shutting down: the batch stays unacked on disk for the next start
                # Cancelled from inside the app: a failed delivery, not a stuck batch.
                failed = True
                self.log.error("queues", f'Consumer "{q.owner}" of queue "{q.name}" was cancelled',
                               queue=q.name, error="CancelledError")
            except Exception as exc:
                failed = True
                self.log.error(
                    "queues",
                    f'Consumer "{q.owner}" of queue "{q.name}" threw: {type(exc).__name__}: {exc}',
                    queue=q.name, error=type(exc).__name__,
                )
            elapsed_ms = max(0, round((self.clock.now() - started) * 1000))
            self._settle(q, c, batch, failed, elapsed_ms)
            settled = True
        finally:
            if settled or not self._closed:
                q.in_flight_batches -= 1
                self._pump(q)

    def _settle(self, q: _Queue, c: QueueConsumer, batch: MessageBatch, failed: bool, elapsed_ms: int) -> None:
        """Apply the batch outcome: acks, retries, dead-lettering; log like Miniflare (§4.6)."""
        store = self._store
        now = self.clock.now()
        acked = 0
        total = len(batch.messages)
        ready: list[StoredMessage] = []
        to_dlq: list[StoredMessage] = []
        counts = dict.fromkeys(TOTAL_KEYS, 0)
        acked_seqs: list[int] = []
        acked_ids: list[str] = []
        in_flight = q.in_flight
        if batch.acked_all(failed):
            outcome: list[tuple[Message, bool, int | None]] = []
            for msg in batch.messages:
                r = msg._record
                in_flight.pop(r.seq, None)
                if r.state == IN_FLIGHT:  # else purged while in flight
                    r.state = GONE
                    acked_seqs.append(r.seq)
                    acked_ids.append(r.id)
        else:
            outcome = batch.outcome(failed)
        for msg, retried, delay in outcome:
            r = msg._record
            in_flight.pop(r.seq, None)
            if r.state != IN_FLIGHT:
                continue  # purged while in flight
            if not retried:
                r.state = GONE
                acked_seqs.append(r.seq)
                acked_ids.append(r.id)
                continue
            if r.attempts < c.max_retries + 1:
                self.log.debug("queues", f'Retrying message "{r.id}" on queue "{q.name}"...', queue=q.name)
                wait = delay if delay is not None else c.retry_delay
                r.attempts += 1
                r.visible_at = now + wait
                store.update(r.queue, r.attempts, r.visible_at, r.seq)
                counts["retried"] += 1
                if wait > 0:
                    self._push_delayed(q, r)
                else:
                    ready.append(r)
                continue
            n = c.max_retries + 1
            plural = "" if n == 1 else "s"
            dlq = c.dead_letter_queue
            if dlq:
                self.log.warn(
                    "queues",
                    f'Moving message "{r.id}" on queue "{q.name}" to dead letter queue "{dlq}" '
                    f"after {n} failed attempt{plural}...",
                    queue=q.name, dead_letter_queue=dlq,
                )
                to_dlq.append(r)
                counts["dlq"] += 1
            else:
                self.log.warn("queues", f'Dropped message "{r.id}" on queue "{q.name}" after {n} failed attempt{plural}!',
                              queue=q.name)
                r.state = GONE
                store.delete(r.seq)
                counts["dropped"] += 1
        if acked_seqs:
            acked = counts["acked"] = len(acked_seqs)
            store.delete_many(acked_seqs, acked_ids)
        colour = "green" if acked == total else ("yellow" if acked else "red")
        self.log.info("queues", f"QUEUE {q.name} {acked}/{total} ({elapsed_ms}ms)",
                      queue=q.name, acked=acked, total=total, ms=elapsed_ms, color=colour)
        for key, n_ in counts.items():
            if n_:
                q.totals[key] += n_
                store.count(q.name, key, n_)
        for r in ready:
            self._make_visible(q, r)
        if to_dlq:
            dq = self._queue(c.dead_letter_queue or "")
            for r in to_dlq:
                self._move(r, dq, self.delivery_delay(dq.name))
            self._pump(dq)

    def _move(self, r: StoredMessage, target: _Queue, delay: int = 0) -> None:
        """Re-home a message (dead-lettering, redrive): same id and timestamp, attempts reset."""
        r.queue = target.name
        r.attempts = 1
        r.visible_at = self.clock.now() + delay
        self._store.update(r.queue, r.attempts, r.visible_at, r.seq)
        if delay > 0:
            self._push_delayed(target, r)
        else:
            self._make_visible(target, r)

    # --- inspection and administration -------------------------------------------------
    def is_idle(self) -> bool:
        """Nothing due now: no unwritten send, no batch in flight, no flush or delay overdue."""
        if self._sends_in_progress or self._store.pending:
            return False
        now = self.clock.now()
        for q in self._queues.values():
            if q.in_flight_batches:
                return False
            if q.consumer is not None and q.visible and not q.paused:
                if q.flush_timer is None or q.flush_deadline <= now:
                    return False
        return not (self._delay_deadline is not None and self._delay_deadline <= now)

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until ``is_idle()`` holds for a few consecutive loop turns."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        quiet = 0
        while quiet < 3:
            await asyncio.sleep(0.001)
            quiet = quiet + 1 if self.is_idle() else 0
            if loop.time() > deadline:
                raise TimeoutError("queues did not drain in time")

    async def flush(self) -> None:
        """Wait until every write issued so far is on disk."""
        await self._store.flush()

    def queue_names(self) -> list[str]:
        return sorted(self._queues)

    def has_queue(self, name: str) -> bool:
        return name in self._queues

    def _existing(self, name: str) -> _Queue:
        q = self._queues.get(name)
        if q is None:
            raise QueueNotFound(f'Queue "{name}" does not exist')
        return q

    def stats(self, name: str) -> dict[str, Any]:
        q = self._existing(name)
        c = q.consumer
        dlq_name = q.dead_letter_queue
        dlq = self._queues.get(dlq_name) if dlq_name else None
        in_flight = len(q.in_flight)
        return {
            "name": q.name,
            "depth": len(q.visible) + q.delayed + in_flight,
            "visible": len(q.visible),
            "in_flight": in_flight,
            "in_flight_batches": q.in_flight_batches,
            "delayed": q.delayed,
            "dead_letter_queue": dlq_name,
            "dead_letter_count": (len(dlq.visible) + dlq.delayed + len(dlq.in_flight)) if dlq else 0,
            "consumer": None if c is None else {
                "owner": q.owner, "max_batch_size": c.max_batch_size, "max_batch_timeout": c.max_batch_timeout,
                "max_retries": c.max_retries, "retry_delay": c.retry_delay,
                "max_concurrency": q.max_concurrency, "dead_letter_queue": c.dead_letter_queue,
            },
            "delivery_delay": self.delivery_delay(q.name),
            "delivery_paused": q.paused,
            **{key: q.totals[key] for key in TOTAL_KEYS},
        }

    def list_stats(self) -> list[dict[str, Any]]:
        return [self.stats(name) for name in self.queue_names()]

    def _records(self, q: _Queue) -> list[StoredMessage]:
        delayed = sorted(
            (e for e in self._delayed if self._live_delayed(e) and e[2].queue == q.name),
            key=lambda e: (e[0], e[1]),
        )
        return [*q.in_flight.values(), *q.visible, *(e[2] for e in delayed)]

    def peek(self, name: str, limit: int = 50) -> list[dict[str, Any]]:
        """Messages of a queue without consuming them: in flight, then visible, then delayed."""
        q = self._existing(name)
        out = []
        for r in self._records(q)[: max(0, limit)]:
            out.append({
                "id": r.id,
                "timestamp": _iso(r.timestamp_ms),
                "timestamp_ms": r.timestamp_ms,
                "attempts": r.attempts,
                "content_type": r.content_type,
                "size": len(r.body),
                "state": _STATE_NAMES[r.state],
                "visible_at": r.visible_at,
                "body": preview(r.body, r.content_type),
            })
        return out

    def purge(self, name: str) -> int:
        """Delete every message of a queue (visible, delayed and in flight)."""
        q = self._existing(name)
        records = self._records(q)
        for r in records:
            r.state = GONE
            self._store.delete(r.seq)
        q.visible.clear()
        q.visible_bytes = 0
        q.in_flight.clear()
        q.delayed = 0
        if q.flush_timer is not None:
            q.flush_timer.cancel()
            q.flush_timer = None
        return len(records)

    async def set_paused(self, name: str, paused: bool) -> None:
        """Pause or resume a queue's delivery (``queues pause-delivery|resume-delivery``).

        Persisted before it returns, so a restart keeps the queue paused. Batches already
        in flight finish; while paused, messages accumulate in order, and resuming delivers
        them in that order with the consumer's usual batching.
        """
        await self._ready()
        q = self._existing(name)
        await self._store.set_paused(name, paused)
        q.paused = paused
        if paused:
            if q.flush_timer is not None:
                q.flush_timer.cancel()
                q.flush_timer = None
        else:
            self._pump(q)

    def dead_letter_sources(self, dlq: str) -> list[str]:
        return sorted(q.name for q in self._queues.values() if q.dead_letter_queue == dlq)

    def redrive(self, dlq: str, message_id: str, to: str | None = None) -> str:
        """Move one message from a dead-letter queue back to its source queue (attempts reset)."""
        source = self._existing(dlq)
        if to is None:
            sources = self.dead_letter_sources(dlq)
            if len(sources) != 1:
                raise ValueError(
                    f'No queue uses "{dlq}" as its dead letter queue; pass ?to=<queue>' if not sources else
                    f'Queues {", ".join(sources)} all use "{dlq}" as dead letter queue; pass ?to=<queue>'
                )
            to = sources[0]
        if to == dlq:
            raise ValueError("A message cannot be redriven to the queue it is in")
        for r in list(source.visible) + [e[2] for e in self._delayed if self._live_delayed(e)]:
            if r.id == message_id and r.queue == dlq:
                break
        else:
            if any(r.id == message_id for r in source.in_flight.values()):
                raise ValueError(f'Message "{message_id}" is being delivered; try again when its batch is done')
            raise QueueNotFound(f'Message "{message_id}" is not in queue "{dlq}"')
        if r.state == VISIBLE:
            source.visible.remove(r)
            source.visible_bytes -= len(r.body)
        else:
            source.delayed -= 1
        target = self._queue(to)
        self._move(r, target)
        self._pump(target)
        return to

    def health(self) -> dict[str, Any]:
        stats = self.list_stats()
        return {
            "state": "stopped" if self._closed else "running",
            "queues": len(stats),
            "messages": sum(s["depth"] for s in stats),
            "in_flight": sum(s["in_flight"] for s in stats),
            "consumers": sum(1 for s in stats if s["consumer"]),
        }
