"""Run every benchmark, take medians, and write the one dated table of bench/README.md.

    .venv/bin/python -m bench.report [--runs 3] [--only NAME,...] [--full NAME,...|all] [--quick]
                                     [--save FILE] [--from FILE] [--write]

Each benchmark (``BENCHMARKS``) runs ``--runs`` times as its own process, ``bench/<name>.py
<arguments> --json``, and prints one document (bench/results.py). Its text goes to a log
under ``--logs``; this prints one line per run. For each figure the table shows the median
of the runs' values, of the peer's values, and of the runs' own ratios (a ratio is only
trusted within one run on a shared machine), and whether the median meets the target.

A benchmark whose default size takes many minutes (``scale``) runs at its *quick* size
unless named in ``--full`` (``--full all``: every one at its default size); ``--quick``
runs every benchmark at its quick size (a smoke run of a few minutes). The table flags
quick rows and lists their arguments. A benchmark that fails (exit status, or output that is not a document) gets a
row saying so; the others still run.

``--write`` replaces the table between the markers in bench/README.md with this run's,
headed by the date, the machine (cores, CPU, Python) and the command. ``--save FILE``
keeps every run's document as JSON; ``--from FILE`` renders from such a file instead of
running anything (to redo the table's layout without measuring again).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as bench/report.py (rather than -m bench.report), Python puts bench/ first on sys.path,
# where bench/http.py would shadow the standard library: the repository root takes its place.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import datetime as _dt
import json
import os
import platform
import shlex
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from collections.abc import Callable, Sequence

from bench.results import BenchOutputError, Document, Figure, Target, parse

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "bench" / "README.md"
BEGIN = "<!-- bench/report.py writes the table below: do not edit by hand -->"
END = "<!-- end of the table written by bench/report.py -->"


@dataclass(frozen=True)
class Benchmark:
    """One script of bench/ and the sizes the report runs it at."""

    name: str
    full: tuple[str, ...] = ()
    """Arguments of its default size (the script's own defaults, unless given)."""
    quick: tuple[str, ...] | None = None
    """Arguments of a smaller size: for ``--quick`` runs, and by default when ``long``."""
    long: bool = False
    """Its default size takes many minutes: the report runs it quick unless told ``--full``."""
    runs: int | None = None
    """Runs of its own, whatever ``--runs`` says (a script that already takes medians
    inside one run and takes many minutes per run)."""

    @property
    def script(self) -> Path:
        return ROOT / "bench" / f"{self.name}.py"


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark("check", quick=("--count", "20", "--repeat", "3")),
    Benchmark("startup", quick=("--runs", "3")),
    Benchmark("http", quick=("--duration", "2", "--rounds", "2", "--warmup", "1")),
    Benchmark("storage", quick=("--quick",)),
    # Five interleaved runs of each side inside, medians: ~4.5 minutes per run, most of it
    # Miniflare's 50,000 puts.
    Benchmark("kv", quick=("--ops", "2000", "--runs", "3"), runs=1),
    Benchmark("durable_objects", quick=("--rpc", "1000", "--pairs", "5000", "--inserts", "10000", "--runs", "3")),
    Benchmark("queues", quick=("--messages", "30000", "--runs", "3", "--latency-samples", "500")),
    Benchmark("workflows", quick=("--instances", "500", "--sequential", "50")),
    # A 200 MB upload, twice in each of three rounds, medians inside: a minute or two per run.
    Benchmark("upload", quick=("--runs", "1"), runs=1),
    # The first run generates ~520 MB of Parquet into bench/data/ (git-ignored), kept for the next.
    Benchmark("compaction", quick=("--count", "20", "--total-mb", "50")),
    Benchmark("queue_memory", quick=("--burst", "50000", "--backlog", "100000")),
    # A million objects and messages written through the bindings, three restarts and five
    # pairs of delivery runs per size, medians inside: five minutes or so.
    Benchmark("scale", quick=("--sizes", "10000,100000"), long=True, runs=1),
)


