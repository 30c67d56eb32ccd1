"""Scale benchmark: what a restarted ``dev`` costs by how much is stored (R2 objects, a queue backlog).

    .venv/bin/python bench/scale.py [--sizes 10000,100000,1000000] [--deliveries 10000] [--repeats 3]
                                    [--delivery-runs 5] [--json]

For each size N (and an empty reference: no objects, a backlog of ``--deliveries``
messages), in a fresh temporary state directory:

1. **Generate** through the bindings of an in-process ``Emulator`` (the engines' own write
   paths, never SQLite directly): N R2 objects of 1 KiB (``env.BUCKET.put``, keys in a
   scrambled order) and a backlog of N queue messages of ~200 bytes (``env.Q.sendBatch``,
   100 per call, no consumer).
2. **Restart** a real ``cf-emulator dev`` subprocess on that state with the bucket and the
   queue producer bound and the S3 endpoint on (what a developer's ``dev`` opens), no
   consumer: milliseconds from spawning the process to the first 200 answer of the app's
   port, then the resident set size (RSS) of the process once it is idle (CPU below 5 %
   over half a second). Then a ``list`` of one 1,000-key page (S3 ``ListObjectsV2``,
   ``max-keys=1000`` from a random ``start-after`` that leaves a full page) and a ``get`` of
   one object (S3 ``GetObject`` of a key not read before, so the store reads it from
   disk): through the S3 endpoint over HTTP with keep-alive, SigV4-signed with botocore;
   the time is the round trip (request sent, whole body read), median of 20 per restart,
   and the server process's CPU time per list over those 20. ``--repeats`` restarts.
3. **Deliver**: ``--delivery-runs`` times, on a fresh copy of the generated backlog (the
   ``queues`` folder of the state; deliveries consume it), restart ``dev`` with the queue's
   producer and a consumer (``max_batch_size = 100``, acks every batch) and time the first
   ``--deliveries`` deliveries inside the app (from the first batch's start to the batch
   that reaches the count), in wall time (``time.monotonic``) and in the process's CPU
   time (``time.process_time``, which moves less with the machine's load), and the time
   from spawning ``dev`` to the first batch. Each run is followed by one on the empty
   reference's backlog (``--deliveries`` messages, generated once), and each size's median
   rate is compared with the median of those runs in between: the same stretch of load.

Targets on the 2-core development machine, at every size: RSS <= 200 MB, first answer
<= 1.5 s, page and get <= 10 ms, delivery rate >= 0.8x the empty store's. Each restart is a
cold Python start (imports included). ``--json``: the figures as data (bench/results.py),
for bench/report.py, which writes them into bench/README.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, Python puts bench/ first on sys.path, where a sibling benchmark (http.py)
# would shadow the standard library's http package; use the repository root instead.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import asyncio
import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from bench.results import Figure, Target, add_json_option, emit, text_output
from emulator.cli.dev import tune_gc
from emulator.emulator import Emulator
from emulator.logs import EventLog

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "scale"
QUEUE = "scale-backlog"
OBJECT_SIZE = 1024
SAMPLES = 20

ENTRY = '''
import time

from workers import Response, WorkerEntrypoint

# Deliveries seen by this process: the benchmark reads them with a GET. CPU time (of the
# whole process, every thread) beside wall time: it moves less with the machine's load.
STATE = {"count": 0, "first": None, "mark": None, "mark_count": None, "cpu_first": None, "cpu_mark": None}
MARK = %d


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response.json(STATE)

    async def queue(self, batch):
        if STATE["first"] is None:
            STATE["first"] = time.monotonic()
            STATE["cpu_first"] = time.process_time()
        batch.ackAll()
        STATE["count"] += len(batch.messages)
        if STATE["mark"] is None and STATE["count"] >= MARK:
            STATE["mark"] = time.monotonic()
            STATE["cpu_mark"] = time.process_time()
            STATE["mark_count"] = STATE["count"]
'''

CONFIG = '''name = "scale"
main = "src/entry.py"
compatibility_date = "2025-08-14"
compatibility_flags = ["python_workers"]
'''
BUCKET_BINDING = f'''
[[r2_buckets]]
binding = "BUCKET"
bucket_name = "{BUCKET}"
'''
PRODUCER = f'''
[[queues.producers]]
binding = "Q"
queue = "{QUEUE}"
'''
CONSUMER = f'''
[[queues.consumers]]
queue = "{QUEUE}"
max_batch_size = 100
max_batch_timeout = 1
'''

# Targets (issue 18) on the 2-core development machine, at every size.
RSS_MB = Target("value", "<=", 200)
FIRST_ANSWER_MS = Target("value", "<=", 1500)
REQUEST_MS = Target("value", "<=", 10)
DELIVERY = Target("ratio", ">=", 0.8)


@dataclass
class Result:
    size: int
    objects: int
    messages: int
    generate_s: float = 0.0
    first_answer_ms: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    list_ms: list[float] = field(default_factory=list)
    list_cpu_ms: list[float] = field(default_factory=list)
    get_ms: list[float] = field(default_factory=list)
    first_delivery_s: list[float] = field(default_factory=list)
    delivery_rate: list[float] = field(default_factory=list)
    delivery_cpu_rate: list[float] = field(default_factory=list)
    # The empty store's delivery runs interleaved with this size's (same machine load).
    reference_rate: list[float] = field(default_factory=list)
    reference_cpu_rate: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Store:
    """A generated state directory and the workspace beside it."""

    ws: Path
    state: Path
    tmp: Path


def key_of(i: int) -> str:
    # A scrambled order (Knuth's multiplicative hash), as uploads arrive in real use.
    return f"data/{(i * 2654435761) % 2**32:08x}-{i}.bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_workspace(ws: Path, bucket: bool, consumer: bool, deliveries: int) -> Path:
    (ws / "src").mkdir(parents=True, exist_ok=True)
    (ws / "src" / "entry.py").write_text(ENTRY % deliveries)
    config = ws / "wrangler.toml"
    config.write_text(CONFIG + (BUCKET_BINDING if bucket else "") + PRODUCER + (CONSUMER if consumer else ""))
    return config


async def generate(ws: Path, state: Path, objects: int, messages: int, deliveries: int) -> float:
    config = write_workspace(ws, bucket=True, consumer=False, deliveries=deliveries)
    emu = Emulator([config], state_dir=state, port=0, s3_port=None, log=EventLog(capacity=100))
    started = time.perf_counter()
    async with emu:
        env = emu.platform.env_for(emu.platform.app("scale"))
        value = os.urandom(OBJECT_SIZE)
        for i in range(objects):
            await env.BUCKET.put(key_of(i), value)
            if i and i % 100_000 == 0:
                print(f"    {i:,} objects", flush=True)
        for start in range(0, messages, 100):
            await env.Q.sendBatch([{"body": {"n": n, "payload": "x" * 160}}
                                   for n in range(start, min(start + 100, messages))])
            if start and start % 100_000 == 0:
                print(f"    {start:,} messages", flush=True)
    return time.perf_counter() - started


def tree_rss_kb(pid: int) -> int:
    """VmRSS of ``pid`` and of its descendants (kB)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def wait_idle(pid: int, timeout: float = 20.0) -> None:
    hz = os.sysconf("SC_CLK_TCK")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_ticks(pid)
        time.sleep(0.5)
        if (cpu_ticks(pid) - before) / hz < 0.025:  # under 5 % of a core
            return


