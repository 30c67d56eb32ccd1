"""Storage benchmark: the R2 and D1 bindings beside their raw baselines, in one run.

    python bench/storage.py [--quick]

R2: put and get of 4 KiB and 8 MiB objects through ``env.BUCKET`` vs moto's S3 backend
called directly (``put_object`` + its etag, which an S3 PutObject response carries;
``get_object().value``). D1: point inserts, point reads and a 10,000-row batch through
``env.DB`` vs plain ``sqlite3`` on a WAL file with the same ``synchronous`` setting. Each
line prints the mean time per operation of both and their ratio; the target is a
binding cost of at most 1.30× the baseline.

The binding also persists every R2 write (the baseline keeps nothing) and runs D1 queries
so that a slow one never blocks the event loop, so the ratios price exactly that.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

# Run as a script, Python puts bench/ first on sys.path, where sibling benchmarks (http.py)
# would shadow the standard library; use the repository root instead.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from emulator.config.model import AppConfig, D1DatabaseBinding, R2BucketBinding  # noqa: E402
from emulator.platform import Platform  # noqa: E402

KiB = 1024
MiB = 1024 * KiB
TARGET = 1.30


def timed(fn: Callable[[int], Any], n: int, repeats: int = 3) -> float:
    """Best mean seconds per call over ``repeats`` runs of ``n`` calls."""
    best = []
    for r in range(repeats):
        start = time.perf_counter()
        for i in range(n):
            fn(r * n + i)
        best.append((time.perf_counter() - start) / n)
    return min(best)


async def atimed(fn: Callable[[int], Awaitable[Any]], n: int, repeats: int = 3) -> float:
    best = []
    for r in range(repeats):
        start = time.perf_counter()
        for i in range(n):
            await fn(r * n + i)
        best.append((time.perf_counter() - start) / n)
    return min(best)


async def compare(raw: Callable[[int], Any], binding: Callable[[int], Awaitable[Any]], n: int,
                  repeats: int = 5) -> tuple[float, float]:
    """Best mean seconds per call of each, their runs interleaved so that both see the same
    machine load (a shared 2-core box moves single figures by 2x)."""
    best_raw: list[float] = []
    best_binding: list[float] = []
    for r in range(repeats):
        best_raw.append(timed(raw, n, 1))
        best_binding.append(await atimed(binding, n, 1))
    return min(best_raw), min(best_binding)


def fmt(seconds: float) -> str:
    return f"{seconds * 1e6:10.1f} µs" if seconds < 0.01 else f"{seconds * 1e3:10.2f} ms"


ROWS: list[tuple[str, float, float]] = []


def report(name: str, baseline: float, binding: float) -> None:
    ratio = binding / baseline
    ROWS.append((name, baseline, binding))
    mark = "ok" if ratio <= TARGET else "over target"
    print(f"{name:<28}{fmt(baseline)}{fmt(binding)}   {ratio:5.2f}x  {mark}", flush=True)


async def bench_r2(root: Path, quick: bool) -> None:
    from moto.s3.models import FakeBucket, S3Backend

    backend = S3Backend("us-east-1", "123456789012")
    backend.buckets["raw"] = FakeBucket(  # type: ignore[abstract]
        name="raw", account_id="123456789012", region_name="us-east-1")
    app = AppConfig(config_path=root / "wrangler.toml", kind="worker", name="bench",
                    r2_buckets=(R2BucketBinding("BUCKET", "bench"),))
    platform = Platform([app], root / "state", s3_port=None)
    await platform.start()
    bucket = platform.env_for(app).BUCKET
    try:
        for label, size, n in (("4 KiB", 4 * KiB, 300 if quick else 2000),
                               ("8 MiB", 8 * MiB, 3 if quick else 12)):
            value = os.urandom(size)

            def raw_put(i: int) -> None:
                backend.put_object("raw", f"k{i % n}", value).etag  # noqa: B018

            async def r2_put(i: int) -> None:
                await bucket.put(f"k{i % n}", value)

            report(f"R2 put {label}", *await compare(raw_put, r2_put, n))

            def raw_get(i: int) -> None:
                backend.get_object("raw", f"k{i % n}").value  # type: ignore[union-attr]  # noqa: B018

            async def r2_get(i: int) -> None:
                await (await bucket.get(f"k{i % n}")).arrayBuffer()

            report(f"R2 get {label}", *await compare(raw_get, r2_get, n))
            if size <= 4 * KiB:
                durability_floor(root, value, n)
    finally:
        await platform.stop()


def durability_floor(root: Path, value: bytes, n: int) -> None:
    """What one committed SQLite row of this size costs on this disk: the part of an R2 put
    that is persistence (the moto baseline keeps nothing), printed for reading the ratio."""
    con = sqlite3.connect(root / "floor.sqlite3", isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("CREATE TABLE IF NOT EXISTS o (k TEXT PRIMARY KEY, v BLOB)")

    def commit(i: int) -> None:
        con.execute("INSERT OR REPLACE INTO o VALUES (?, ?)", (f"k{i % n}", value))

    seconds = timed(commit, n)
    con.close()
    print(f"{'  (of which one index commit)':<28}{'':>13}{fmt(seconds)}", flush=True)


async def bench_d1(root: Path, quick: bool) -> None:
    root.mkdir(parents=True, exist_ok=True)
    raw = sqlite3.connect(root / "raw.sqlite3", isolation_level=None)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=NORMAL")
    app = AppConfig(config_path=root / "wrangler.toml", kind="worker", name="bench",
                    d1_databases=(D1DatabaseBinding("DB", "bench", None, root / "migrations"),))
    platform = Platform([app], root / "state", s3_port=None)
    await platform.start()
    db = platform.env_for(app).DB
    schema = "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT, size INTEGER)"
    raw.execute(schema)
    await db.exec(schema)
    n = 500 if quick else 3000
    try:
        insert = "INSERT INTO items (name, size) VALUES (?, ?)"

        def raw_insert(i: int) -> None:
            raw.execute(insert, (f"item-{i}", i))

        async def d1_insert(i: int) -> None:
            await db.prepare(insert).bind(f"item-{i}", i).run()

        report("D1 point insert", *await compare(raw_insert, d1_insert, n))
        select = "SELECT * FROM items WHERE id = ?"

        def raw_read(i: int) -> None:
            cur = raw.execute(select, (i % n + 1,))
            cols = [d[0] for d in cur.description]
            dict(zip(cols, cur.fetchone()))

        async def d1_read(i: int) -> None:
            await db.prepare(select).bind(i % n + 1).first()

        report("D1 point read", *await compare(raw_read, d1_read, n))
        rows = 10_000

        def raw_batch(_: int) -> None:
            raw.execute("BEGIN")
            for i in range(rows):
                raw.execute(insert, (f"b-{i}", i))
            raw.execute("COMMIT")

        async def d1_batch(_: int) -> None:
            stmt = db.prepare(insert)
            await db.batch([stmt.bind(f"b-{i}", i) for i in range(rows)])

        report("D1 batch of 10,000 rows", *await compare(raw_batch, d1_batch, 1, 2 if quick else 5))
    finally:
        raw.close()
        await platform.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    args = parser.parse_args()
    print(f"{'operation':<28}{'baseline':>13}{'binding':>13}   ratio   (target ≤ {TARGET:.2f}x)")
    with tempfile.TemporaryDirectory(prefix="cf-emulator-bench-") as tmp:
        await bench_r2(Path(tmp) / "r2", args.quick)
        await bench_d1(Path(tmp) / "d1", args.quick)
    ratios = [b / a for _, a, b in ROWS]
    print(f"geometric mean ratio: {statistics.geometric_mean(ratios):.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
