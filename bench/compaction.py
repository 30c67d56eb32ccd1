"""Compaction benchmark: the workflow's streaming merge vs pyarrow's read-all-then-write-one.

Both run on the same fragments in the same run, each in its own subprocess so that its peak
RSS (``VmHWM`` from ``/proc/self/status``) is its own:

- **merge path**: ``apps/workflow/src/compaction.stream_merge`` exactly as the workflow's
  ``stream-merge`` step calls it (each fragment read in one get, ``iter_batches``, vectorised
  row de-duplication, zstd ``ParquetWriter`` whose bytes go straight into 8 MiB multipart
  parts of the final key), over ``fixtures.local_bucket.LocalBucket`` (an R2-shaped
  directory) instead of the emulator, so the figure is the merge's and not the emulator's
  storage layer;
- **pyarrow**: ``pq.read_table`` of every file, ``concat_tables``, ``pq.write_table`` (zstd,
  pyarrow's defaults otherwise): no de-duplication, everything in memory.

Throughput is MB (10^6 bytes) of input Parquet per second. Targets: merge ≥ 0.8× pyarrow's
throughput, merge peak RSS ≤ 300 MB. The figures are printed, never asserted.

    .venv/bin/python bench/compaction.py                  # 200 fragments, ~520 MB, generated once into bench/data/
    .venv/bin/python bench/compaction.py --count 20 --total-mb 50   # a quick run
    .venv/bin/python bench/compaction.py --repeat 3                 # three rounds, medians at the end
    .venv/bin/python bench/compaction.py --dedup-memory-rows 200000 # force the SQLite spill path

``--json``: the figures (medians of the rounds) as data (bench/results.py), for bench/report.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.results import Figure, Target, add_json_option, emit, text_output  # noqa: E402 - after the sys.path set-up above

DEFAULT_DATA = ROOT / "bench" / "data"


def cpu_seconds() -> float:
    """User + system CPU time of this process (all threads): comparable under machine load."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def dataset_dir(data: Path, count: int, total_mb: int) -> Path:
    return data / f"fragments-{count}x{total_mb}MB"


def ensure_fragments(data: Path, count: int, total_mb: int) -> list[Path]:
    sys.path.insert(0, str(ROOT))
    from fixtures.fragments import bench_fragments

    folder = dataset_dir(data, count, total_mb)
    objects = folder / "bucket" / "objects"
    existing = sorted(objects.glob("fragment-*.parquet")) if objects.exists() else []
    if len(existing) == count:
        return existing
    print(f"generating {count} fragments (~{total_mb} MB) into {objects} ...", flush=True)
    started = time.perf_counter()
    paths = bench_fragments(objects, count, total_mb)
    print(f"  done in {time.perf_counter() - started:.1f} s", flush=True)
    return paths


# ------------------------------------------------------------------------ children

def child_merge(folder: Path, dedup_memory_rows: int | None = None) -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "apps" / "workflow" / "src"))
    import compaction
    from fixtures.local_bucket import LocalBucket

    if dedup_memory_rows is not None:
        # Force the de-duplication set to spill to SQLite early: the bounded-memory path.
        compaction.DEDUP_MEMORY_ROWS = dedup_memory_rows

    bucket = LocalBucket(folder / "bucket")
    keys = sorted(p.name for p in (folder / "bucket" / "objects").glob("fragment-*.parquet"))
    spool = folder / "spool"
    spool.mkdir(exist_ok=True)
    cpu_start = cpu_seconds()
    started = time.perf_counter()
    result = asyncio.run(compaction.stream_merge(bucket, keys, "compacted/bench/part-0.parquet",
                                                 spool_dir=str(spool)))
    seconds = time.perf_counter() - started
    out = {"seconds": seconds, "rows_in": result.rows_in, "rows_out": result.rows_out,
           "duplicates": result.duplicates_dropped, "bytes_in": result.bytes_in, "bytes_out": result.bytes_out,
           "peak_rss_mb": peak_rss_mb(), "cpu": cpu_seconds() - cpu_start}
    asyncio.run(bucket.delete("compacted/bench/part-0.parquet"))
    return out


def child_pyarrow(folder: Path) -> dict[str, float]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted((folder / "bucket" / "objects").glob("fragment-*.parquet"))
    target = folder / "pyarrow-out.parquet"
    cpu_start = cpu_seconds()
    started = time.perf_counter()
    table = pa.concat_tables([pq.read_table(f) for f in files])
    pq.write_table(table, target, compression="zstd")
    seconds = time.perf_counter() - started
    out = {"seconds": seconds, "rows_in": table.num_rows, "rows_out": table.num_rows, "duplicates": 0,
           "bytes_in": sum(f.stat().st_size for f in files), "bytes_out": target.stat().st_size,
           "peak_rss_mb": peak_rss_mb(), "cpu": cpu_seconds() - cpu_start}
    target.unlink()
    return out


