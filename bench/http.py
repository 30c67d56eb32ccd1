"""Requests/s through `cf-emulator dev` beside a bare aiohttp handler, in the same run.

Three servers, each in its own process (so each gets the single event loop it would have
in real use): a bare aiohttp handler answering ``Hello World!``, and one `cf-emulator dev`
process hosting a hello-world Python Worker and a hello-world Python Pages Function. The
load generator is ``wrk`` when installed (``apt-get install wrk``), else an aiohttp client
with bounded concurrency in a separate process. Prints requests/s and the ratio to bare
aiohttp (target: ≥ 70%).

    python bench/http.py [--duration 5] [--connections 32] [--rounds 2] [--tool wrk|python]
"""

from __future__ import annotations

import sys

# This file is named like the stdlib `http` package: when run as a script its folder is
# sys.path[0] and would shadow `http` for aiohttp and urllib, so drop it first.
if sys.path and sys.path[0] and __file__.startswith(sys.path[0]):
    sys.path.pop(0)

import argparse
import asyncio
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

HELLO = "Hello World!"

WORKER_CONFIG = """\
name = "bench-worker"
main = "src/entry.py"
compatibility_date = "2025-08-14"
compatibility_flags = ["python_workers"]
"""

WORKER_ENTRY = """\
from workers import Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response("Hello World!")
"""

PAGES_CONFIG = """\
name = "bench-pages"
pages_build_output_dir = "public"
compatibility_date = "2025-08-14"
compatibility_flags = ["python_workers"]
"""

PAGES_FUNCTION = """\
from workers import Response


async def on_request(context):
    return Response("Hello World!")
"""


def write_apps(root: Path) -> tuple[Path, Path]:
    worker = root / "worker"
    (worker / "src").mkdir(parents=True)
    (worker / "wrangler.toml").write_text(WORKER_CONFIG)
    (worker / "src" / "entry.py").write_text(WORKER_ENTRY)
    pages = root / "pages"
    (pages / "public").mkdir(parents=True)
    (pages / "functions").mkdir()
    (pages / "wrangler.toml").write_text(PAGES_CONFIG)
    (pages / "public" / "index.html").write_text("<h1>bench</h1>\n")
    (pages / "functions" / "hello.py").write_text(PAGES_FUNCTION)
    return worker, pages


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the bare aiohttp baseline (runs in its own process) ----------------------------------
def serve_bare(port: int) -> None:
    from aiohttp import web

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text=HELLO)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", hello)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


# --- load generators ------------------------------------------------------------------------
def run_wrk(url: str, duration: float, connections: int) -> float:
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", url],
                         capture_output=True, text=True, check=True).stdout
    match = re.search(r"Requests/sec:\s*([\d.]+)", out)
    if not match or "Non-2xx" in out or "Socket errors" in out and "timeout" in out:
        raise RuntimeError(f"wrk failed or saw errors:\n{out}")
    return float(match.group(1))


async def _python_load(url: str, duration: float, connections: int) -> float:
    import aiohttp

    done = 0
    bad = 0
    deadline = time.perf_counter() + duration
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker() -> None:
            nonlocal done, bad
            while time.perf_counter() < deadline:
                async with session.get(url) as resp:
                    await resp.read()
                    if resp.status == 200:
                        done += 1
                    else:
                        bad += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    if bad:
        raise RuntimeError(f"{bad} non-200 answers from {url}")
    return done / elapsed


def run_python_load(url: str, duration: float, connections: int) -> float:
    # A separate process, so the generator does not share the server's event loop.
    out = subprocess.run([sys.executable, __file__, "--load", url, "--duration", str(duration),
                          "--connections", str(connections)], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux), to report CPU per request.

    Requests/s on a shared 2-core machine swing with whatever else runs; the server's CPU
    time per request is the steadier measure of the emulator's own overhead.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(url: str, pid: int, tool: str, duration: float, connections: int) -> tuple[float, float | None]:
    """(requests/s, server CPU µs per request) of one measurement after a warm-up."""
    load = run_wrk if tool == "wrk" else run_python_load
    load(url, 1, connections)  # warm-up: imports, first-request paths
    before = cpu_seconds(pid)
    started = time.perf_counter()
    rps = load(url, duration, connections)
    elapsed = time.perf_counter() - started
    after = cpu_seconds(pid)
    if before is None or after is None or rps <= 0:
        return rps, None
    # wrk's own duration is what rps is based on; the window here adds a little start-up.
    return rps, (after - before) / (rps * elapsed) * 1e6


