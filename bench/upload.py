"""Memory and latency of big uploads through `cf-emulator dev`, with this tree beside the code before.

One `cf-emulator dev` process hosts two Worker apps: ``upload`` reads ``form_data()`` and
writes the file part to R2 (streamed with ``file.stream()`` where the runtime has it, else
``await file.bytes()``), and ``hello`` answers ``ok``. Per run and per code base:

(a) the process's peak RSS increase during one 200 MB chunked multipart upload (limit
    raised to 250 MB): ``/proc/<pid>/clear_refs`` resets the peak, ``VmHWM`` minus
    ``VmRSS`` before the upload is the increase (target ≤ 100 MB);
(b) the p99 latency of small GETs to ``hello``, sent at a fixed rate (50/s) by a separate
    process while the upload runs, each timed from when it was due (target ≤ 100 ms);
(c) the same upload at the default limit: the status (413 expected) and the peak RSS
    increase (expected flat).

With ``--before REF`` (e.g. the commit before streamed bodies, whose code has no limit and
no ``--request-body-limit`` flag, so its (c) is the same upload accepted whole), that code
base is exported with ``git archive`` and measured beside this tree with this interpreter.
Figures are medians over ``--runs`` (interleaved, so drift hits both alike); on a shared
machine the latencies move first, hence the idle p99 beside them.

    .venv/bin/python bench/upload.py [--runs 3] [--mb 200] [--before REF] [--json]

``--json``: this tree's figures as data (bench/results.py), for bench/report.py.
"""

from __future__ import annotations

import sys

# bench/http.py is named like the stdlib `http` package: when this runs as a script its
# folder is sys.path[0] and would shadow `http` for aiohttp, so the repository root takes
# its place (for `bench.results`).
if sys.path and sys.path[0] and __file__.startswith(sys.path[0]):
    sys.path[0] = str(__import__("pathlib").Path(__file__).resolve().parents[1])

import argparse
import asyncio
import multiprocessing
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from collections.abc import AsyncIterator

import aiohttp

from bench.results import Figure, Target, add_json_option, emit, text_output

WORKER = """\
name = "{name}"
main = "src/entry.py"
compatibility_date = "2025-08-14"
compatibility_flags = ["python_workers"]
{extra}
"""

UPLOAD = """\
from workers import Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        form = await request.form_data()
        upload = form.get("file")
        # file.stream() where the runtime has it; the code before streamed bodies does not.
        body = upload.stream() if hasattr(upload, "stream") else await upload.bytes()
        stored = await self.env.BUCKET.put("upload.bin", body)
        return Response.json({"size": stored.size})
"""

HELLO = """\
from workers import Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response("ok")
"""

BOUNDARY = "bench-upload-boundary"
CHUNK = 1 << 20
PROBE_INTERVAL = 0.02  # seconds between two GETs to the other app (50 per second)


