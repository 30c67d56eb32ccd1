"""Driving a queue broker in tests: a fake-clock harness and a consumer that records batches."""

from __future__ import annotations

from typing import Any
from collections.abc import Callable

from emulator.bindings.queues.binding import MessageBatch
from emulator.bindings.queues.config import QueueConsumer
from emulator.bindings.queues.engine import QueueBroker
from emulator.clock import FakeClock
from emulator.logs import EventLog

# Miniflare's queue tests start their fake timers at t = 1 000 000 ms.
START = 1_000.0


class Consumer:
    """Records every batch it receives; ``behaviour(batch)`` decides acks and retries."""

    def __init__(self, behaviour: Callable[[MessageBatch], Any] | None = None) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.raw: list[MessageBatch] = []
        self.behaviour = behaviour

    async def __call__(self, batch: MessageBatch) -> None:
        self.raw.append(batch)
        self.batches.append([
            {"queue": batch.queue, "id": m.id, "body": m.body, "attempts": m.attempts, "timestamp": m.timestamp}
            for m in batch.messages
        ])
        if self.behaviour is not None:
            result = self.behaviour(batch)
            if hasattr(result, "__await__"):
                await result

    def sizes(self) -> list[int]:
        return [len(b) for b in self.batches]


class Harness:
    def __init__(self, broker: QueueBroker, clock: FakeClock, log: EventLog) -> None:
        self.broker = broker
        self.clock = clock
        self.log = log

    async def advance(self, seconds: float) -> None:
        """Miniflare's "+N ms then wait for the fake tasks"."""
        await self.clock.advance(seconds)
        await self.broker.drain()

    async def settle(self) -> None:
        await self.broker.drain()

    def consume(self, queue: str, behaviour: Callable[[MessageBatch], Any] | None = None,
                owner: str = "worker", **options: Any) -> Consumer:
        consumer = Consumer(behaviour)
        self.broker.register_consumer(QueueConsumer(queue=queue, **options), consumer, owner)
        return consumer

    def logs(self, level: str | None = None) -> list[str]:
        return self.log.messages(level=level, source="queues")  # type: ignore[arg-type]  # a level name from the test
