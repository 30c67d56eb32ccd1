"""A process for the SIGKILL test of a backlog beyond the in-memory window.

    python backlog_worker.py STATE_DIR OUT_DIR MODE

MODE ``fill``: send numbered messages in batches of 50 to queue ``backlog``, which has no
consumer (so all of it waits on disk); each number is written to ``sent.log`` only after
its send returned; then wait to be killed.
MODE ``consume``: a consumer (batches of 10, one at a time) acks everything; every delivery
goes to ``delivered-consume.log`` and the ids whose ack is on disk to ``committed-consume.log``.
The test kills it with SIGKILL in the middle of the backlog.
MODE ``drain``: the same consumer until the queue is empty (``delivered-drain.log``), then
print the final stats as JSON and exit. Not a test module.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from emulator.config.model import AppConfig  # noqa: E402 - after the sys.path set-up above
from tests.helpers.apps import QueueConsumer, QueueOnlyHost, QueueProducer, app_config  # noqa: E402 - after the sys.path set-up above
from emulator.platform import Platform  # noqa: E402 - after the sys.path set-up above

TOTAL = 3000


class Host(QueueOnlyHost):
    def __init__(self, config: AppConfig, delivered: Path) -> None:
        super().__init__(config)
        self.delivered = open(delivered, "a", buffering=1)

    async def queue(self, batch: Any) -> None:
        self.delivered.write("".join(f"{m.id} {m.body['n']}\n" for m in batch.messages))
        await asyncio.sleep(0)


async def main(state: Path, out: Path, mode: str) -> None:
    consumers = () if mode == "fill" else (QueueConsumer(queue="backlog", max_batch_size=10, max_batch_timeout=0),)
    app = app_config(config_path=state / "wrangler.toml", kind="worker", name="backlog",
                    producers=(QueueProducer(binding="Q", queue="backlog"),), consumers=consumers)
    platform = Platform([app], state)
    platform.attach_host(Host(app, out / f"delivered-{mode}.log"))
    broker = platform.plugins["queues"].broker  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)
    committed = open(out / f"committed-{mode}.log", "a", buffering=1)
    broker.add_commit_listener(lambda ids: committed.write("".join(f"{i}\n" for i in ids)))
    await platform.start()
    if mode == "fill":
        sent = open(out / "sent.log", "a", buffering=1)
        q = platform.env_for(app).Q
        for base in range(0, TOTAL, 50):
            await q.sendBatch([{"body": {"n": n}} for n in range(base, base + 50)])
            sent.write("".join(f"{n}\n" for n in range(base, base + 50)))
        print("SENT", flush=True)
        await asyncio.Event().wait()
    if mode == "drain":
        while broker.stats("backlog")["depth"]:
            await broker.drain()
        await broker.flush()
        print(json.dumps(broker.stats("backlog")), flush=True)
        await platform.stop()
        return
    await asyncio.Event().wait()  # consume until killed


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]))
