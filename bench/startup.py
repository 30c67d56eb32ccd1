"""Benchmark: how long `cf-emulator` takes as a whole process, start-up included.

Whole processes, as a developer runs them (interpreter start, imports, work, exit), the
median of several runs each:

- ``cf-emulator check apps/web``  (target ≤ 0.15 s);
- ``cf-emulator --help``;
- ``cf-emulator dev`` on the demo workspace (the repo root's ``wrangler.toml``) until its
  first HTTP answer (target ≤ 0.9 s): the time from spawning the process to the first
  response of the first app that prints ``ready:`` (any status counts: the app answered);
  the ``ready:`` line's own time is shown too;

and, when wrangler can be run, its equivalents beside them: ``wrangler --help``, ``wrangler
pages functions build-env apps/web`` (what `check` judges a Pages config like) and ``wrangler
dev`` of a small JavaScript Worker with the same kinds of bindings (queue producer and
consumer, R2, D1) until its first answer.

Runs use the bytecode cache as a developer's install has it (``PYTHONDONTWRITEBYTECODE`` is
removed from the children's environment and one warm-up run fills the cache). `dev` runs on
a temporary state directory, warmed by one run first (the demo's migrations applied), with
``--port 0`` so busy ports on a shared machine do not matter. The machine may be shared:
figures are medians, and ratios are only meaningful within one run of this script.

    .venv/bin/python bench/startup.py [--runs 7] [--wrangler CMD] [--no-wrangler] [--json]

``--wrangler`` is the command that runs wrangler (default: the ``WRANGLER`` environment
variable, e.g. ``"node /path/to/node_modules/wrangler/bin/wrangler.js"``, else the wrangler of
the peers folder's ``node_modules`` (``$CF_EMULATOR_PEERS``, default ``/work/peers``: where
the development machine keeps its peers, as bench/kv.py finds Miniflare), else
``npx --no-install wrangler`` in the current folder); without one the wrangler rows are skipped.
``--json``: the figures as data (bench/results.py), for bench/report.py, wrangler's figure as
the peer of ours.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/http.py would shadow the standard library's http package (urllib.request needs it):
# the repository root takes its place (for `bench.results`).
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from bench.results import PEERS, Figure, Target, add_json_option, emit, text_output

ROOT = Path(__file__).resolve().parents[1]
READY = re.compile(r"ready: \S+ (http://\S+)")
WRANGLER_READY = re.compile(r"Ready on (http://\S+)")
PEER_WRANGLER = PEERS / "node_modules" / ".bin" / "wrangler"

JS_WORKER_CONFIG = """\
name = "bench-worker"
main = "index.js"
compatibility_date = "2025-08-14"

[[queues.producers]]
binding = "Q"
queue = "jobs"

[[queues.consumers]]
queue = "jobs"

[[r2_buckets]]
binding = "B"
bucket_name = "bucket"

[[d1_databases]]
binding = "DB"
database_name = "db"
database_id = "00000000-0000-0000-0000-000000000000"
"""
JS_WORKER = """\
export default {
  async fetch(request, env) { return new Response("ok"); },
  async queue(batch, env) { batch.ackAll(); },
};
"""


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a developer's install keeps its .pyc files
    env["PYTHONPATH"] = str(ROOT)
    env.pop("NO_COLOR", None)
    return env


def cf_emulator() -> list[str]:
    script = Path(sys.executable).parent / "cf-emulator"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "emulator"]


def time_process(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} exited {proc.returncode}: {proc.stderr.decode()[-2000:]}")
    return elapsed


def first_answer(argv: list[str], cwd: Path, env: dict[str, str], ready: re.Pattern[str]) -> tuple[float, float]:
    """(seconds to the ready line, seconds to the first HTTP answer) of a dev server."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        url = None
        for line in proc.stdout:
            seen.append(line)
            match = ready.search(line)
            if match:
                url = match.group(1)
                break
        ready_at = time.perf_counter() - start
        if url is None:
            raise RuntimeError(f"{shlex.join(argv)} never became ready:\n{''.join(seen)[-3000:]}")
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/", timeout=30) as resp:
                    resp.read()
                break
            except urllib.error.HTTPError:
                break  # an answer all the same
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.005)
        return ready_at, time.perf_counter() - start
    finally:
        try:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()


def median_of(runs: int, measure: Callable[[], float]) -> tuple[float, list[float]]:
    measure()  # warm-up: bytecode cache, state directory, OS file cache
    samples = [measure() for _ in range(runs)]
    return statistics.median(samples), samples