@dataclass
class Outcome:
    """Every run of one benchmark: its documents, or why a run failed."""

    benchmark: Benchmark
    argv: tuple[str, ...]
    quick: bool
    documents: list[Document] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Row:
    """One figure's medians over the runs of its benchmark."""

    benchmark: str
    quick: bool
    name: str
    unit: str
    value: float
    peer: str | None
    peer_value: float | None
    ratio: float | None
    target: Target | None
    runs: int

    @property
    def met(self) -> bool | None:
        return self.target.met(self.value, self.ratio) if self.target else None


Runner = Callable[[Benchmark, Sequence[str], Path], tuple[str, str, int]]


def run_process(bench: Benchmark, argv: Sequence[str], log: Path) -> tuple[str, str, int]:
    """Run ``bench`` once with ``--json``: (stdout, the end of its text, exit status). Its
    text (stderr) goes to ``log``."""
    with open(log, "w") as err:
        proc = subprocess.run([sys.executable, str(bench.script), *argv, "--json"], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=err, text=True, timeout=4 * 3600)
    text = log.read_text(errors="replace")
    return proc.stdout, text[-2000:], proc.returncode


def run_benchmark(bench: Benchmark, argv: tuple[str, ...], quick: bool, runs: int, logs: Path,
                  runner: Runner = run_process, say: Callable[[str], None] = print) -> Outcome:
    outcome = Outcome(bench, argv, quick)
    for n in range(1, runs + 1):
        log = logs / f"{bench.name}-{n}.log"
        started = time.monotonic()
        try:
            stdout, tail, status = runner(bench, argv, log)
        except subprocess.TimeoutExpired:
            stdout, tail, status = "", "timed out", -1
        elapsed = time.monotonic() - started
        outcome.seconds.append(elapsed)
        if status != 0:
            last = [line for line in tail.splitlines() if line.strip()][-1:] or ["(no output)"]
            outcome.failures.append(f"exit status {status}: {last[0][:200]}")
            say(f"{bench.name} run {n}/{runs}: FAILED after {elapsed:.0f} s ({outcome.failures[-1]}; see {log})")
            continue
        try:
            doc = parse(stdout)
        except BenchOutputError as exc:
            outcome.failures.append(f"unreadable output: {exc}")
            say(f"{bench.name} run {n}/{runs}: FAILED after {elapsed:.0f} s ({exc}; see {log})")
            continue
        if doc.benchmark != bench.name:
            outcome.failures.append(f"the document names benchmark {doc.benchmark!r}")
            say(f"{bench.name} run {n}/{runs}: FAILED ({outcome.failures[-1]})")
            continue
        outcome.documents.append(doc)
        say(f"{bench.name} run {n}/{runs}: {len(doc.figures)} figures in {elapsed:.0f} s")
    return outcome


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def rows_of(outcome: Outcome) -> list[Row]:
    """The medians of each figure over the runs that measured it (first-seen order)."""
    by_name: dict[str, list[Figure]] = {}
    for doc in outcome.documents:
        for figure in doc.figures:
            by_name.setdefault(figure.name, []).append(figure)
    rows = []
    for name, figures in by_name.items():
        first = figures[0]
        value = _median([f.value for f in figures])
        assert value is not None
        peered = [f for f in figures if f.peer_value is not None]
        rows.append(Row(outcome.benchmark.name, outcome.quick, name, first.unit, value,
                        peered[0].peer if peered else None,
                        _median([f.peer_value for f in peered if f.peer_value is not None]),
                        _median([f.ratio for f in peered if f.ratio is not None]),
                        first.target, len(figures)))
    return rows


def number(x: float) -> str:
    """A figure with as many digits as a shared machine's noise leaves meaningful."""
    a = abs(x)
    if a >= 1000:
        return f"{x:,.0f}"
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 0.1 or a == 0:
        return f"{x:.2f}"
    return f"{x:.3g}"


