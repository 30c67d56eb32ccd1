"""Durable Objects benchmark: RPC, storage and SQL beside Miniflare 4 and raw SQLite, in one run.

    .venv/bin/python bench/durable_objects.py [--rpc 5000] [--pairs 20000] [--inserts 50000] [--runs 5]
                                              [--miniflare DIR] [--json]

Four workloads, each one request to a Worker that runs the loop (timed from outside the
request, so every side pays its own dispatch):

* **rpc one**: ``--rpc`` sequential RPC calls to one object (``await stub.inc()``);
* **rpc 100**: ``--rpc`` sequential RPC calls spread round-robin over 100 objects;
* **put+get**: one RPC call whose method does ``--pairs`` × (``await storage.put(k, v)``,
  ``await storage.get(k)``), 100-byte values;
* **sql insert**: one RPC call whose method does ``--inserts`` × ``sql.exec("INSERT ...",
  i, v)`` into a fresh object (the platform coalesces them into one transaction).

Sides: **cf-emulator** (a Python Worker and Durable Object hosted by ``Emulator`` in this
process, real clock); **Miniflare** (when ``DIR`` holds ``node_modules/miniflare``: the
same Worker and object in JavaScript on Miniflare 4, persisted to a temporary directory,
timed by Node around ``dispatchFetch`` minus an empty request's time); **raw sqlite3**
(the SQL workload only: plain ``sqlite3`` on a WAL file with the store's settings,
``--inserts`` inserts inside one ``BEGIN``/``COMMIT``). Each side runs ``--runs`` times
(the raw one right after ours in each run); medians are printed, with the ratios the
targets are about (ahead of Miniflare on RPC and storage; SQL inserts within 2× of raw).
``--json``: the figures as data (bench/results.py), for bench/report.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.results import Figure, Target, add_json_option, add_miniflare_option, emit, text_output
from emulator.cli.dev import tune_gc

VALUE = "v" * 100
OPS = ("rpc one", "rpc 100", "put+get", "sql insert")

WORKER = '''
from workers import DurableObject, Response, WorkerEntrypoint


class Bench(DurableObject):
    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        self.n = 0

    async def inc(self):
        self.n += 1
        return self.n

    async def pairs(self, n):
        storage = self.ctx.storage
        value = "v" * 100
        for i in range(n):
            key = f"key-{i}"
            await storage.put(key, value)
            await storage.get(key)
        return n

    async def inserts(self, n):
        sql = self.ctx.storage.sql
        sql.exec("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)")
        value = "v" * 100
        for i in range(n):
            sql.exec("INSERT INTO t (id, v) VALUES (?, ?)", i, value)
        return n


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        op, run = request.url.rsplit("/", 2)[1:]
        n = int(request.headers.get("x-ops"))
        ns = self.env.BENCH
        if op == "one":
            stub = ns.getByName("one")
            for _ in range(n):
                await stub.inc()
        elif op == "many":
            stubs = [ns.getByName(f"o{j}") for j in range(100)]
            for i in range(n):
                await stubs[i % 100].inc()
        elif op == "pairs":
            await ns.getByName("pairs").pairs(n)
        elif op == "sql":
            await ns.getByName(f"sql-{run}").inserts(n)
        return Response("ok")
'''

MINIFLARE_SCRIPT = r'''
const { Miniflare } = require("miniflare");
const [dir, rpc, pairs, inserts, runs] = [process.argv[2], ...process.argv.slice(3).map(Number)];
const script = `
import { DurableObject } from "cloudflare:workers";
export class Bench extends DurableObject {
  constructor(ctx, env) { super(ctx, env); this.n = 0; }
  inc() { return ++this.n; }
  async pairs(n) { const v = "v".repeat(100);
    for (let i = 0; i < n; i++) {
      const k = "key-" + i; await this.ctx.storage.put(k, v); await this.ctx.storage.get(k); }
    return n; }
  inserts(n) { const sql = this.ctx.storage.sql;
    sql.exec("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)"); const v = "v".repeat(100);
    for (let i = 0; i < n; i++) sql.exec("INSERT INTO t (id, v) VALUES (?, ?)", i, v); return n; }
}
export default { async fetch(request, env) {
  const [op, run] = new URL(request.url).pathname.slice(1).split("/"); const n = Number(request.headers.get("x-ops"));
  if (op === "one") { const s = env.BENCH.getByName("one"); for (let i = 0; i < n; i++) await s.inc(); }
  else if (op === "many") { const stubs = []; for (let j = 0; j < 100; j++) stubs.push(env.BENCH.getByName("o" + j));
    for (let i = 0; i < n; i++) await stubs[i % 100].inc(); }
  else if (op === "pairs") await env.BENCH.getByName("pairs").pairs(n);
  else if (op === "sql") await env.BENCH.getByName("sql-" + run).inserts(n);
  return new Response("ok"); } };`;
(async () => {
  const mf = new Miniflare({ modules: true, script, compatibilityDate: "2025-08-14",
    durableObjects: { BENCH: { className: "Bench", useSQLite: true } }, durableObjectsPersist: dir });
  const time = async (path, n) => { const start = process.hrtime.bigint();
    const res = await mf.dispatchFetch("http://localhost/" + path, { headers: { "x-ops": String(n) } });
    await res.text(); return Number(process.hrtime.bigint() - start) / 1e9; };
  const out = { "rpc one": [], "rpc 100": [], "put+get": [], "sql insert": [] };
  await time("noop/0", 0); await time("one/0", 10); await time("many/0", 100);  // warm up
  for (let r = 0; r < runs; r++) {
    const base = await time("noop/0", 0);
    out["rpc one"].push(await time("one/" + r, rpc) - base);
    out["rpc 100"].push(await time("many/" + r, rpc) - base);
    out["put+get"].push(await time("pairs/" + r, pairs) - base);
    out["sql insert"].push(await time("sql/" + r, inserts) - base);
  }
  await mf.dispose();
  console.log(JSON.stringify(out));
})();
'''


def raw_inserts(folder: Path, n: int) -> float:
    conn = sqlite3.connect(folder / "raw.sqlite3", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    start = time.perf_counter()
    conn.execute("BEGIN")
    for i in range(n):
        conn.execute("INSERT INTO t (id, v) VALUES (?, ?)", (i, VALUE))
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


async def emulator_side(folder: Path, counts: dict[str, int], runs: int,
                        raw: list[float]) -> dict[str, list[float]]:
    """Our side's figures; ``raw`` gets the raw sqlite3 figure of each run, measured right after ours."""
    from emulator.clock import RealClock
    from emulator.emulator import Emulator
    from emulator.runtime.http import Request

    app = folder / "app"
    (app / "src").mkdir(parents=True)
    (app / "src" / "entry.py").write_text(WORKER)
    (app / "wrangler.toml").write_text(
        'name = "dobench"\nmain = "src/entry.py"\ncompatibility_date = "2025-08-14"\n'
        'compatibility_flags = ["python_workers"]\n\n[[durable_objects.bindings]]\nname = "BENCH"\n'
        'class_name = "Bench"\n\n[[migrations]]\ntag = "v1"\nnew_sqlite_classes = ["Bench"]\n')
    emulator = Emulator([app / "wrangler.toml"], state_dir=folder / "state", clock=RealClock(), port=0, s3_port=None)
    await emulator.start()
    host: Any = emulator.platform.hosts["dobench"]
    out: dict[str, list[float]] = {op: [] for op in OPS}

    async def timed(path: str, n: int) -> float:
        start = time.perf_counter()
        response = await host.dispatch(Request(f"http://bench/{path}", headers={"x-ops": str(n)}))
        elapsed = time.perf_counter() - start
        assert response.status == 200, await response.text()
        return elapsed

    try:
        await timed("one/w", 10)
        await timed("many/w", 100)
        for run in range(runs):
            out["rpc one"].append(await timed(f"one/{run}", counts["rpc one"]))
            out["rpc 100"].append(await timed(f"many/{run}", counts["rpc 100"]))
            out["put+get"].append(await timed(f"pairs/{run}", counts["put+get"]))
            out["sql insert"].append(await timed(f"sql/{run}", counts["sql insert"]))
            with tempfile.TemporaryDirectory() as raw_tmp:
                raw.append(raw_inserts(Path(raw_tmp), counts["sql insert"]))
    finally:
        await emulator.stop()
    return out


