"""Storage benchmark: the R2 and D1 bindings beside their raw baselines, in one run.

    .venv/bin/python bench/storage.py [--quick] [--runs N] [--json]

Each line prints the mean time per operation of the raw baseline and of the binding, and
their ratio; the target is a binding cost of at most 1.30x the baseline. Baseline and
binding runs are interleaved so both see the same machine load. What each baseline does:

* R2 put: moto's ``put_object`` called directly (computing its etag, as an S3 PutObject
  response carries) **plus the same persistence write done directly**: an R2 put must be
  durable before it returns (after a successful put and ``kill -9`` the object is back), so
  the baseline commits the same index rows in one transaction (same schema, WAL,
  ``synchronous=NORMAL``: the metadata row plus its inline body, or plus its blob's name)
  and, above the inline limit, writes the bytes to a staging file renamed into ``blobs/``,
  as the store does. Without that, the ratio would price SQLite, not the binding.
* R2 get: moto's ``get_object().value`` alone. The binding's get of these recently written
  objects is answered by its bounded hot-object cache; a get that misses it reads the index
  (bench/scale.py measures that one, after a restart).
* D1 (point insert, point read, a 10,000-row batch in one transaction): plain ``sqlite3``
  on a WAL file with the connection settings the binding uses (``synchronous=NORMAL``,
  ``foreign_keys=ON``). The binding additionally shapes D1 results (``meta`` per statement
  with ``size_after``, row objects) and keeps a slow query from blocking the event loop.
  The batch baseline runs one ``execute()`` per statement inside ``BEGIN … COMMIT``, not
  ``executemany``: D1 returns one result per statement (its own ``changes``,
  ``last_row_id``, rows), which needs each statement run on its own. It fetches nothing
  because these ``INSERT``s return no rows (the binding does not fetch them either).

Both sides run in one process with the garbage-collector settings of the ``cf-emulator dev``
process (``tune_gc``). ``--runs N`` repeats everything N times and ends with each
operation's best-of-N figures and the range of its ratio across runs (a shared 2-core
machine moves single figures a lot). ``--json``: the figures (best of the runs) as data
(bench/results.py), for bench/report.py.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from collections.abc import Awaitable, Callable

# Run as a script, Python puts bench/ first on sys.path, where sibling benchmarks (http.py)
# would shadow the standard library; use the repository root instead.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.results import Figure, Target, add_json_option, emit, text_output
from emulator.bindings.r2.store import _SCHEMA as R2_INDEX_SCHEMA
from emulator.bindings.r2.store import _UPSERT_SQL as R2_UPSERT
from emulator.bindings.r2.store import INLINE_MAX
from emulator.cli.dev import tune_gc
from emulator.platform import Platform
from tests.helpers.apps import D1DatabaseBinding, R2BucketBinding, app_config

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
    for _ in range(repeats):
        # A full collection before each timed run, for both sides alike: the R2 half leaves
        # moto's objects on the heap, and a full (generation 2) collection over it, due at
        # a random point, would otherwise land in whichever side happens to trigger it
        # (one cost 40 ms on the development machine, twice a raw 10,000-row batch). The
        # collector stays on during the runs, so each side still pays for its own garbage.
        gc.collect()
        best_raw.append(timed(raw, n, 1))
        gc.collect()
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


class RawPersistence:
    """The write-through an R2 put must do, done directly: the index rows of one object
    committed in one transaction in a SQLite file with the store's schema and settings, and
    above ``INLINE_MAX`` the bytes written to a staging file and renamed into ``blobs/``
    (what ``R2Store.put`` does)."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.staging = root / "staging"
        self.blobs = root / "blobs"
        self.staging.mkdir(exist_ok=True)
        self.blobs.mkdir(exist_ok=True)
        self.db = sqlite3.connect(root / "index.sqlite3", isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA wal_autocheckpoint=0")  # the store checkpoints on a thread
        self.db.executescript(R2_INDEX_SCHEMA)

    def write(self, key: str, value: bytes, etag: str) -> None:
        db = self.db
        row = [key, "0" * 32, len(value), etag, 0, "{}", "{}", f'{{"md5":"{etag}"}}', None, None]
        if len(value) > INLINE_MAX:
            name = f"{key}-blob"
            with open(self.staging / name, "wb") as f:
                f.write(value)
            os.replace(self.staging / name, self.blobs / name)
            row[8] = f'["{name}"]'
            db.execute("BEGIN")
            db.execute(R2_UPSERT, row)
            db.execute("INSERT OR IGNORE INTO blobs VALUES (?)", (name,))
            db.execute("COMMIT")
            return
        # The index layout keeps inline bytes in their own table, out of the listings' way.
        db.execute("BEGIN")
        row[9] = db.execute("INSERT INTO bodies (data) VALUES (?)", (value,)).lastrowid
        db.execute(R2_UPSERT, row)
        db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()


async def bench_r2(root: Path, quick: bool) -> None:
    from moto.s3.models import FakeBucket, S3Backend

    backend = S3Backend("us-east-1", "123456789012")
    backend.buckets["raw"] = FakeBucket(  # type: ignore[abstract]  # moto's FakeBucket leaves abstract members it never uses unimplemented
        name="raw", account_id="123456789012", region_name="us-east-1")
    persistence = RawPersistence(root / "raw")
    app = app_config(config_path=root / "wrangler.toml", kind="worker", name="bench",
                    r2_buckets=(R2BucketBinding("BUCKET", "bench"),))
    platform = Platform([app], root / "state", s3_port=None)
    await platform.start()
    bucket = platform.env_for(app).BUCKET
    try:
        for label, size, n in (("4 KiB", 4 * KiB, 300 if quick else 2000),
                               ("8 MiB", 8 * MiB, 3 if quick else 12)):
            value = os.urandom(size)

            # n and value are bound as defaults: each size's closures keep their own.
            def raw_put(i: int, n: int = n, value: bytes = value) -> None:
                key = f"k{i % n}"
                etag = backend.put_object("raw", key, value).etag
                persistence.write(key, value, etag.strip('"'))

            async def r2_put(i: int, n: int = n, value: bytes = value) -> None:
                await bucket.put(f"k{i % n}", value)

            report(f"R2 put {label}", *await compare(raw_put, r2_put, n))

            def raw_get(i: int, n: int = n) -> None:
                backend.get_object("raw", f"k{i % n}").value  # type: ignore[union-attr]  # the object exists: raw_put wrote it  # noqa: B018 - the read is what is timed

            async def r2_get(i: int, n: int = n) -> None:
                await (await bucket.get(f"k{i % n}")).arrayBuffer()

            report(f"R2 get {label}", *await compare(raw_get, r2_get, n))
    finally:
        persistence.close()
        await platform.stop()


async def bench_d1(root: Path, quick: bool) -> None:
    root.mkdir(parents=True, exist_ok=True)
    raw = sqlite3.connect(root / "raw.sqlite3", isolation_level=None)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=NORMAL")
    raw.execute("PRAGMA foreign_keys=ON")  # as the binding's connections (D1 enforces them)
    app = app_config(config_path=root / "wrangler.toml", kind="worker", name="bench",
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
            dict(zip(cols, cur.fetchone(), strict=True))

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
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    parser.add_argument("--runs", type=int, default=1, help="repeat everything N times")
    add_json_option(parser)
    args = parser.parse_args()
    tune_gc()  # what `cf-emulator dev` runs with; applies to baseline and binding alike
    with text_output(args.json):
        for run in range(max(1, args.runs)):
            if args.runs > 1:
                print(f"--- run {run + 1} of {args.runs}")
            print(f"{'operation':<28}{'baseline':>13}{'binding':>13}   ratio   (target ≤ {TARGET:.2f}x)")
            with tempfile.TemporaryDirectory(prefix="cf-emulator-bench-") as tmp:
                await bench_r2(Path(tmp) / "r2", args.quick)
                await bench_d1(Path(tmp) / "d1", args.quick)
        if args.runs > 1:
            summary()
        else:
            ratios = [b / a for _, a, b in ROWS]
            print(f"geometric mean ratio: {statistics.geometric_mean(ratios):.2f}x")
    emit("storage", figures(), args.json)


def figures() -> list[Figure]:
    """Each operation's best of the runs (time per operation) as data (bench/results.py)."""
    out = []
    for name in dict.fromkeys(name for name, _, _ in ROWS):
        rows = [(a, b) for n, a, b in ROWS if n == name]
        out.append(Figure(name, "time per operation", "µs", min(b for _, b in rows) * 1e6, "raw baseline",
                          min(a for a, _ in rows) * 1e6, Target("ratio", "<=", TARGET)))
    return out


def summary() -> None:
    """Best-of-runs figures per operation and the range of its ratio across runs."""
    names = list(dict.fromkeys(name for name, _, _ in ROWS))
    print(f"--- best of {len(ROWS) // len(names)} runs")
    print(f"{'operation':<28}{'baseline':>13}{'binding':>13}   ratio   ratio range")
    bests = []
    for name in names:
        rows = [(a, b) for n, a, b in ROWS if n == name]
        base, bind = min(a for a, _ in rows), min(b for _, b in rows)
        ratios = [b / a for a, b in rows]
        bests.append(bind / base)
        mark = "ok" if bind / base <= TARGET else "over target"
        print(f"{name:<28}{fmt(base)}{fmt(bind)}   {bind / base:5.2f}x  "
              f"{min(ratios):.2f}–{max(ratios):.2f}x  {mark}")
    print(f"geometric mean ratio (best of runs): {statistics.geometric_mean(bests):.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