def run_child(kind: str, folder: Path, extra: list[str] | None = None) -> dict[str, float]:
    proc = subprocess.run([sys.executable, __file__, "--child", kind, "--folder", str(folder), *(extra or [])],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} run failed:\n{proc.stderr}")
    figures: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/compaction.py", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="number of fragments (default 200)")
    parser.add_argument("--total-mb", type=int, default=520, help="approximate total size in MB (default 520)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="where generated data goes (git-ignored)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds to run (medians printed when > 1)")
    parser.add_argument("--dedup-memory-rows", type=int, default=None,
                        help="distinct rows kept in memory before the de-duplication set spills to "
                             "SQLite (default: the merge's own setting, 2 M)")
    parser.add_argument("--child", choices=("merge", "pyarrow"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    add_json_option(parser)
    args = parser.parse_args(argv)
    if args.child:
        result = (child_merge(args.folder, args.dedup_memory_rows) if args.child == "merge"
                  else child_pyarrow(args.folder))
        print(json.dumps(result))
        return 0

    with text_output(args.json):
        files = ensure_fragments(args.data, args.count, args.total_mb)
        folder = dataset_dir(args.data, args.count, args.total_mb)
        total = sum(f.stat().st_size for f in files)
        print(f"input: {len(files)} fragments, {total / 1e6:.1f} MB of Parquet")
        extra = [] if args.dedup_memory_rows is None else ["--dedup-memory-rows", str(args.dedup_memory_rows)]
        ratios: list[float] = []
        cpu_ratios: list[float] = []
        rss: list[float] = []
        rounds: list[dict[str, dict[str, float]]] = []
        for round_no in range(1, args.repeat + 1):
            if args.repeat > 1:
                print(f"-- round {round_no} of {args.repeat}")
            results = {"pyarrow": run_child("pyarrow", folder), "merge": run_child("merge", folder, extra)}
            rounds.append(results)
            print(f"{'path':<9} {'seconds':>8} {'MB/s':>8} {'CPU s':>7} {'peak RSS MB':>12} {'rows in':>10} "
                  f"{'rows out':>10} {'dupes':>8} {'out MB':>8}")
            for name, r in results.items():
                print(f"{name:<9} {r['seconds']:8.2f} {r['bytes_in'] / 1e6 / r['seconds']:8.1f} {r['cpu']:7.2f} "
                      f"{r['peak_rss_mb']:12.0f} {r['rows_in']:10d} {r['rows_out']:10d} {r['duplicates']:8d} "
                      f"{r['bytes_out'] / 1e6:8.1f}")
            ratio = results["pyarrow"]["seconds"] / results["merge"]["seconds"]
            cpu_ratio = results["pyarrow"]["cpu"] / results["merge"]["cpu"]
            ratios.append(ratio)
            cpu_ratios.append(cpu_ratio)
            rss.append(results["merge"]["peak_rss_mb"])
            print(f"merge throughput = {ratio:.2f}x pyarrow (target >= 0.8x; by CPU time {cpu_ratio:.2f}x); "
                  f"merge peak RSS = {results['merge']['peak_rss_mb']:.0f} MB (target <= 300 MB)")
            print(f"machine load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        if args.repeat > 1:
            print(f"median of {args.repeat}: throughput {statistics.median(ratios):.2f}x pyarrow "
                  f"(range {min(ratios):.2f}-{max(ratios):.2f}), by CPU time {statistics.median(cpu_ratios):.2f}x, "
                  f"merge peak RSS {statistics.median(rss):.0f} MB (max {max(rss):.0f})")
    emit("compaction", figures(rounds, len(files), total), args.json)
    return 0


def figures(rounds: list[dict[str, dict[str, float]]], count: int, total: int) -> list[Figure]:
    """Medians over the rounds, as data (bench/results.py)."""
    def med(path: str, key: str) -> float:
        return statistics.median(r[path][key] for r in rounds)

    def rate(path: str) -> float:
        return statistics.median(r[path]["bytes_in"] / 1e6 / r[path]["seconds"] for r in rounds)

    size = f"{count} fragments, {total / 1e6:.0f} MB"
    return [
        Figure(f"merge throughput ({size})", "input Parquet per second", "MB/s", rate("merge"),
               "pyarrow read-all-then-write", rate("pyarrow"), Target("ratio", ">=", 0.8)),
        Figure(f"merge peak RSS ({size})", "peak RSS", "MB", med("merge", "peak_rss_mb"),
               "pyarrow read-all-then-write", med("pyarrow", "peak_rss_mb"), Target("value", "<=", 300)),
    ]


if __name__ == "__main__":
    raise SystemExit(main())