def wait_http(url: str, timeout: float = 30.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {timeout}s")
        time.sleep(0.05)


def start_emulator(worker: Path, pages: Path, state: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", "dev", "-c", str(worker / "wrangler.toml"), "-c",
         str(pages / "wrangler.toml"), "--port", "0", "--no-watch", "--no-s3", "--log-level", "error",
         "--persist-to", str(state)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    urls: dict[str, str] = {}
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 60
    while len(urls) < 2 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        match = re.match(r"ready: (\S+) (http://\S+)", line.strip())
        if match:
            urls[match.group(1)] = match.group(2)
    if len(urls) < 2:
        proc.kill()
        raise RuntimeError("cf-emulator dev did not start:\n" + "".join(seen))
    return proc, urls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement (default 5)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--rounds", type=int, default=2, help="measurements per target; the best counts")
    parser.add_argument("--tool", choices=("wrk", "python"), default="wrk" if shutil.which("wrk") else "python")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--load", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return 0
    if args.load:
        print(asyncio.run(_python_load(args.load, args.duration, args.connections)))
        return 0

    with tempfile.TemporaryDirectory(prefix="cfe-bench-") as tmp:
        root = Path(tmp)
        worker, pages = write_apps(root)
        bare_port = free_port()
        bare = subprocess.Popen([sys.executable, __file__, "--serve-bare", str(bare_port)])
        emu, urls = start_emulator(worker, pages, root / "state")
        try:
            targets = {
                "bare aiohttp": (f"http://127.0.0.1:{bare_port}/", bare.pid),
                "Worker (fetch)": (urls["bench-worker"] + "/", emu.pid),
                "Pages Function": (urls["bench-pages"] + "/hello", emu.pid),
            }
            for url, _ in targets.values():
                wait_http(url)
            import urllib.request

            for name, (url, _) in list(targets.items())[1:]:
                body = urllib.request.urlopen(url, timeout=5).read().decode()
                if body != HELLO:
                    raise RuntimeError(f"{name} at {url} answered {body!r}, expected {HELLO!r}")
            results: dict[str, float] = {name: 0.0 for name in targets}
            cpu: dict[str, float | None] = {name: None for name in targets}
            for _ in range(max(1, args.rounds)):
                for name, (url, pid) in targets.items():  # interleaved: drift hits every target alike
                    rps, us = measure(url, pid, args.tool, args.duration, args.connections)
                    results[name] = max(results[name], rps)
                    if us is not None:
                        cpu[name] = us if cpu[name] is None else min(cpu[name], us)  # type: ignore[type-var]
        finally:
            for proc in (emu, bare):
                proc.terminate()
            for proc in (emu, bare):
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()

    base = results["bare aiohttp"]
    print(f"load generator: {args.tool}, {args.connections} connections, {args.duration:g}s x {args.rounds} "
          f"(best), {os.cpu_count()} CPUs")
    print(f"{'target':<16} {'req/s':>10} {'vs bare':>8} {'server CPU/req':>15}")
    for name, rps in results.items():
        us = cpu[name]
        print(f"{name:<16} {rps:>10.0f} {rps / base:>8.0%} {(f'{us:.0f} µs' if us else 'n/a'):>15}")
    worst = min(results["Worker (fetch)"], results["Pages Function"]) / base
    verdict = "meets" if worst >= 0.70 else "below"
    print(f"target >= 70% of bare aiohttp: {verdict} (worst {worst:.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
