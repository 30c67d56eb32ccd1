"""The queues binding plugin: the broker, producer bindings per app, consumers wired to hosts.

Tests and the pytest plugin can drive the engine without hosts through ``plugin.broker``
(``producer()``, ``register_consumer()``, ``peek()``...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emulator.bindings import BindingPlugin
from emulator.bindings.queues.binding import MessageBatch
from emulator.bindings.queues.config import QueueConsumer, queues_config
from emulator.bindings.queues.engine import QueueBroker, validate_consumer, validate_producer
from emulator.bindings.queues.errors import QueuesError
from emulator.bindings.queues.store import DB_FILENAME

if TYPE_CHECKING:
    from aiohttp import web

    from emulator.config.model import AppConfig
    from emulator.platform import Platform

__all__ = ["DB_FILENAME", "Plugin", "check_consumers"]


def check_consumers(apps: list[AppConfig]) -> list[tuple[AppConfig, QueueConsumer]]:
    """Platform-wide consumer rules (docs/queues.md): one consumer per queue, a DLQ is not its own queue.

    Producers' delivery delays are checked here too (production's limit), before anything starts.
    """
    seen: dict[str, str] = {}
    out: list[tuple[AppConfig, QueueConsumer]] = []
    for app in apps:
        for producer in queues_config(app).producers:
            validate_producer(producer)
        for consumer in queues_config(app).consumers:
            validate_consumer(consumer)
            if consumer.dead_letter_queue is not None and consumer.dead_letter_queue == consumer.queue:
                raise QueuesError("ERR_DEAD_LETTER_QUEUE_CYCLE",
                                  f'Dead letter queue for queue "{consumer.queue}" cannot be itself')
            if consumer.queue in seen:
                raise QueuesError(
                    "ERR_MULTIPLE_CONSUMERS",
                    f'Multiple consumers defined for queue "{consumer.queue}": "{seen[consumer.queue]}" and '
                    f'"{app.name}"',
                )
            seen[consumer.queue] = app.name
            out.append((app, consumer))
    return out


class Plugin(BindingPlugin):
    name = "queues"

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)
        self.broker = QueueBroker(platform.state.binding_dir("queues") / DB_FILENAME, platform.clock, platform.log)
        # Queue-level settings are known before start(), so env bindings built early work.
        for app in platform.apps:
            cfg = queues_config(app)
            for producer in cfg.producers:
                self.broker.set_delivery_delay(producer.queue, producer.delivery_delay)
            for consumer in cfg.consumers:
                self.broker.declare(consumer.queue, consumer.dead_letter_queue)

    def bindings_for(self, app: AppConfig) -> dict[str, Any]:
        # The queue-level delivery delay (first producer wins, docs/queues.md) applies to every producer.
        return {p.binding: self.broker.producer(p.queue) for p in queues_config(app).producers}

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

    def routes(self) -> list[web.RouteDef]:
        from emulator.bindings.queues.routes import routes

        return routes(self.broker)

    def health(self) -> dict[str, Any]:
        return self.broker.health()

    def in_flight(self) -> int:
        value = self.broker.health().get("in_flight", 0)
        return value if isinstance(value, int) else 0

    def is_idle(self) -> bool:
        return self.broker.is_idle()

    def overview(self) -> dict[str, Any]:
        queues: dict[str, dict[str, Any]] = {}

        def queue(name: str) -> dict[str, Any]:
            return queues.setdefault(name, {"producers": [], "consumers": [], "deadLetterFor": []})

        for app in self.platform.apps:
            cfg = queues_config(app)
            for p in cfg.producers:
                queue(p.queue)["producers"].append({"app": app.name, "binding": p.binding})
            for c in cfg.consumers:
                queue(c.queue)["consumers"].append({
                    "app": app.name, "maxBatchSize": c.max_batch_size, "maxBatchTimeout": c.max_batch_timeout,
                    "maxRetries": c.max_retries, "deadLetterQueue": c.dead_letter_queue,
                    "retryDelay": c.retry_delay, "maxConcurrency": c.max_concurrency})
                if c.dead_letter_queue:
                    queue(c.dead_letter_queue)["deadLetterFor"].append(c.queue)
        return {"queues": dict(sorted(queues.items()))}

    def stats(self) -> dict[str, Any]:
        """Every queue's figures by name: depth, in flight, delayed, dead letters, totals."""
        return {q["name"]: q for q in self.broker.list_stats()}

    def test_helpers(self) -> dict[str, Any]:
        from emulator.bindings.queues import testing

        def peek(queue: str, limit: int = 50) -> list[dict[str, Any]]:
            """The messages of ``queue`` without consuming them (in flight, waiting, delayed)."""
            return self.broker.peek(queue, limit)

        async def run_queue_handler(app: str, batch: MessageBatch) -> testing.QueueResult:
            return await testing.run_queue_handler(self.platform, app, batch)

        def create_message_batch(queue: str, messages: Any) -> MessageBatch:
            return testing.create_message_batch(
                queue, messages, warn=lambda text: self.platform.log.warn("queues", text, queue=queue))

        create_message_batch.__doc__ = testing.create_message_batch.__doc__
        run_queue_handler.__doc__ = testing.run_queue_handler.__doc__
        return {"peek": peek, "create_message_batch": create_message_batch, "run_queue_handler": run_queue_handler}

    def consumed_queues(self) -> set[str]:
        """Queues the hosted apps consume or use as a dead-letter queue."""
        return {q for app in self.platform.apps for c in queues_config(app).consumers
                for q in (c.queue, c.dead_letter_queue) if q}

    def lookup(self, name: str) -> Any:
        # A queue apps only consume (or use as a DLQ) works too: the test then plays the
        # producer that lives in another deployment.
        found = super().lookup(name)
        if found is None and name in self.consumed_queues():
            return self.broker.producer(name)
        return found

    def known_names(self) -> set[str]:
        return super().known_names() | self.consumed_queues()
