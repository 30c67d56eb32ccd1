"""A process for the SIGKILL tests: a Platform with one producing and consuming app.

    python crash_worker.py STATE_DIR OUT_DIR PHASE MODE

MODE ``produce``: send numbered messages forever (each number is written to
``sent-PHASE.log`` only after its send returned) while a consumer acks most messages,
retries some and sometimes raises; the ids it acks are written to ``intent-PHASE.log``
before the handler returns, and the ids whose ack is on disk to ``committed-PHASE.log``.
Five more messages go to queue ``stuck``, whose handler never returns in this mode, so
they are in flight when the kill comes. The test kills this process with SIGKILL at a
random moment.
MODE ``drain``: consume (ack) everything left, then print the final stats as JSON and exit.
Every delivery is written to ``delivered-PHASE.log``. Not a test module.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from emulator.config.model import AppConfig  # noqa: E402 - after the sys.path set-up above
from emulator.platform import Platform  # noqa: E402 - after the sys.path set-up above
from tests.helpers.apps import QueueConsumer, QueueOnlyHost, QueueProducer, app_config  # noqa: E402 - after the sys.path set-up above

STUCK_OFFSET = 900_000  # numbers of the messages sent to the queue whose handler hangs


class Host(QueueOnlyHost):
    def __init__(self, config: AppConfig, out: Path, phase: str, mode: str) -> None:
        super().__init__(config)
        self.mode = mode
        self.rng = random.Random(phase)
        self.delivered = open(out / f"delivered-{phase}.log", "a", buffering=1)
        self.intent = open(out / f"intent-{phase}.log", "a", buffering=1)

    async def queue(self, batch: Any) -> None:
        self.delivered.write("".join(f"{m.id} {m.body['n']}\n" for m in batch.messages))
        if batch.queue == "stuck" and self.mode == "produce":
            await asyncio.Event().wait()  # in flight until the process dies
        if self.mode == "drain":
            self.intent.write("".join(f"{m.id} {m.body['n']}\n" for m in batch.messages))
            return
        acked: list[Any] = []
        undecided: list[Any] = []
        for msg in batch.messages:
            roll = self.rng.random()
            if roll < 0.15:
                msg.retry()
            elif roll < 0.6:
                msg.ack()
                acked.append(msg)
            else:
                undecided.append(msg)
        fails = self.rng.random() < 0.05
        if not fails:
            acked.extend(undecided)  # implicitly acked when the handler returns
        self.intent.write("".join(f"{m.id} {m.body['n']}\n" for m in acked))
        if fails:
            raise RuntimeError("simulated failure")


async def main(state: Path, out: Path, phase: str, mode: str) -> None:
    app = app_config(
        config_path=state / "wrangler.toml", kind="worker", name="crash",
        producers=(QueueProducer(binding="Q", queue="q"),),
        consumers=(QueueConsumer(queue="q", max_batch_size=10, max_batch_timeout=0, max_retries=100),
                   QueueConsumer(queue="stuck", max_batch_size=10, max_batch_timeout=0)),
    )
    platform = Platform([app], state)
    platform.attach_host(Host(app, out, phase, mode))
    broker = platform.plugins["queues"].broker  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)
    committed = open(out / f"committed-{phase}.log", "a", buffering=1)
    broker.add_commit_listener(lambda ids: committed.write("".join(f"{i}\n" for i in ids)))
    await platform.start()
    if mode == "drain":
        while broker.stats("q")["depth"] or broker.stats("stuck")["depth"]:
            await broker.drain()
        await broker.flush()
        print(json.dumps(broker.stats("q")), flush=True)
        await platform.stop()
        return
    sent = open(out / f"sent-{phase}.log", "a", buffering=1)
    stuck = broker.producer("stuck")
    base = int(phase) * 1_000_000 + STUCK_OFFSET
    await stuck.sendBatch([{"body": {"n": base + i}} for i in range(5)])
    sent.write("".join(f"{base + i}\n" for i in range(5)))
    print("READY", flush=True)
    rng = random.Random(phase + "-producer")
    q = platform.env_for(app).Q
    n = int(phase) * 1_000_000
    while True:
        size = rng.choice((1, 1, 5, 20))
        if size == 1:
            await q.send({"n": n})
        else:
            await q.sendBatch([{"body": {"n": n + i}} for i in range(size)])
        sent.write("".join(f"{n + i}\n" for i in range(size)))
        n += size


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]))