def miniflare_side(node_dir: Path, folder: Path, counts: dict[str, int], runs: int) -> dict[str, list[float]] | None:
    if not (node_dir / "node_modules" / "miniflare").is_dir():
        return None
    script = node_dir / "do-bench.cjs"
    script.write_text(MINIFLARE_SCRIPT)
    try:
        done = subprocess.run(["node", str(script), str(folder / "mf"), str(counts["rpc one"]), str(counts["put+get"]),
                               str(counts["sql insert"]), str(runs)], cwd=node_dir, capture_output=True, text=True,
                              timeout=1800)
    finally:
        script.unlink(missing_ok=True)
    if done.returncode != 0:
        print(f"Miniflare run failed: {done.stderr.strip()[-400:]}")
        return None
    result: dict[str, list[float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run(args: argparse.Namespace) -> tuple[dict[str, list[float]], dict[str, list[float]] | None, list[float],
                                           dict[str, int]]:
    tune_gc()
    counts = {"rpc one": args.rpc, "rpc 100": args.rpc, "put+get": args.pairs, "sql insert": args.inserts}
    raw: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        ours = asyncio.run(emulator_side(Path(tmp), counts, args.runs, raw))
    with tempfile.TemporaryDirectory() as tmp:
        mf = miniflare_side(args.miniflare, Path(tmp), counts, args.runs)

    def rate(op: str, seconds: float) -> float:
        return float(counts[op] / seconds)

    print(f"\nDurable Objects, medians of {args.runs} runs (operations per second; machine shared)")
    print(f"{'workload':<12}{'cf-emulator/s':>15}{'Miniflare/s':>13}{'ahead':>8}{'raw sqlite/s':>14}{'raw/ours':>10}")
    for op in OPS:
        o = statistics.median(ours[op])
        line = f"{op:<12}{rate(op, o):>15,.0f}"
        if mf is not None:
            m = statistics.median(mf[op])
            line += f"{rate(op, m):>13,.0f}{m / o:>7.1f}x"
        else:
            line += f"{'':>13}{'':>8}"
        if op == "sql insert":
            r = statistics.median(raw)
            line += f"{rate(op, r):>14,.0f}{o / r:>9.2f}x"
        print(line)
    if mf is None:
        print("(Miniflare not measured: no node_modules/miniflare in --miniflare)")
    return ours, mf, raw, counts


def figures(ours: dict[str, list[float]], mf: dict[str, list[float]] | None, raw: list[float],
            counts: dict[str, int]) -> list[Figure]:
    """Operations per second (medians of the runs) as data (bench/results.py)."""
    label = {"rpc one": "RPC calls to one object", "rpc 100": "RPC calls over 100 objects",
             "put+get": "storage put+get pairs", "sql insert": "SQL point inserts"}
    out = []
    for op in OPS:
        ours_rate = counts[op] / statistics.median(ours[op])
        if mf is not None:
            # The aim: ahead of Miniflare on RPC and storage (docs/durable_objects.md).
            target = None if op == "sql insert" else Target("ratio", ">=", 1.0)
            out.append(Figure(f"{label[op]} vs Miniflare", "operations per second", "ops/s", ours_rate,
                              "Miniflare 4", counts[op] / statistics.median(mf[op]), target))
        else:
            out.append(Figure(f"{label[op]}", "operations per second", "ops/s", ours_rate))
    # SQL inserts within 2x of raw sqlite3's time, i.e. at least half its rate.
    out.append(Figure(f"{label['sql insert']} vs raw sqlite3", "operations per second", "ops/s",
                      counts["sql insert"] / statistics.median(ours["sql insert"]), "raw sqlite3",
                      counts["sql insert"] / statistics.median(raw), Target("ratio", ">=", 0.5)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rpc", type=int, default=5000)
    parser.add_argument("--pairs", type=int, default=20_000)
    parser.add_argument("--inserts", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    add_miniflare_option(parser)
    add_json_option(parser)
    args = parser.parse_args()
    with text_output(args.json):
        ours, mf, raw, counts = run(args)
    emit("durable_objects", figures(ours, mf, raw, counts), args.json)

if __name__ == "__main__":
    main()