def _with_unit(x: float, unit: str) -> str:
    return f"{number(x)} {unit}".rstrip()


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_table(outcomes: list[Outcome]) -> str:
    lines = ["| benchmark | figure | ours | peer | peer's | ours ÷ peer | target | met |",
             "|---|---|---|---|---|---|---|---|"]
    for outcome in outcomes:
        label = f"`{outcome.benchmark.name}`" + (" *(quick)*" if outcome.quick else "")
        if not outcome.documents:
            why = outcome.failures[0] if outcome.failures else "not run"
            lines.append(f"| {label} | **failed**: {_cell(why)} | | | | | | |")
            continue
        for row in rows_of(outcome):
            runs = "" if row.runs == len(outcome.documents) else f" ({row.runs} of {len(outcome.documents)} runs)"
            peer = _cell(row.peer) if row.peer else ""
            peer_value = _with_unit(row.peer_value, row.unit) if row.peer_value is not None else ""
            ratio = f"{row.ratio:.2f}×" if row.ratio is not None else ""
            target = row.target.text(row.unit) if row.target else ""
            met = {True: "yes", False: "**no**", None: ""}[row.met]
            lines.append(f"| {label} | {_cell(row.name)}{runs} | {_with_unit(row.value, row.unit)} | {peer} "
                         f"| {peer_value} | {ratio} | {target} | {met} |")
        if outcome.failures:
            lines.append(f"| {label} | **{len(outcome.failures)} run(s) failed**: {_cell(outcome.failures[0])} "
                         "| | | | | | |")
    return "\n".join(lines)


@dataclass(frozen=True)
class Machine:
    cores: int
    cpu: str
    python: str
    system: str
    load_start: float
    load_end: float

    @staticmethod
    def cpu_model() -> str:
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return platform.processor() or "unknown CPU"

    def text(self) -> str:
        return (f"{self.cores} cores ({self.cpu}), {self.system}, Python {self.python}; load average "
                f"{self.load_start:.1f} at the start and {self.load_end:.1f} at the end")


def render_block(outcomes: list[Outcome], machine: Machine, command: str, runs: int, date: str) -> str:
    """The whole block between the markers: heading sentence, table, quick sizes."""
    quick = [o for o in outcomes if o.quick]
    own_runs = sorted({(o.benchmark.name, len(o.seconds)) for o in outcomes if len(o.seconds) != runs})
    parts = [
        BEGIN,
        f"Measured {date} on {machine.text()}, a virtual machine shared with other engineers' test "
        f"runs, with `{command}`. Each figure is the median of {runs} run(s) of its benchmark"
        + (" (" + ", ".join(f"`{name}`: {n}" for name, n in own_runs) + ")" if own_runs else "")
        + ", each run's own figure as the benchmark defines it (below); *ours ÷ peer* is the median of "
        "each run's own ratio (same run, same machine load). Higher is better for rates (`/s`), lower "
        "for times and memory.",
        "",
        render_table(outcomes),
    ]
    if quick:
        parts += ["", "*(quick)*: smaller than the benchmark's default size: "
                  + "; ".join(f"`{o.benchmark.name}` ran with `{shlex.join(o.argv)}`" for o in quick) + "."]
    parts.append(END)
    return "\n".join(parts)


def rewrite_readme(text: str, block: str) -> str:
    """``text`` with the block between the markers replaced (markers included in ``block``)."""
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise SystemExit(f"bench/README.md must hold the markers {BEGIN!r} and {END!r} once each, in that "
                         "order: put them where the table goes")
    return text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]


def select(args: argparse.Namespace) -> list[tuple[Benchmark, tuple[str, ...], bool]]:
    names = [b.name for b in BENCHMARKS]
    only = [n for n in args.only.split(",") if n] if args.only else names
    full = [] if args.quick else names if args.full == "all" else [n for n in args.full.split(",") if n]
    unknown = sorted(set(only + full) - set(names))
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(unknown)} (known: {', '.join(names)})")
    chosen = []
    for bench in BENCHMARKS:
        if bench.name not in only:
            continue
        quick = bench.quick is not None and (args.quick or (bench.long and bench.name not in full))
        chosen.append((bench, bench.quick if quick and bench.quick is not None else bench.full, quick))
    return chosen


