"""Queue helpers for tests (the pytest handle's ``peek``, ``create_message_batch`` and
``run_queue_handler``), in the spirit of vitest-pool-workers' ``createMessageBatch`` /
``getQueueResult``: unit-test a consumer's ack and retry decisions without the broker.

    batch = emu.create_message_batch("jobs", [{"id": "m1", "body": {"n": 1}}, {"body": "x", "attempts": 3}])
    result = await emu.run_queue_handler("orders", batch)
    assert result.outcome == "ok"
    assert result.acked == ["m1"] and result.retried == [("msg-2", 30)]

See docs/testing.md, "Unit-testing a queue consumer".
"""

from __future__ import annotations

import datetime as _dt
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple
from collections.abc import Iterable, Mapping

from emulator.bindings.queues.binding import _ACK, _RETRY, MessageBatch

if TYPE_CHECKING:
    from emulator.platform import Platform


class _Record(NamedTuple):
    """What a ``Message`` reads of a stored message."""

    id: str
    timestamp_ms: int
    attempts: int


@dataclass
class QueueResult:
    """What a consumer decided for one batch.

    ``explicit_acks`` / ``retry_messages`` / ``ack_all`` / ``retry_batch`` are the calls the
    handler made; ``acked`` / ``retried`` are what the platform does with each message as a
    result (production semantics: explicit acks hold even when the handler raised; a
    message left undecided is acked when the handler returned, retried when it raised).
    """

    outcome: str  # "ok" or "exception"
    error: BaseException | None
    ack_all: bool
    retry_batch: dict[str, Any]  # {"retry": bool, "delay_seconds": int | None}
    explicit_acks: list[str]
    retry_messages: list[dict[str, Any]]  # [{"id", "delay_seconds"}]
    acked: list[str] = field(default_factory=list)
    retried: list[tuple[str, int | None]] = field(default_factory=list)  # (id, delay seconds or None)


def create_message_batch(queue: str, messages: Iterable[Mapping[str, Any] | Any],
                         warn: Any = None) -> MessageBatch:
    """A ``MessageBatch`` as the broker would deliver it.

    Each message is a dict with ``body`` and optionally ``id`` (default a random 32-hex
    id), ``timestamp`` (a datetime or epoch milliseconds; default now) and ``attempts``
    (default 1); anything else is taken as the body itself.
    """
    records: list[_Record] = []
    bodies: list[Any] = []
    now_ms = int(_dt.datetime.now(_dt.UTC).timestamp() * 1000)
    for item in messages:
        spec: Mapping[str, Any] = item if isinstance(item, Mapping) and "body" in item else {"body": item}
        stamp = spec.get("timestamp", now_ms)
        if isinstance(stamp, _dt.datetime):
            stamp = int(stamp.timestamp() * 1000)
        records.append(_Record(str(spec.get("id") or secrets.token_hex(16)), int(stamp), int(spec.get("attempts", 1))))
        bodies.append(spec["body"])
    return MessageBatch(queue, records, bodies, warn or (lambda text: None))  # type: ignore[arg-type]  # _Record has what MessageBatch reads of a StoredMessage


def queue_result(batch: MessageBatch, error: BaseException | None) -> QueueResult:
    """The decisions the handler made on ``batch`` and their outcome."""
    decisions = batch._decisions
    outcome = batch.outcome(handler_failed=error is not None)
    return QueueResult(
        outcome="exception" if error is not None else "ok",
        error=error,
        ack_all=decisions.all == _ACK,
        retry_batch={"retry": decisions.all == _RETRY, "delay_seconds": decisions.all_delay},
        explicit_acks=[m.id for m in batch.messages if m._decision == _ACK],
        retry_messages=[{"id": m.id, "delay_seconds": m._delay} for m in batch.messages if m._decision == _RETRY],
        acked=[m.id for m, retried, _ in outcome if not retried],
        retried=[(m.id, delay) for m, retried, delay in outcome if retried],
    )


async def run_queue_handler(platform: Platform, app: str, batch: MessageBatch) -> QueueResult:
    """Run ``app``'s ``queue`` handler on ``batch`` (as the broker would) and report its decisions."""
    host = platform.hosts.get(app)
    if host is None:
        raise LookupError(f"no hosted app named {app!r}; apps: {', '.join(platform.hosts)}")
    try:
        await host.queue(batch)
    except Exception as exc:  # noqa: BLE001 - the handler raised: the platform retries what it did not ack
        return queue_result(batch, exc)
    return queue_result(batch, None)