class Dev:
    """A ``cf-emulator dev`` subprocess on the benchmark's workspace and state."""

    def __init__(self, config: Path, state: Path, log: Path, s3: bool) -> None:
        self.port = free_port()
        self.s3_port = free_port() if s3 else None
        args = [sys.executable, "-m", "emulator", "dev", "-c", str(config), "--persist-to", str(state),
                "--port", str(self.port), "--no-watch", "--log-level", "warn"]
        args += ["--s3-port", str(self.s3_port)] if self.s3_port else ["--no-s3"]
        self.started = time.monotonic()
        with open(log, "ab") as out:  # the child has its own copy of the descriptor
            self.proc = subprocess.Popen(args, cwd=config.parent, stdout=out, stderr=subprocess.STDOUT,
                                         env={**os.environ, "PYTHONPATH": str(ROOT)})
        self.log = log

    def first_answer_ms(self, timeout: float = 300.0) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dev exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/")
                if conn.getresponse().status == 200:
                    return (time.monotonic() - self.started) * 1000
            except OSError:
                pass
            time.sleep(0.005)
        raise RuntimeError(f"dev did not answer in {timeout} s:\n{self.log.read_text()[-3000:]}")

    def app_state(self) -> dict[str, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("GET", "/")
        return dict(json.loads(conn.getresponse().read()))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class S3Client:
    """Plain HTTP with keep-alive to the S3 endpoint; SigV4-signed when botocore is there."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            from botocore.auth import SigV4Auth
            from botocore.awsrequest import AWSRequest
            from botocore.credentials import Credentials

            self._sign: Any = (SigV4Auth(Credentials("bench", "bench"), "s3", "auto"), AWSRequest)
        except ImportError:
            self._sign = None

    def get(self, path: str) -> tuple[float, bytes]:
        """(milliseconds for the round trip, body) of a GET of ``path`` (quoted, with query)."""
        headers: dict[str, str] = {}
        if self._sign is not None:
            auth, request_class = self._sign
            request = request_class("GET", f"http://127.0.0.1:{self.port}{path}")
            request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
            auth.add_auth(request)
            headers = dict(request.headers.items())
        started = time.perf_counter()
        self.conn.request("GET", path, headers=headers)
        response = self.conn.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise RuntimeError(f"S3 GET {path}: {response.status} {body[:300]!r}")
        return elapsed, body


def measure_s3(pid: int, port: int, objects: int, starts: list[str],
               rng: random.Random) -> tuple[list[float], float, list[float]]:
    """(list round trips, the server's CPU ms per list, get round trips), in ms. ``starts``:
    keys with at least 1,000 keys after them."""
    client = S3Client(port)
    client.get(f"/{BUCKET}?list-type=2&max-keys=1")  # connection and first request warm-up
    lists, gets = [], []
    # The server's CPU time per list: what a round trip on a busy shared machine is made of
    # besides waiting for a core (clock ticks, so only meaningful over the 20 lists).
    cpu = cpu_ticks(pid)
    for _ in range(SAMPLES):
        after = urllib.parse.quote(rng.choice(starts), safe="")
        ms, body = client.get(f"/{BUCKET}?list-type=2&max-keys=1000&start-after={after}")
        assert body.count(b"<Contents>") == 1000, body[:300]
        lists.append(ms)
    list_cpu_ms = (cpu_ticks(pid) - cpu) / os.sysconf("SC_CLK_TCK") * 1000 / SAMPLES
    for n in rng.sample(range(objects), SAMPLES):
        ms, body = client.get(f"/{BUCKET}/" + urllib.parse.quote(key_of(n), safe="/"))
        assert len(body) == OBJECT_SIZE
        gets.append(ms)
    return lists, list_cpu_ms, gets


def restart(ws: Path, state: Path, tmp: Path, deliveries: int, result: Result, starts: list[str],
            rng: random.Random) -> None:
    """One restart of the whole state without a consumer: first answer, idle RSS, list, get."""
    config = write_workspace(ws, bucket=True, consumer=False, deliveries=deliveries)
    dev = Dev(config, state, tmp / "dev.log", s3=True)
    try:
        result.first_answer_ms.append(dev.first_answer_ms())
        wait_idle(dev.proc.pid)
        result.rss_mb.append(tree_rss_kb(dev.proc.pid) / 1024)
        if result.objects:
            lists, list_cpu, gets = measure_s3(dev.proc.pid, dev.s3_port or 0, result.objects, starts, rng)
            result.list_ms.append(statistics.median(lists))
            result.list_cpu_ms.append(list_cpu)
            result.get_ms.append(statistics.median(gets))
    finally:
        dev.stop()


def deliver(store: Store, deliveries: int) -> tuple[float, float, float]:
    """(seconds from spawning dev to the first delivery, deliveries per second, deliveries
    per CPU second) from a copy of the store's backlog (deliveries consume what they deliver)."""
    copy = store.tmp / "state-delivery"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(store.state / "queues", copy / "queues")
    config = write_workspace(store.ws, bucket=False, consumer=True, deliveries=deliveries)
    dev = Dev(config, copy, store.tmp / "dev.log", s3=False)
    try:
        dev.first_answer_ms()
        deadline = time.monotonic() + 600
        while True:
            seen = dev.app_state()
            if seen["mark"] is not None:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {seen['count']} deliveries in 600 s")
            time.sleep(0.05)
        # time.monotonic() is one clock for every process of the machine (CLOCK_MONOTONIC).
        return (seen["first"] - dev.started, seen["mark_count"] / (seen["mark"] - seen["first"]),
                seen["mark_count"] / max(seen["cpu_mark"] - seen["cpu_first"], 1e-6))
    finally:
        dev.stop()
        shutil.rmtree(copy, ignore_errors=True)


async def run_size(size: int, deliveries: int, repeats: int, delivery_runs: int, rng: random.Random,
                   tmp: Path, reference: tuple[Store, Result] | None) -> tuple[Store, Result]:
    """Generate a size's state in ``tmp`` and measure it. Each of its delivery runs is
    followed by one on the empty store's backlog (``reference``), so that the two rates
    compared come from the same stretch of the machine's load."""
    objects, messages = (size, size) if size else (0, deliveries)
    result = Result(size, objects, messages)
    store = Store(tmp / "ws", tmp / "state", tmp)
    print(f"--- {objects:,} objects, {messages:,} messages: generating", flush=True)
    result.generate_s = await generate(store.ws, store.state, objects, messages, deliveries)
    print(f"    generated in {result.generate_s:.0f} s; restarting dev", flush=True)
    # Where a listing can start and still fill a page of 1,000 keys.
    starts = sorted(key_of(i) for i in range(objects))[:-1000]
    for _ in range(repeats):
        restart(store.ws, store.state, tmp, deliveries, result, starts, rng)
    for _ in range(delivery_runs):
        first, rate, cpu_rate = deliver(store, deliveries)
        result.first_delivery_s.append(first)
        result.delivery_rate.append(rate)
        result.delivery_cpu_rate.append(cpu_rate)
        if reference is not None:
            ref_store, ref = reference
            first, rate, cpu_rate = deliver(ref_store, deliveries)
            for into, value in ((ref.first_delivery_s, first), (ref.delivery_rate, rate),
                                (ref.delivery_cpu_rate, cpu_rate), (result.reference_rate, rate),
                                (result.reference_cpu_rate, cpu_rate)):
                into.append(value)
    print("    delivery rates (msg/s): " + ", ".join(f"{r:,.0f}" for r in result.delivery_rate)
          + ("; empty store's, in between: " + ", ".join(f"{r:,.0f}" for r in result.reference_rate)
             if result.reference_rate else ""), flush=True)
    print(render([result]), flush=True)
    return store, result


def label(r: Result) -> str:
    return f"{r.objects:,} objects / {r.messages:,} messages" if r.size else f"empty (0 / {r.messages:,})"


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def render(results: list[Result]) -> str:
    """The text table of this run (medians)."""
    head = ("| objects / messages | first answer (ms) | RSS idle (MB) | list 1,000 (ms) | CPU per list (ms) "
            "| get (ms) | first delivery (s) | delivery rate (msg/s) | vs empty | by CPU time, vs empty |\n"
            "|---|---|---|---|---|---|---|---|---|---|")
    rows = [head]

    def cell(values: list[float], fmt: str) -> str:
        m = median(values)
        return "–" if m is None else format(m, fmt)

    def versus(ours: list[float], theirs: list[float]) -> str:
        a, b = median(ours), median(theirs)
        return f"{a / b:.2f}×" if a and b else "–"

    for r in results:
        rows.append(f"| {label(r)} | {cell(r.first_answer_ms, '.0f')} | {cell(r.rss_mb, '.0f')} "
                    f"| {cell(r.list_ms, '.1f')} | {cell(r.list_cpu_ms, '.1f')} | {cell(r.get_ms, '.1f')} "
                    f"| {cell(r.first_delivery_s, '.2f')} | {cell(r.delivery_rate, ',.0f')} "
                    f"| {versus(r.delivery_rate, r.reference_rate)} "
                    f"| {versus(r.delivery_cpu_rate, r.reference_cpu_rate)} |")
    return "\n".join(rows)


def figures(results: list[Result]) -> list[Figure]:
    """The medians of this run as data (bench/results.py)."""
    out: list[Figure] = []
    for r in results:
        where = f"{r.size:,} objects + {r.size:,} messages" if r.size else "empty store"
        for metric, unit, values, target in (
                ("first answer after a restart", "ms", r.first_answer_ms, FIRST_ANSWER_MS),
                ("RSS of the idle dev", "MB", r.rss_mb, RSS_MB),
                ("list of a 1,000-key page (S3)", "ms", r.list_ms, REQUEST_MS),
                ("server CPU per list", "ms", r.list_cpu_ms, None),
                ("get of one object (S3)", "ms", r.get_ms, REQUEST_MS),
                ("time to the first delivery", "s", r.first_delivery_s, None)):
            m = median(values)
            if m is not None:
                out.append(Figure(f"{where}: {metric}", metric, unit, m, target=target))
        count = f"first {results[0].messages:,} deliveries"
        for metric, unit, ours, theirs, target in (
                (count, "msg/s", r.delivery_rate, r.reference_rate, DELIVERY),
                (f"{count} by CPU time", "msg/CPU s", r.delivery_cpu_rate, r.reference_cpu_rate, None)):
            m, peer = median(ours), median(theirs)
            if m is None:
                continue
            if peer is None:
                out.append(Figure(f"{where}: {metric}", metric, unit, m))
            else:
                out.append(Figure(f"{where}: {metric}", metric, unit, m, "empty store, runs in between", peer,
                                  target))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="comma-separated numbers of objects and of messages")
    parser.add_argument("--deliveries", type=int, default=10_000,
                        help="deliveries timed after the restart (and the reference backlog)")
    parser.add_argument("--repeats", type=int, default=3, help="restarts per size (medians)")
    parser.add_argument("--delivery-runs", type=int, default=5,
                        help="delivery runs per size, each followed by one on the empty store (medians)")
    parser.add_argument("--seed", type=int, default=1)
    add_json_option(parser)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if any(s < args.deliveries for s in sizes):
        parser.error(f"every size must be at least --deliveries ({args.deliveries})")
    with text_output(args.json):
        tune_gc()  # what `cf-emulator dev` runs with, for the generation too
        rng = random.Random(args.seed)
        repeats, runs = max(1, args.repeats), max(1, args.delivery_runs)
        results = []
        # The empty store stays for the whole run: its deliveries are interleaved with every size's.
        with tempfile.TemporaryDirectory(prefix="cf-emulator-scale-") as ref_dir:
            reference = asyncio.run(run_size(0, args.deliveries, repeats, runs, rng, Path(ref_dir), None))
            results.append(reference[1])
            for size in sizes:
                with tempfile.TemporaryDirectory(prefix="cf-emulator-scale-") as name:
                    results.append(asyncio.run(run_size(size, args.deliveries, repeats, runs, rng, Path(name),
                                                        reference))[1])
        print(f"\nmedians of {repeats} restarts (list and get: medians of {SAMPLES} requests per restart) and "
              f"{runs} delivery runs per size, each followed by one on the empty store; machine load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n")
        print(render(results))
    emit("scale", figures(results), args.json)


if __name__ == "__main__":
    main()
