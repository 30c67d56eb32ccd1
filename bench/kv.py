"""KV benchmark: in-Worker put, get and list beside raw SQLite, and beside Miniflare, in one run.

    .venv/bin/python bench/kv.py [--ops 10000] [--runs 5] [--miniflare DIR] [--json]

Three sides do the same work, each timed from outside one request that runs the whole loop:

* **raw**: plain ``sqlite3`` on a WAL file with the settings the engine uses (``synchronous=
  NORMAL``), the engine's own table, one autocommit ``INSERT OR REPLACE`` per put, one
  ``SELECT`` per get, and one ``ORDER BY key LIMIT 1001`` over a prefix range per list page.
* **cf-emulator**: a Python Worker hosted by ``Emulator`` (in this process) whose ``fetch``
  runs the loop through ``env.KV`` (``await put``, ``await get``, ``await list``).
* **Miniflare** (when ``DIR`` holds ``node_modules/miniflare``, e.g. after ``npm install
  miniflare`` there): a JavaScript Worker doing the same loop on Miniflare 4's KV, persisted
  to a temporary directory, timed by Node around ``dispatchFetch``.

Values are 100-byte strings; list is one page of 1,000 keys out of the ``--ops`` stored.
Each side runs ``--runs`` times, interleaved, and the medians are printed with the ratios
binding/raw (target ≤ 1.5) and Miniflare/binding. Garbage-collector settings are `dev`'s.
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
from emulator.bindings.kv.engine import SCHEMA
from emulator.cli.dev import tune_gc

VALUE = "v" * 100
TARGET = 1.5

WORKER = '''
import time
from workers import Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        op = request.url.rsplit("/", 1)[1]
        n = int(request.headers.get("x-ops"))
        kv = self.env.KV
        value = "v" * 100
        start = time.perf_counter()
        if op == "put":
            for i in range(n):
                await kv.put(f"key-{i:07}", value)
        elif op == "get":
            for i in range(n):
                await kv.get(f"key-{i:07}")
        else:
            for _ in range(20):
                await kv.list(prefix="key-", limit=1000)
        return Response(str(time.perf_counter() - start))
'''

MINIFLARE_SCRIPT = r'''
const { Miniflare } = require("miniflare");
const [dir, ops, runs] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const script = `export default { async fetch(request, env) {
  const op = new URL(request.url).pathname.slice(1); const n = Number(request.headers.get("x-ops"));
  const value = "v".repeat(100);
  if (op === "put") { for (let i = 0; i < n; i++) await env.KV.put("key-" + String(i).padStart(7, "0"), value); }
  else if (op === "get") { for (let i = 0; i < n; i++) await env.KV.get("key-" + String(i).padStart(7, "0")); }
  else { for (let i = 0; i < 20; i++) await env.KV.list({ prefix: "key-", limit: 1000 }); }
  return new Response("ok"); } };`;
(async () => {
  const mf = new Miniflare({ modules: true, script, kvNamespaces: ["KV"], kvPersist: dir });
  const out = { put: [], get: [], list: [] };
  for (let r = 0; r < runs; r++) {
    for (const op of ["put", "get", "list"]) {
      const start = process.hrtime.bigint();
      const res = await mf.dispatchFetch("http://localhost/" + op, { headers: { "x-ops": String(ops) } });
      await res.text();
      out[op].push(Number(process.hrtime.bigint() - start) / 1e9);
    }
  }
  await mf.dispose();
  console.log(JSON.stringify(out));
})();
'''


def raw_side(folder: Path, ops: int) -> dict[str, float]:
    conn = sqlite3.connect(folder / "raw.sqlite3", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(SCHEMA)
    out: dict[str, float] = {}
    start = time.perf_counter()
    for i in range(ops):
        conn.execute("INSERT OR REPLACE INTO entries (key, value, expiration, metadata) VALUES (?, ?, ?, ?)",
                     (f"key-{i:07}", VALUE.encode(), None, None))
    out["put"] = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(ops):
        conn.execute("SELECT value, expiration, metadata FROM entries WHERE key = ?", (f"key-{i:07}",)).fetchone()
    out["get"] = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(20):
        conn.execute("SELECT key, expiration, metadata FROM entries WHERE (expiration IS NULL OR expiration > ?) "
                     "AND key >= ? AND key < ? ORDER BY key LIMIT ?", (0, "key-", "key.", 1001)).fetchall()
    out["list"] = time.perf_counter() - start
    conn.close()
    return out


async def binding_side(folder: Path, ops: int) -> dict[str, float]:
    from emulator.clock import RealClock
    from emulator.emulator import Emulator

    app = folder / "app"
    (app / "src").mkdir(parents=True)
    (app / "src" / "entry.py").write_text(WORKER)
    (app / "wrangler.toml").write_text('name = "kvbench"\nmain = "src/entry.py"\ncompatibility_date = "2025-08-14"\n'
                                       'compatibility_flags = ["python_workers"]\n\n'
                                       '[[kv_namespaces]]\nbinding = "KV"\nid = "bench"\n')
    emulator = Emulator([app / "wrangler.toml"], state_dir=folder / "state", clock=RealClock(), port=0, s3_port=None)
    await emulator.start()
    host: Any = emulator.platform.hosts["kvbench"]
    out: dict[str, float] = {}
    try:
        from emulator.runtime.http import Request

        for op in ("put", "get", "list"):
            response = await host.dispatch(Request(f"http://bench/{op}", headers={"x-ops": str(ops)}))
            out[op] = float(await response.text())
    finally:
        await emulator.stop()
    return out


def miniflare_side(node_dir: Path, folder: Path, ops: int, runs: int) -> dict[str, list[float]] | None:
    if not (node_dir / "node_modules" / "miniflare").is_dir():
        return None
    script = node_dir / "kv-bench.cjs"
    script.write_text(MINIFLARE_SCRIPT)
    done = subprocess.run(["node", str(script), str(folder / "mf"), str(ops), str(runs)], cwd=node_dir,
                          capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        print(f"Miniflare run failed: {done.stderr.strip()[-400:]}")
        return None
    result: dict[str, list[float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run(args: argparse.Namespace) -> tuple[dict[str, list[float]], dict[str, list[float]],
                                           dict[str, list[float]] | None]:
    tune_gc()
    raw: dict[str, list[float]] = {"put": [], "get": [], "list": []}
    ours: dict[str, list[float]] = {"put": [], "get": [], "list": []}
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            for op, seconds in raw_side(folder, args.ops).items():
                raw[op].append(seconds)
            for op, seconds in asyncio.run(binding_side(folder, args.ops)).items():
                ours[op].append(seconds)
        print(f"run {run + 1}: " + ", ".join(f"{op} raw {raw[op][-1]:.3f}s ours {ours[op][-1]:.3f}s" for op in raw))
    with tempfile.TemporaryDirectory() as tmp:
        mf = miniflare_side(args.miniflare, Path(tmp), args.ops, args.runs)

    def rate(op: str, seconds: float) -> float:
        return (20 if op == "list" else args.ops) / seconds

    print(f"\nKV, {args.ops:,} keys of 100 bytes, medians of {args.runs} runs "
          "(list: pages of 1,000 keys per second)")
    print(f"{'operation':<10}{'raw sqlite/s':>14}{'cf-emulator/s':>15}{'ratio':>8}{'Miniflare/s':>13}{'ahead':>8}")
    for op in ("put", "get", "list"):
        r, o = statistics.median(raw[op]), statistics.median(ours[op])
        line = f"{op:<10}{rate(op, r):>14,.0f}{rate(op, o):>15,.0f}{o / r:>7.2f}x"
        if mf is not None:
            m = statistics.median(mf[op])
            line += f"{rate(op, m):>13,.0f}{m / o:>7.1f}x"
        print(line + ("" if o / r <= TARGET else f"   (over the {TARGET}x target)"))
    if mf is None:
        print("(Miniflare not measured: no node_modules/miniflare in --miniflare)")
    return raw, ours, mf


def figures(raw: dict[str, list[float]], ours: dict[str, list[float]], mf: dict[str, list[float]] | None,
            ops: int) -> list[Figure]:
    """Medians of the runs as data (bench/results.py): time per operation beside raw SQLite
    (target ≤ 1.5×), operations per second beside Miniflare."""
    count = {"put": ops, "get": ops, "list": 20}
    label = {"put": f"put ({ops:,} keys)", "get": f"get ({ops:,} keys)",
             "list": f"list of a 1,000-key page ({ops:,} keys)"}
    out = []
    for op in ("put", "get", "list"):
        o = statistics.median(ours[op]) / count[op]
        out.append(Figure(f"{label[op]} vs raw sqlite3", "time per operation", "µs", o * 1e6, "raw sqlite3",
                          statistics.median(raw[op]) / count[op] * 1e6, Target("ratio", "<=", TARGET)))
        if mf is not None:
            out.append(Figure(f"{label[op]} vs Miniflare", "operations per second", "ops/s", 1 / o,
                              "Miniflare 4", count[op] / statistics.median(mf[op])))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    add_miniflare_option(parser)
    add_json_option(parser)
    args = parser.parse_args()
    with text_output(args.json):
        raw, ours, mf = run(args)
    emit("kv", figures(raw, ours, mf, args.ops), args.json)

if __name__ == "__main__":
    main()