def save(path: Path, outcomes: list[Outcome], machine: Machine, command: str, runs: int, date: str) -> None:
    path.write_text(json.dumps({
        "date": date, "command": command, "runs": runs, "machine": machine.__dict__,
        "outcomes": [{"benchmark": o.benchmark.name, "argv": list(o.argv), "quick": o.quick,
                      "seconds": o.seconds, "failures": o.failures,
                      "documents": [json.loads(d.to_json()) for d in o.documents]} for o in outcomes],
    }, ensure_ascii=False, indent=1))


def load(path: Path) -> tuple[list[Outcome], Machine, str, int, str]:
    raw = json.loads(path.read_text())
    benches = {b.name: b for b in BENCHMARKS}
    outcomes = []
    for o in raw["outcomes"]:
        outcome = Outcome(benches[o["benchmark"]], tuple(o["argv"]), o["quick"], failures=o["failures"],
                          seconds=o["seconds"])
        outcome.documents = [parse(json.dumps(d)) for d in o["documents"]]
        outcomes.append(outcome)
    return outcomes, Machine(**raw["machine"]), raw["command"], raw["runs"], raw["date"]


def command_of(args: argparse.Namespace) -> str:
    """The command that measures what this run measures (where logs and saves go aside)."""
    words = [".venv/bin/python", "-m", "bench.report", "--runs", str(args.runs)]
    if args.only:
        words += ["--only", args.only]
    if args.quick:
        words.append("--quick")
    elif args.full:
        words += ["--full", args.full]
    return shlex.join(words + ["--write"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each benchmark (medians; default 3)")
    parser.add_argument("--only", default="", metavar="NAME,...", help="run only these benchmarks")
    parser.add_argument("--full", default="", metavar="NAME,...",
                        help="run these at their default size, not their quick one ('all': every one)")
    parser.add_argument("--quick", action="store_true",
                        help="run every benchmark at its quick size (overrides --full)")
    parser.add_argument("--logs", type=Path, default=None, metavar="DIR",
                        help="where each run's text goes (default: a new temporary folder)")
    parser.add_argument("--save", type=Path, default=None, metavar="FILE", help="keep every run's document here")
    parser.add_argument("--from", dest="source", type=Path, default=None, metavar="FILE",
                        help="render from a file --save wrote instead of running")
    parser.add_argument("--write", action="store_true", help="replace the table in bench/README.md")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.source is not None:
        outcomes, machine, command, runs, date = load(args.source)
    else:
        runs = args.runs
        command = command_of(args)
        logs = args.logs or Path(tempfile.mkdtemp(prefix="bench-report-"))
        logs.mkdir(parents=True, exist_ok=True)
        print(f"logs: {logs}", flush=True)
        load_start = os.getloadavg()[0]
        date = _dt.date.today().isoformat()
        outcomes = []
        for bench, bench_argv, quick in select(args):
            outcomes.append(run_benchmark(bench, bench_argv, quick, bench.runs or runs, logs,
                                          say=lambda line: print(line, flush=True)))
        machine = Machine(os.cpu_count() or 1, Machine.cpu_model(), platform.python_version(),
                          f"{platform.system()} {platform.release()}", load_start, os.getloadavg()[0])
        if args.save is not None:
            save(args.save, outcomes, machine, command, runs, date)
    block = render_block(outcomes, machine, command, runs, date)
    print("\n" + block)
    if args.write:
        README.write_text(rewrite_readme(README.read_text(), block))
        print(f"\nwrote {README.relative_to(ROOT)}")
    return 1 if any(o.failures for o in outcomes) else 0


if __name__ == "__main__":
    raise SystemExit(main())
