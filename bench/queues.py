"""Queues benchmark: end-to-end throughput and batch-full latency, durability on.

    .venv/bin/python bench/queues.py [--messages 100000] [--producers 4] [--runs 5] [--latency-samples 2000] [--json]

Throughput: producers call ``env.Q.sendBatch`` with 100 messages at a time (each call returns
only once its messages are committed to SQLite), a consumer with ``max_batch_size = 100``
acks every batch; the clock stops when the last ack is on disk. Latency: ``max_batch_size = 1``,
one message at a time, time from ``send()`` to the consumer's handler. Both run through a
real ``Platform`` (state in a temporary directory, real clock) with a minimal app host, and
the garbage-collector settings of the ``cf-emulator dev`` process (``tune_gc``).
Targets on a 2-core machine: >= 50,000 messages/s, p50 <= 2 ms.

The throughput run is repeated (``--runs``, each with a fresh state directory) and the
median is the figure: on a shared virtual machine the same run's CPU time varies by up to
2x from one run to the next, so one run says little. ``--json``: the figures as data
(bench/results.py), for bench/report.py.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from collections.abc import Awaitable, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.results import Figure, Target, add_json_option, emit, text_output
from emulator.cli.dev import tune_gc
from emulator.config.model import AppConfig
from emulator.logs import EventLog
from emulator.platform import Platform
from tests.helpers.apps import QueueConsumer, QueueOnlyHost, QueueProducer, app_config


class BenchHost(QueueOnlyHost):
    """The smallest app host: its queue handler is a plain coroutine function."""

    def __init__(self, config: AppConfig, handler: Callable[[Any], Awaitable[None]]) -> None:
        super().__init__(config)
        self._handler = handler

    async def queue(self, batch: Any) -> None:
        await self._handler(batch)


def _app(state: Path, batch_size: int, timeout: float) -> AppConfig:
    return app_config(
        config_path=state / "wrangler.toml", kind="worker", name="bench",
        producers=(QueueProducer(binding="Q", queue="bench"),),
        consumers=(QueueConsumer(queue="bench", max_batch_size=batch_size, max_batch_timeout=timeout),),
    )


async def throughput(total: int, producers: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        app = _app(state, 100, 1.0)
        platform = Platform([app], state, log=EventLog(capacity=100))
        received = 0
        done = asyncio.get_running_loop().create_future()

        async def handler(batch: Any) -> None:
            nonlocal received
            for msg in batch.messages:
                msg.ack()
            received += len(batch.messages)
            if received >= total and not done.done():
                done.set_result(None)

        platform.attach_host(BenchHost(app, handler))
        await platform.start()
        queue = platform.env_for(app).Q
        per_producer = total // producers

        async def produce(offset: int) -> None:
            for start in range(0, per_producer, 100):
                await queue.sendBatch([{"body": {"n": offset + i, "payload": "x" * 32}}
                                       for i in range(start, min(start + 100, per_producer))])

        started = time.perf_counter()
        await asyncio.gather(*(produce(p * per_producer) for p in range(producers)))
        await done
        await platform.plugins["queues"].broker.flush()  # type: ignore[attr-defined]  # the queues plugin's; the last acks are on disk
        elapsed = time.perf_counter() - started
        await platform.stop()
        return elapsed, per_producer * producers


async def latency(samples: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        app = _app(state, 1, 5.0)
        platform = Platform([app], state, log=EventLog(capacity=100))
        arrived: asyncio.Future[float] | None = None

        async def handler(batch: Any) -> None:
            if arrived is not None and not arrived.done():
                arrived.set_result(time.perf_counter())

        platform.attach_host(BenchHost(app, handler))
        await platform.start()
        queue = platform.env_for(app).Q
        out: list[float] = []
        for i in range(samples + 50):
            arrived = asyncio.get_running_loop().create_future()
            sent = time.perf_counter()
            await queue.send({"n": i})
            received = await arrived
            if i >= 50:  # warm-up
                out.append((received - sent) * 1000)
            await platform.plugins["queues"].broker.flush()  # type: ignore[attr-defined]  # the queues plugin's; isolate samples: acks on disk
        await platform.stop()
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--latency-samples", type=int, default=2000)
    add_json_option(parser)
    args = parser.parse_args()
    tune_gc()  # what `cf-emulator dev` runs with

    with text_output(args.json):
        rates = []
        for run in range(1, args.runs + 1):
            cpu = time.process_time()
            elapsed, sent = asyncio.run(throughput(args.messages, args.producers))
            cpu = time.process_time() - cpu  # all threads; a busy machine inflates wall time, not this
            rates.append(sent / elapsed)
            print(f"run {run}: {sent} messages in {elapsed:.2f} s = {sent / elapsed:,.0f} messages/s "
                  f"({cpu:.2f} s CPU)")
        print(f"throughput: median {statistics.median(rates):,.0f} messages/s over {len(rates)} runs "
              f"(min {min(rates):,.0f}, max {max(rates):,.0f}; sendBatch of 100, {args.producers} producers, "
              "batch size 100, durable)")
        lat = sorted(asyncio.run(latency(args.latency_samples)))
        p50 = statistics.median(lat)
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        print(f"latency (max_batch_size = 1, send -> handler): p50 {p50:.2f} ms, p99 {p99:.2f} ms "
              f"over {len(lat)} messages")
    emit("queues", [
        Figure(f"throughput, {args.messages:,} messages, {args.producers} producers", "messages per second",
               "msg/s", statistics.median(rates), target=Target("value", ">=", 50_000)),
        Figure("latency send → handler, p50", "latency", "ms", p50, target=Target("value", "<=", 2)),
        Figure("latency send → handler, p99", "latency", "ms", p99),
    ], args.json)

if __name__ == "__main__":
    main()
