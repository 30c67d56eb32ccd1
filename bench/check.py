"""Benchmark: one `check` invocation over 100 configs (target: under 1 s).

The 100 configs are copies of the fixture cases (TOML, JSON and JSONC; Pages and Worker;
valid and invalid). Measured twice: in-process (``check_paths`` + rendering), and as a
``cf-emulator check`` subprocess (which adds interpreter start-up and imports).

    .venv/bin/python bench/check.py [--count 100] [--repeat 5] [--json]

``--json``: the figures as data (bench/results.py), for bench/report.py.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.results import Figure, Target, add_json_option, emit, text_output  # noqa: E402 - after the sys.path set-up above
from emulator.config import check_paths  # noqa: E402 - after the sys.path set-up above
from emulator.config.render import render_text  # noqa: E402 - after the sys.path set-up above


def make_configs(dest: Path, count: int) -> list[Path]:
    cases = sorted(p.parent for p in (ROOT / "fixtures" / "configs").glob("*/*/expected.json"))
    paths = []
    for i in range(count):
        case = cases[i % len(cases)]
        target = dest / f"{i:03d}-{case.name}"
        shutil.copytree(case, target)
        paths.append(target)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    add_json_option(parser)
    args = parser.parse_args()
    with text_output(args.json), tempfile.TemporaryDirectory() as tmp:
        paths = make_configs(Path(tmp), args.count)
        in_process = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            report = check_paths(paths, cwd=Path(tmp))
            render_text(report)
            in_process.append(time.perf_counter() - start)
        errors = sum(len(f.errors) for f in report.files)
        warnings = sum(len(f.warnings) for f in report.files)
        cli = []
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        for _ in range(args.repeat):
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "emulator", "check", *map(str, paths)],
                                  capture_output=True, env=env, cwd=tmp)
            cli.append(time.perf_counter() - start)
            assert proc.returncode in (0, 1), proc.stderr
        print(f"check over {len(paths)} configs ({errors} errors, {warnings} warnings found)")
        print(f"  in-process : median {statistics.median(in_process) * 1000:7.1f} ms  "
              f"(min {min(in_process) * 1000:.1f} ms, {args.repeat} runs)")
        print(f"  CLI process: median {statistics.median(cli) * 1000:7.1f} ms  "
              f"(min {min(cli) * 1000:.1f} ms, {args.repeat} runs, includes interpreter start-up)")
        verdict = "OK" if statistics.median(cli) < 1.0 else "SLOWER THAN TARGET"
        print(f"  target < 1000 ms per invocation: {verdict}")
    emit("check", [
        Figure(f"{len(paths)} configs, in-process", "time of one check", "ms",
               statistics.median(in_process) * 1000),
        Figure(f"{len(paths)} configs, `cf-emulator check` process", "time of one invocation", "ms",
               statistics.median(cli) * 1000, target=Target("value", "<=", 1000)),
    ], args.json)

if __name__ == "__main__":
    main()