def write_workspace(root: Path) -> Path:
    files = {
        "wrangler.toml": '[workspace]\napps = ["upload", "hello"]\n',
        "upload/wrangler.toml": WORKER.format(name="upload", extra='[[r2_buckets]]\nbinding = "BUCKET"\n'
                                                                  'bucket_name = "bench-uploads"\n'),
        "upload/src/entry.py": UPLOAD,
        "hello/wrangler.toml": WORKER.format(name="hello", extra=""),
        "hello/src/entry.py": HELLO,
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "wrangler.toml"


class Dev:
    """A `cf-emulator dev` child (of one code base) and the app URLs it printed."""

    def __init__(self, source: Path | None, workspace: Path, state: Path, extra: list[str]) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if source is not None:  # another code base: its `emulator` package comes first
            env["PYTHONPATH"] = str(source)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "emulator", "dev", "-c", str(workspace), "--port", "0", "--no-s3", "--no-watch",
             "--persist-to", str(state), "--log-level", "warn", *extra],
            cwd=workspace.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.urls: dict[str, str] = {}
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 120
        seen: list[str] = []
        while len(self.urls) < 2:
            line = self.proc.stdout.readline()
            seen.append(line)
            if not line or time.monotonic() > deadline:
                raise RuntimeError("dev did not start:\n" + "".join(seen[-20:]))
            if line.startswith("ready: "):
                _, name, url = line.split()
                self.urls[name] = url

    def status(self, key: str) -> int:
        """A ``/proc/<pid>/status`` figure in kB (VmRSS, VmHWM)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise KeyError(key)

    def reset_peak(self) -> None:
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def multipart(size: int) -> AsyncIterator[bytes]:
    yield (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
           "Content-Type: application/octet-stream\r\n\r\n").encode()
    chunk = os.urandom(CHUNK)
    sent = 0
    while sent < size:
        piece = chunk[: min(CHUNK, size - sent)]
        sent += len(piece)
        yield piece
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def probe(url: str, stop: Any, out: Any) -> None:
    """Small GETs at a fixed rate until ``stop`` is set; their latencies in ms go to ``out``.

    Each latency runs from when the GET was *due*, not when it was sent, and a GET does not
    wait for the previous one: a stall of the server shows as every request it delayed,
    not as one slow sample (no coordinated omission).
    """

    async def run() -> tuple[list[float], int]:
        latencies: list[float] = []
        loop = asyncio.get_running_loop()

        async def one(session: aiohttp.ClientSession, due: float) -> None:
            try:
                async with session.get(url) as resp:
                    await resp.read()
            except (TimeoutError, aiohttp.ClientError):
                failures.append(1)  # a GET that never got its answer counts with the time it waited
            latencies.append((loop.time() - due) * 1000)

        failures: list[int] = []
        tasks: set[asyncio.Task[None]] = set()
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:
            due = loop.time()
            while not stop.is_set():
                task = loop.create_task(one(session, due))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                due += PROBE_INTERVAL
                await asyncio.sleep(max(0.0, due - loop.time()))
            if tasks:
                await asyncio.wait(tasks)
        return latencies, len(failures)

    out.put(asyncio.run(run()))


async def upload(url: str, size: int) -> int:
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.post(url, data=multipart(size),
                                headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"}) as resp:
            await resp.read()
            return resp.status


def idle_p99(url: str, seconds: float = 3.0) -> float:
    """The same probe with no upload running: what the machine itself adds."""
    stop = multiprocessing.Event()
    out: multiprocessing.Queue[tuple[list[float], int]] = multiprocessing.Queue()
    prober = multiprocessing.Process(target=probe, args=(url, stop, out))
    prober.start()
    time.sleep(seconds)
    stop.set()
    latencies = sorted(out.get(timeout=300)[0])
    prober.join()
    return latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]


def measure(dev: Dev, size: int, with_probe: bool) -> dict[str, Any]:
    time.sleep(0.5)  # let start-up settle
    idle = idle_p99(dev.urls["hello"]) if with_probe else None
    before = dev.status("VmRSS")
    dev.reset_peak()
    stop = multiprocessing.Event()
    out: multiprocessing.Queue[tuple[list[float], int]] = multiprocessing.Queue()  # (latencies, failures)
    prober = multiprocessing.Process(target=probe, args=(dev.urls["hello"], stop, out)) if with_probe else None
    if prober is not None:
        prober.start()
        time.sleep(0.3)
    started = time.perf_counter()
    status = asyncio.run(upload(dev.urls["upload"], size))
    seconds = time.perf_counter() - started
    result: dict[str, Any] = {"status": status, "seconds": seconds,
                              "peak_increase_mb": (dev.status("VmHWM") - before) / 1024}
    if prober is not None:
        stop.set()
        got, failed = out.get(timeout=300)
        latencies = sorted(got)
        prober.join()
        result["idle_p99_ms"] = idle
        result["p99_ms"] = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        result["max_ms"] = latencies[-1]
        result["probes"] = len(latencies)
        result["failed"] = failed
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mb", type=int, default=200, help="upload size in MB (default 200)")
    parser.add_argument("--before", default="", metavar="REF",
                        help="git ref of the code to compare with (default: none)")
    add_json_option(parser)
    args = parser.parse_args(argv)
    with text_output(args.json):
        results = run(args)
    emit("upload", figures(results["this tree"], args.mb), args.json, argv)
    return 0


def figures(runs: dict[str, list[dict[str, Any]]], mb: int) -> list[Figure]:
    """This tree's medians as data (bench/results.py)."""
    def med(mode: str, key: str) -> float:
        return float(statistics.median(r[key] for r in runs[mode]))

    raised = f"{mb} MB multipart upload, limit raised"
    statuses = sorted({r["status"] for r in runs["default"]})
    return [
        Figure(f"{raised}: peak RSS increase", "peak RSS increase", "MB", med("raised", "peak_increase_mb"),
               target=Target("value", "<=", 100)),
        Figure(f"{raised}: p99 of GETs to another app meanwhile", "latency p99", "ms", med("raised", "p99_ms"),
               "the same GETs, no upload", med("raised", "idle_p99_ms"), Target("value", "<=", 100)),
        Figure(f"{raised}: upload time", "time", "s", med("raised", "seconds")),
        # Above the default limit (100 MB, emulator/runtime/body.py) Cloudflare answers 413.
        Figure(f"{mb} MB upload at the default limit: status", "HTTP status", "", statistics.median(statuses),
               target=Target("value", "==", 413 if mb > 100 else 200)),
        Figure(f"{mb} MB upload at the default limit: peak RSS increase", "peak RSS increase", "MB",
               med("default", "peak_increase_mb")),
    ]


