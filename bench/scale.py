"""Scale benchmark: what a restarted ``dev`` costs by how much is stored (R2 objects, a queue backlog).

    python bench/scale.py [--sizes 10000,100000,1000000] [--deliveries 10000] [--repeats 3] [--write-readme]

For each size N (and an empty reference, N = 0), in a fresh temporary state directory:

1. **Generate** through the bindings of an in-process ``Emulator`` (the engines' own write
   paths, never SQLite directly): N R2 objects of 1 KiB (``env.BUCKET.put``, keys in a
   scrambled order) and a backlog of N queue messages (``env.Q.sendBatch``, 100 per call,
   no consumer). The reference has no objects and a backlog of ``--deliveries`` messages.
2. **Restart** a real ``cf-emulator dev`` subprocess on that state, twice without a
   consumer: with only the bucket bound (the R2 figures) and with the bucket and the queue
   producer bound (the figures of the whole state). Each time: milliseconds from spawning the
   process to the first 200 answer of the app's port, then the resident set size (RSS) of
   the process once it is idle (CPU below 5 % over half a second). With the bucket bound,
   also a ``list`` of one 1,000-key page (S3 ``ListObjectsV2``, ``max-keys=1000`` from a
   random ``start-after``) and a ``get`` of one object (S3 ``GetObject`` of a key not read
   before, so the store reads it from disk): through the S3 endpoint over HTTP with
   keep-alive, SigV4-signed with botocore when it is installed; the time is the round trip
   (request sent, whole body read), median of 20. Each restart is done ``--repeats`` times
   and the table shows medians.
3. **Deliver**: restart once more with a consumer (``max_batch_size = 100``, acks every
   batch) and time the first ``--deliveries`` deliveries inside the app (``time.monotonic``,
   from the first batch's start to the batch that reaches the count). The reference's rate
   (the "empty store" figure the others are compared with) is the median of ``--repeats``
   runs, each on a fresh backlog of ``--deliveries`` messages; a size's backlog is consumed
   by its delivery run, so that one runs once.

Targets on the 2-core development machine at 1,000,000: RSS <= 200 MB, first answer
<= 1.5 s, page and get <= 10 ms, delivery within 20 % of the empty store. Each restart is a
cold Python start (imports included). ``--write-readme`` replaces the table in
bench/README.md with this run's (dated; one table, no history).
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
import datetime as _dt
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

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

# Deliveries seen by this process: the benchmark reads them with a GET.
STATE = {"count": 0, "first": None, "mark": None, "mark_count": None}
MARK = %d


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response.json(STATE)

    async def queue(self, batch):
        if STATE["first"] is None:
            STATE["first"] = time.monotonic()
        batch.ackAll()
        STATE["count"] += len(batch.messages)
        if STATE["mark"] is None and STATE["count"] >= MARK:
            STATE["mark"] = time.monotonic()
            STATE["mark_count"] = STATE["count"]
'''

CONFIG = f'''name = "scale"
main = "src/entry.py"
compatibility_date = "2025-08-14"
compatibility_flags = ["python_workers"]

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


@dataclass
class Restart:
    first_answer_ms: float
    rss_mb: float


@dataclass
class Result:
    size: int
    objects: int
    messages: int
    generate_s: float = 0.0
    r2: list[Restart] = field(default_factory=list)
    whole: list[Restart] = field(default_factory=list)
    list_ms: list[float] = field(default_factory=list)
    get_ms: list[float] = field(default_factory=list)
    first_delivery_s: list[float] = field(default_factory=list)
    delivery_rate: list[float] = field(default_factory=list)


def key_of(i: int) -> str:
    # A scrambled order (Knuth's multiplicative hash), as uploads arrive in real use.
    return f"data/{(i * 2654435761) % 2**32:08x}-{i}.bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_workspace(ws: Path, producer: bool, consumer: bool, deliveries: int) -> Path:
    (ws / "src").mkdir(parents=True, exist_ok=True)
    (ws / "src" / "entry.py").write_text(ENTRY % deliveries)
    config = ws / "wrangler.toml"
    config.write_text(CONFIG + (PRODUCER if producer else "") + (CONSUMER if consumer else ""))
    return config


async def generate(ws: Path, state: Path, objects: int, messages: int, deliveries: int) -> float:
    config = write_workspace(ws, producer=True, consumer=False, deliveries=deliveries)
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


def measure_s3(port: int, objects: int, rng: random.Random) -> tuple[list[float], list[float]]:
    import urllib.parse

    client = S3Client(port)
    client.get(f"/{BUCKET}?list-type=2&max-keys=1")  # connection and first request warm-up
    lists, gets = [], []
    for _ in range(SAMPLES):
        after = urllib.parse.quote(key_of(rng.randrange(objects)), safe="")
        ms, body = client.get(f"/{BUCKET}?list-type=2&max-keys=1000&start-after={after}")
        assert body.count(b"<Contents>") >= 1, body[:300]
        lists.append(ms)
    for n in rng.sample(range(objects), SAMPLES):
        ms, body = client.get(f"/{BUCKET}/" + urllib.parse.quote(key_of(n), safe="/"))
        assert len(body) == OBJECT_SIZE
        gets.append(ms)
    return lists, gets


def restart(ws: Path, state: Path, tmp: Path, producer: bool, deliveries: int, result: Result,
            rng: random.Random) -> Restart:
    config = write_workspace(ws, producer=producer, consumer=False, deliveries=deliveries)
    dev = Dev(config, state, tmp / "dev.log", s3=not producer and result.objects > 0)
    try:
        first = dev.first_answer_ms()
        wait_idle(dev.proc.pid)
        rss = tree_rss_kb(dev.proc.pid) / 1024
        if dev.s3_port:
            lists, gets = measure_s3(dev.s3_port, result.objects, rng)
            result.list_ms += lists
            result.get_ms += gets
    finally:
        dev.stop()
    return Restart(first, rss)


def deliver(ws: Path, state: Path, tmp: Path, deliveries: int, result: Result) -> None:
    config = write_workspace(ws, producer=True, consumer=True, deliveries=deliveries)
    dev = Dev(config, state, tmp / "dev.log", s3=False)
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
        result.first_delivery_s.append(seen["first"] - dev.started)
        result.delivery_rate.append(seen["mark_count"] / (seen["mark"] - seen["first"]))
    finally:
        dev.stop()


async def run_size(size: int, deliveries: int, repeats: int, rng: random.Random) -> Result:
    objects, messages = (size, size) if size else (0, deliveries)
    result = Result(size, objects, messages)
    with tempfile.TemporaryDirectory(prefix="cf-emulator-scale-") as name:
        tmp = Path(name)
        ws, state = tmp / "ws", tmp / "state"
        print(f"--- {objects:,} objects, {messages:,} messages: generating", flush=True)
        result.generate_s = await generate(ws, state, objects, messages, deliveries)
        print(f"    generated in {result.generate_s:.0f} s; restarting dev", flush=True)
        for _ in range(repeats):
            result.r2.append(restart(ws, state, tmp, False, deliveries, result, rng))
            result.whole.append(restart(ws, state, tmp, True, deliveries, result, rng))
        deliver(ws, state, tmp, deliveries, result)
    if not size:  # the reference: more delivery runs, each on a fresh backlog
        for _ in range(repeats - 1):
            with tempfile.TemporaryDirectory(prefix="cf-emulator-scale-") as name:
                tmp = Path(name)
                await generate(tmp / "ws", tmp / "state", 0, deliveries, deliveries)
                deliver(tmp / "ws", tmp / "state", tmp, deliveries, result)
    print(render([result], None), flush=True)
    return result


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values):.1f}" if values else "–"


def _median(values: list[float], fmt: str) -> str:
    return format(statistics.median(values), fmt) if values else "–"


def render(results: list[Result], reference: Result | None) -> str:
    head = ("| objects / messages | first answer, R2 only (ms) | RSS idle, R2 only (MB) "
            "| first answer, R2 + queue (ms) | RSS idle, R2 + queue (MB) | list 1,000 (ms) "
            "| get (ms) | first delivery (s) | delivery rate (msg/s) | vs empty |\n"
            "|---|---|---|---|---|---|---|---|---|---|")
    rows = [head]
    for r in results:
        rate = statistics.median(r.delivery_rate) if r.delivery_rate else None
        ratio = (f"{rate / statistics.median(reference.delivery_rate):.2f}×"
                 if reference is not None and reference.delivery_rate and rate else "–")
        label = f"{r.objects:,} / {r.messages:,}" if r.size else f"empty (0 / {r.messages:,})"
        rows.append(f"| {label} | {_median([x.first_answer_ms for x in r.r2], '.0f')} "
                    f"| {_median([x.rss_mb for x in r.r2], '.0f')} "
                    f"| {_median([x.first_answer_ms for x in r.whole], '.0f')} "
                    f"| {_median([x.rss_mb for x in r.whole], '.0f')} | {_ms(r.list_ms)} | {_ms(r.get_ms)} "
                    f"| {_median(r.first_delivery_s, '.2f')} | {_median(r.delivery_rate, ',.0f')} | {ratio} |")
    return "\n".join(rows)


def write_readme(table: str, args: argparse.Namespace) -> None:
    path = ROOT / "bench" / "README.md"
    text = path.read_text() if path.exists() else ""
    begin, end = "<!-- scale.py table -->", "<!-- end of scale.py table -->"
    block = (f"{begin}\n`python bench/scale.py --sizes {args.sizes} --deliveries {args.deliveries} "
             f"--repeats {args.repeats}`, {_dt.date.today().isoformat()}, {os.cpu_count()}-core machine "
             f"shared with other work; medians of {args.repeats} restarts (list and get: of "
             f"{SAMPLES * args.repeats} requests; a size's delivery: one run):\n\n{table}\n{end}")
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="comma-separated numbers of objects and of messages")
    parser.add_argument("--deliveries", type=int, default=10_000,
                        help="deliveries timed after the restart (and the reference backlog)")
    parser.add_argument("--repeats", type=int, default=3, help="restarts measured per size (medians)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--write-readme", action="store_true",
                        help="replace the table in bench/README.md with this run's")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if any(s < args.deliveries for s in sizes):
        parser.error(f"every size must be at least --deliveries ({args.deliveries})")
    tune_gc()  # what `cf-emulator dev` runs with, for the generation too
    rng = random.Random(args.seed)
    repeats = max(1, args.repeats)
    reference = asyncio.run(run_size(0, args.deliveries, repeats, rng))
    results = [reference] + [asyncio.run(run_size(size, args.deliveries, repeats, rng)) for size in sizes]
    table = render(results, reference)
    print("\n" + table)
    if args.write_readme:
        write_readme(table, args)


if __name__ == "__main__":
    main()
