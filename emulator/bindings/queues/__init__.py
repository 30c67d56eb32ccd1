"""Cloudflare Queues: durable producer bindings, batching consumers, retries, dead-letter queues.

``Plugin`` wires the broker (``engine.QueueBroker``, one SQLite file at
``<state>/queues/queues.sqlite3``) to the hosted apps: every ``[[queues.producers]]`` becomes
an ``env`` binding, every ``[[queues.consumers]]`` delivers batches to
``platform.hosts[app].queue(batch)``. Tests and the pytest plugin can drive the engine
without hosts through ``plugin.broker`` (``producer()``, ``register_consumer()``, ``peek()``...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emulator.bindings import BindingPlugin
from emulator.bindings.queues.binding import Message, MessageBatch, QueueProducerBinding, QueueSendError
from emulator.bindings.queues.engine import QueueBroker, QueuesError, validate_consumer
from emulator.config.model import AppConfig, QueueConsumer

if TYPE_CHECKING:
    from aiohttp import web

    from emulator.platform import Platform

__all__ = [
    "Message", "MessageBatch", "Plugin", "QueueBroker", "QueueProducerBinding", "QueueSendError", "QueuesError",
    "DB_FILENAME",
]

DB_FILENAME = "queues.sqlite3"


def check_consumers(apps: list[AppConfig]) -> list[tuple[AppConfig, QueueConsumer]]:
    """Platform-wide consumer rules (§4.1): one consumer per queue, a DLQ is not its own queue."""
    seen: dict[str, str] = {}
    out: list[tuple[AppConfig, QueueConsumer]] = []
    for app in apps:
        for consumer in app.consumers:
            validate_consumer(consumer)
            if consumer.dead_letter_queue is not None and consumer.dead_letter_queue == consumer.queue:
                raise QueuesError("ERR_DEAD_LETTER_QUEUE_CYCLE",
                                  f'Dead letter queue for queue "{consumer.queue}" cannot be itself')
            if consumer.queue in seen:
                raise QueuesError(
                    "ERR_MULTIPLE_CONSUMERS",
                    f'Multiple consumers defined for queue "{consumer.queue}": "{seen[consumer.queue]}" and "{app.name}"',
                )
            seen[consumer.queue] = app.name
            out.append((app, consumer))
    return out


class Plugin(BindingPlugin):
    name = "queues"

    def __init__(self, platform: "Platform") -> None:
        super().__init__(platform)
        self.broker = QueueBroker(platform.state.binding_dir("queues") / DB_FILENAME, platform.clock, platform.log)
        # Queue-level settings are known before start(), so env bindings built early work.
        for app in platform.apps:
            for producer in app.producers:
                self.broker.set_delivery_delay(producer.queue, producer.delivery_delay)
            for consumer in app.consumers:
                self.broker.declare(consumer.queue, consumer.dead_letter_queue)

    @staticmethod
    def used_by(app: AppConfig) -> bool:
        return bool(app.producers or app.consumers)

    def bindings_for(self, app: AppConfig) -> dict[str, Any]:
        # The queue-level delivery delay (first producer wins, §4.3) applies to every producer.
        return {p.binding: self.broker.producer(p.queue) for p in app.producers}

    async def start(self) -> None:
        consumers = check_consumers(self.platform.apps)
        await self.broker.open()
        for app, consumer in consumers:
            self.broker.register_consumer(consumer, self._host_handler(app.name), owner=app.name)

    async def stop(self) -> None:
        await self.broker.close()

    def _host_handler(self, app_name: str) -> Any:
        platform = self.platform

        async def deliver(batch: MessageBatch) -> None:
            # Looked up per batch so that a reloaded app gets the next batch.
            host = platform.hosts.get(app_name)
            if host is None:
                raise RuntimeError(f'app "{app_name}" is not running')
            await host.queue(batch)

        return deliver

    def routes(self) -> "list[web.RouteDef]":
        from emulator.bindings.queues.api import routes

        return routes(self.broker)

    def health(self) -> dict[str, Any]:
        return self.broker.health()

    def is_idle(self) -> bool:
        return self.broker.is_idle()