def run(args: argparse.Namespace) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Every run of every code base and mode; prints the text table."""
    size = args.mb * 1_000_000
    here = Path(__file__).resolve().parents[1]
    root = Path(tempfile.mkdtemp(prefix="bench-upload-"))
    bases: dict[str, Path | None] = {"this tree": None}
    ref = args.before
    if ref:
        exported = root / "before"
        exported.mkdir()
        archive = subprocess.run(["git", "archive", ref], cwd=here, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(exported)], input=archive, check=True)
        bases["before"] = exported
        print(f"before = {ref[:12]} (exported to {exported})")
    results: dict[str, dict[str, list[dict[str, Any]]]] = {b: {"raised": [], "default": []} for b in bases}
    try:
        workspace = write_workspace(root / "ws")
        for run in range(args.runs):
            for base, source in bases.items():
                for mode in ("raised", "default"):
                    if source is not None and mode == "default":
                        continue  # the code before has no limit: its "default" is the raised run
                    extra = ["--request-body-limit", f"{args.mb + 50}MB"] if source is None and mode == "raised" \
                        else []
                    state = root / f"state-{run}-{base.replace(' ', '-')}-{mode}"
                    dev = Dev(source, workspace, state, extra)
                    try:
                        measured = measure(dev, size, with_probe=(mode == "raised"))
                    finally:
                        dev.stop()
                        shutil.rmtree(state, ignore_errors=True)
                    results[base][mode].append(measured)
                    print(f"run {run + 1} {base:>9} {mode:>7}: " + ", ".join(
                        f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in measured.items()),
                        flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    def med(base: str, mode: str, key: str) -> float:
        return float(statistics.median(r[key] for r in results[base][mode]))

    print(f"\n{args.mb} MB chunked multipart upload, medians of {args.runs} runs "
          f"(2-core machine shared with other jobs: latencies are the noisiest figure)")
    print(f"{'':<10} {'(a) peak RSS +MB':>17} {'(b) hello p99 ms':>17} {'idle p99':>9} {'max ms':>8} {'upload s':>9} "
          f"{'(c) default limit':>18} {'(c) peak RSS +MB':>17}")
    for base in bases:
        default = "default" if results[base]["default"] else "raised"
        statuses = sorted({r["status"] for r in results[base][default]})
        print(f"{base:<10} {med(base, 'raised', 'peak_increase_mb'):17.0f} {med(base, 'raised', 'p99_ms'):17.1f} "
              f"{med(base, 'raised', 'idle_p99_ms'):9.1f} {med(base, 'raised', 'max_ms'):8.0f} "
              f"{med(base, 'raised', 'seconds'):9.1f} {'/'.join(map(str, statuses)):>18} "
              f"{med(base, default, 'peak_increase_mb'):17.0f}")
    print("targets: (a) <= 100 MB, (b) <= 100 ms, (c) 413 with flat RSS; idle p99: the same probe before "
          "the upload (the machine's own noise)")
    return results


if __name__ == "__main__":
    raise SystemExit(main())