def wrangler_command(option: str | None) -> list[str] | None:
    text = option or os.environ.get("WRANGLER")
    if text:
        return shlex.split(text)
    if PEER_WRANGLER.is_file():
        return [str(PEER_WRANGLER)]
    if shutil.which("npx") is None:
        return None
    probe = subprocess.run(["npx", "--no-install", "wrangler", "--version"], capture_output=True, timeout=120)
    return ["npx", "--no-install", "wrangler"] if probe.returncode == 0 else None


def measure_all(args: argparse.Namespace, rows: list[tuple[str, float, list[float], str]]) -> None:
    """Measure every row into ``rows`` (name, median seconds, samples, target text)."""
    env = child_env()
    cf = cf_emulator()

    def row(name: str, measure: Callable[[], float], target: str = "") -> None:
        median, samples = median_of(args.runs, measure)
        rows.append((name, median, samples, target))
        print(f"{name:58} {median:6.3f} s  (runs: {', '.join(f'{s:.3f}' for s in samples)}){target}",
              flush=True)

    print(f"cf-emulator: {shlex.join(cf)}; {args.runs} runs per row after one warm-up; medians "
          f"(the machine may be shared with other work)\n")
    row("cf-emulator check apps/web", lambda: time_process([*cf, "check", "apps/web"], ROOT, env),
        "   target ≤ 0.15 s")
    row("cf-emulator --help", lambda: time_process([*cf, "--help"], ROOT, env))
    with tempfile.TemporaryDirectory() as tmp:
        dev = [*cf, "dev", "--port", "0", "--persist-to", str(Path(tmp) / "state")]
        ready_times: list[float] = []

        def dev_answer() -> float:
            ready_at, answered = first_answer(dev, ROOT, env, READY)
            ready_times.append(ready_at)
            return answered

        row("cf-emulator dev (demo workspace) → first answer", dev_answer, "   target ≤ 0.9 s")
        print(f"{'  of which until the ready: line':58} {statistics.median(ready_times[1:]):6.3f} s")

    wrangler = None if args.no_wrangler else wrangler_command(args.wrangler)
    if wrangler is None:
        print("\nwrangler: not found (pass --wrangler CMD or set WRANGLER); its rows are skipped")
        return
    print(f"\nwrangler: {shlex.join(wrangler)}")
    wenv = {**os.environ, "WRANGLER_SEND_METRICS": "false", "NO_COLOR": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        row("wrangler --help", lambda: time_process([*wrangler, "--help"], folder, wenv))
        row("wrangler pages functions build-env apps/web",
            lambda: time_process([*wrangler, "pages", "functions", "build-env", str(ROOT / "apps" / "web"),
                                  "--outfile", str(folder / "env.json")], folder, wenv))
        worker = folder / "worker"
        worker.mkdir()
        (worker / "wrangler.toml").write_text(JS_WORKER_CONFIG)
        (worker / "index.js").write_text(JS_WORKER)
        row("wrangler dev (JS Worker, queue+R2+D1) → first answer",
            lambda: first_answer([*wrangler, "dev", "--port", "0", "--ip", "127.0.0.1"], worker, wenv,
                                 WRANGLER_READY)[1])
    by_name = {name: median for name, median, _, _ in rows}
    print()
    for ours, theirs, _ in PAIRS:
        if ours in by_name and theirs in by_name:
            print(f"{ours}: {by_name[theirs] / by_name[ours]:.1f}x faster than {theirs}")


# (ours, wrangler's equivalent, target on ours in seconds)
PAIRS = (("cf-emulator check apps/web", "wrangler pages functions build-env apps/web", 0.15),
         ("cf-emulator --help", "wrangler --help", None),
         ("cf-emulator dev (demo workspace) → first answer", "wrangler dev (JS Worker, queue+R2+D1) → first answer",
          0.9))


def figures(rows: list[tuple[str, float, list[float], str]]) -> list[Figure]:
    """Medians as data (bench/results.py), wrangler's equivalent as the peer when measured."""
    by_name = {name: median for name, median, _, _ in rows}
    out = []
    for ours, theirs, target in PAIRS:
        if ours in by_name:
            peer = ("wrangler 4: " + theirs.removeprefix("wrangler "), by_name[theirs]) if theirs in by_name else None
            out.append(Figure(ours, "whole process", "s", by_name[ours], peer[0] if peer else None,
                              peer[1] if peer else None, Target("value", "<=", target) if target else None))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="measured runs per row (after one warm-up)")
    parser.add_argument("--wrangler", default=None, help="the command that runs wrangler")
    parser.add_argument("--no-wrangler", action="store_true", help="skip the wrangler rows")
    add_json_option(parser)
    args = parser.parse_args()
    rows: list[tuple[str, float, list[float], str]] = []
    with text_output(args.json):
        measure_all(args, rows)
    emit("startup", figures(rows), args.json)


if __name__ == "__main__":
    main()
