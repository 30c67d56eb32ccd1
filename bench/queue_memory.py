"""Queue memory benchmark: RSS around an unpaced burst, and a restart on a big backlog.

    .venv/bin/python bench/queue_memory.py [--burst 300000] [--backlog 500000] [--repeats 3] [--old PATH]
                                           [--only burst|backlog] [--json]

Everything runs in real ``cf-emulator dev`` processes hosting one small Python Worker (written
to a temporary folder), and every message goes through the app's ``env.Q.send``/``sendBatch``
(the engine's own write path), never into SQLite directly. RSS is the dev process's
``VmRSS``/``VmHWM`` from ``/proc``.

1. Burst: a consumer acks everything; one request makes the app send ``--burst`` messages of
   1 KB, unpaced (32 concurrent producers, ``sendBatch`` of 100). Figures: RSS before, peak
   RSS, RSS once every message is consumed (after 3 s idle).
2. Backlog: ``--backlog`` messages of 220 bytes sent while the queue has no consumer (RSS while
   sending); then a restart with the same config: time from spawning ``dev`` to the first answer
   of ``/_emulator/health``, and RSS idle 2 s later; then a restart with a consumer: the first
   10,000 deliveries' throughput (deliveries 1,000 to 11,000, past the app's warm-up), against
   a store that holds only 11,000 messages (median of ``--repeats`` runs, each from a copy of
   the store).

With ``--old PATH`` (a checkout of the code before the in-memory window, e.g. /work/main), each
figure is measured for both trees in the same run (the old tree's figure is then the peer
in ``--json``). Targets: after the burst, RSS within 100 MB of its level before; after the
restart on the backlog, first answer <= 1.5 s, idle RSS <= 200 MB, deliveries >= 0.8x the
small store's. A benchmark, not a test: it takes minutes. ``--json``: the figures as data
(bench/results.py), for bench/report.py.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# `python bench/queue_memory.py` puts bench/ first on the path, where bench/http.py would
# shadow the standard library's http package (which urllib needs); the repository root
# takes its place (for `bench.results`).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))
import urllib.request  # noqa: E402 - after the sys.path set-up above

from bench.results import Figure, Target, add_json_option, emit, text_output  # noqa: E402 - after the sys.path set-up above

APP = '''
import asyncio
import json
import time
from urllib.parse import urlparse, parse_qs

from workers import Response, WorkerEntrypoint

SEEN = {"delivered": 0, "at_1k": None, "at_11k": None}


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        url = urlparse(request.url)
        if url.path == "/send":
            args = parse_qs(url.query)
            total, size = int(args["n"][0]), int(args["size"][0])
            pad = "x" * max(0, size - 20)
            todo = iter(range(0, total, 100))

            async def produce():
                for base in todo:
                    await self.env.Q.sendBatch(
                        [{"body": {"n": n, "p": pad}} for n in range(base, min(base + 100, total))])

            await asyncio.gather(*(produce() for _ in range(32)))
            return Response("sent")
        if url.path == "/seen":
            return Response(json.dumps(SEEN))
        return Response("ok")

    async def queue(self, batch):
        now = time.perf_counter()
        SEEN["delivered"] += len(batch.messages)
        if SEEN["at_1k"] is None and SEEN["delivered"] >= 1000:
            SEEN["at_1k"] = now
        if SEEN["at_11k"] is None and SEEN["delivered"] >= 11000:
            SEEN["at_11k"] = now
'''


def _config(folder: Path, port: int, consumer: bool) -> Path:
    path = folder / ("consumer.toml" if consumer else "producer.toml")
    text = (f'name = "memapp"\nmain = "src/entry.py"\ncompatibility_date = "2025-08-14"\n'
            f'compatibility_flags = ["python_workers"]\n\n[dev]\nport = {port}\n\n'
            f'[[queues.producers]]\nbinding = "Q"\nqueue = "mem"\n')
    if consumer:
        text += '\n[[queues.consumers]]\nqueue = "mem"\nmax_batch_size = 100\nmax_batch_timeout = 0\n'
    path.write_text(text)
    return path


def _rss(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


class Dev:
    """One ``dev`` process of one code tree."""

    def __init__(self, tree: Path, python: str, config: Path, state: Path, port: int) -> None:
        self.port = port
        env = {**os.environ, "PYTHONPATH": str(tree)}
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [python, "-m", "emulator", "dev", "-c", str(config), "--persist-to", str(state), "--no-s3",
             "--no-watch", "--log-level", "error"],
            cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.first_answer = self._wait_ready()

    def _wait_ready(self) -> float:
        deadline = time.perf_counter() + 300
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dev exited: {self.proc.stderr.read().decode() if self.proc.stderr else ''}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_emulator/health", timeout=5) as resp:
                    resp.read()
                    return time.perf_counter() - self.started
            except OSError:
                time.sleep(0.02)
        raise TimeoutError("dev did not answer")

    def get(self, path: str, timeout: float = 600) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout) as resp:
            body = resp.read().decode()
        try:
            return json.loads(body)
        except ValueError:
            return body

    def rss(self) -> tuple[float, float]:
        return _rss(self.proc.pid)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()


def _wait_consumed(dev: Dev, total: int) -> None:
    deadline = time.perf_counter() + 900
    while time.perf_counter() < deadline:
        if dev.get("/seen")["delivered"] >= total and dev.get("/_emulator/queues/mem")["depth"] == 0:
            return
        time.sleep(0.5)
    raise TimeoutError("the queue was not consumed")


def burst(tree: Path, python: str, total: int, port: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "src").mkdir()
        (folder / "src" / "entry.py").write_text(APP)
        dev = Dev(tree, python, _config(folder, port, True), folder / "state", port)
        try:
            dev.get("/")  # the app is loaded
            time.sleep(2)
            before = dev.rss()[0]
            started = time.perf_counter()
            dev.get(f"/send?n={total}&size=1000")
            _wait_consumed(dev, total)
            elapsed = time.perf_counter() - started
            time.sleep(3)
            after, peak = dev.rss()
        finally:
            dev.stop()
    return {"before": before, "peak": peak, "after": after, "seconds": elapsed}


def backlog(tree: Path, python: str, total: int, port: int, repeats: int) -> dict[str, float]:
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "src").mkdir()
        (folder / "src" / "entry.py").write_text(APP)
        producer, consumer = _config(folder, port, False), _config(folder, port, True)
        stores = {"small": folder / "state-small", "full": folder / "state-full"}
        for label, count in (("small", 11_000), ("full", total)):
            dev = Dev(tree, python, producer, stores[label], port)
            try:
                dev.get(f"/send?n={count}&size=220")
                if label == "full":
                    out["send_peak_rss"] = dev.rss()[1]
            finally:
                dev.stop()
        dev = Dev(tree, python, producer, stores["full"], port)
        out["first_answer_s"] = dev.first_answer
        time.sleep(2)
        out["idle_rss"] = dev.rss()[0]
        dev.stop()
        # Deliveries consume the store: each run starts from a copy of it.
        rates: dict[str, list[float]] = {"small": [], "full": []}
        for _ in range(repeats):
            for label in ("small", "full"):
                state = folder / "state-run"
                shutil.rmtree(state, ignore_errors=True)
                shutil.copytree(stores[label], state)
                dev = Dev(tree, python, consumer, state, port)
                try:
                    deadline = time.perf_counter() + 600
                    while (seen := dev.get("/seen"))["at_11k"] is None:
                        if time.perf_counter() > deadline:
                            raise TimeoutError("11,000 deliveries did not come")
                        time.sleep(0.2)
                    rates[label].append(10_000 / (seen["at_11k"] - seen["at_1k"]))
                finally:
                    dev.stop()
        for label, values in rates.items():
            out[f"first_10k_per_s_{label}"] = statistics.median(values)
    return out


def figures(burst_runs: dict[str, dict[str, float]], backlog_runs: dict[str, dict[str, float]],
            burst_n: int, backlog_n: int) -> list[Figure]:
    """This tree's figures as data (bench/results.py), the old tree's as the peer when measured."""
    out: list[Figure] = []

    def add(runs: dict[str, dict[str, float]], name: str, metric: str, unit: str, key: str,
            target: Target | None = None, peer: tuple[str, float] | None = None) -> None:
        if "new" not in runs:
            return
        if peer is None and "old" in runs:
            peer = ("the code before (--old)", runs["old"][key])
        out.append(Figure(name, metric, unit, runs["new"][key], peer[0] if peer else None,
                          peer[1] if peer else None, target))

    burst = f"burst of {burst_n:,} × 1 KB"
    burst_runs = {tree: {**r, "growth": r["after"] - r["before"]} for tree, r in burst_runs.items()}
    add(burst_runs, f"{burst}: peak RSS", "peak RSS", "MB", "peak")
    # Issue 13: once the burst is consumed, RSS back within 100 MB of its level before.
    add(burst_runs, f"{burst}: RSS after consumption minus before", "RSS growth", "MB", "growth",
        Target("value", "<=", 100))
    backlog = f"backlog of {backlog_n:,} × 220 B"
    add(backlog_runs, f"{backlog}: peak RSS while sending", "peak RSS", "MB", "send_peak_rss")
    add(backlog_runs, f"{backlog}: first answer after a restart", "time to first answer", "s", "first_answer_s",
        Target("value", "<=", 1.5))
    add(backlog_runs, f"{backlog}: RSS idle after a restart", "RSS", "MB", "idle_rss", Target("value", "<=", 200))
    if "new" in backlog_runs:
        new = backlog_runs["new"]
        # Against a store of 11,000 messages measured in the same run (issue 18: within 20 %).
        add(backlog_runs, f"{backlog}: deliveries 1,000 to 11,000 after a restart", "delivery rate", "msg/s",
            "first_10k_per_s_full", Target("ratio", ">=", 0.8),
            peer=("a store of 11,000 messages", new["first_10k_per_s_small"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--burst", type=int, default=300_000)
    parser.add_argument("--backlog", type=int, default=500_000)
    parser.add_argument("--old", type=Path, default=None, help="a checkout of the code to compare with")
    parser.add_argument("--old-python", default=sys.executable, help="the interpreter for --old")
    parser.add_argument("--only", choices=("burst", "backlog"), default=None)
    parser.add_argument("--port", type=int, default=None, help="the app's port (default: a free one)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of the delivery measurement (median)")
    add_json_option(parser)
    args = parser.parse_args()
    if args.port is None:
        with socket.socket() as sock:  # a free port now: the machine may be shared
            sock.bind(("127.0.0.1", 0))
            args.port = sock.getsockname()[1]
    trees = [("new", HERE, sys.executable)]
    if args.old is not None:
        trees.insert(0, ("old", args.old.resolve(), args.old_python))
    bursts: dict[str, dict[str, float]] = {}
    backlogs: dict[str, dict[str, float]] = {}
    with text_output(args.json):
        print("Shared 2-core VM: single runs; compare trees within this run only.", flush=True)
        if args.only in (None, "burst"):
            for name, tree, python in trees:
                r = bursts[name] = burst(tree, python, args.burst, args.port)
                print(f"[{name}] burst of {args.burst:,} x 1 KB: RSS before {r['before']:.0f} MB, "
                      f"peak {r['peak']:.0f} MB, after consumption {r['after']:.0f} MB "
                      f"(+{r['after'] - r['before']:.0f} MB); sent and consumed in {r['seconds']:.1f} s", flush=True)
        if args.only in (None, "backlog"):
            for name, tree, python in trees:
                r = backlogs[name] = backlog(tree, python, args.backlog, args.port, args.repeats)
                print(f"[{name}] backlog of {args.backlog:,} x 220 B: peak RSS while sending "
                      f"{r['send_peak_rss']:.0f} MB; restart: first answer after {r['first_answer_s']:.2f} s, "
                      f"idle RSS {r['idle_rss']:.0f} MB; first 10,000 deliveries {r['first_10k_per_s_full']:,.0f}/s "
                      f"(store of 11,000 only: {r['first_10k_per_s_small']:,.0f}/s; medians of {args.repeats})",
                      flush=True)
    emit("queue_memory", figures(bursts, backlogs, args.burst, args.backlog), args.json)


if __name__ == "__main__":
    main()
