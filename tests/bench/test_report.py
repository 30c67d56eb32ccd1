"""bench/report.py: running the benchmarks, medians over runs, the table in bench/README.md.

Fake runs stand in for the benchmarks (no timing is asserted anywhere); one test runs the
quickest real benchmark through the report's own process path, and the scripts' ``--help``
shows that every option the report and bench/README.md use exists.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path
from collections.abc import Sequence

import pytest

from bench import report
from bench.report import BEGIN, BENCHMARKS, END, Benchmark, Machine, Outcome
from bench.results import Document, Figure, Target, parse

ROOT = Path(__file__).resolve().parents[2]
MACHINE = Machine(2, "Test CPU", "3.11.7", "Linux 6", 1.5, 2.5)


def fake_documents(name: str) -> list[Document]:
    """Three runs of a benchmark whose ratio's median differs from the ratio of medians."""
    runs = [(100.0, 50.0), (120.0, 100.0), (90.0, 30.0)]  # ours, peer: ratios 2.0, 1.2, 3.0
    return [Document(name, ("--size", "1"), (
        Figure("rate", "throughput", "ops/s", ours, "Miniflare 4", peer, Target("ratio", ">=", 1.0)),
        Figure("rss", "RSS", "MB", 60.0 + i, target=Target("value", "<=", 50)),
    )) for i, (ours, peer) in enumerate(runs)]


class FakeRunner:
    """Answers each run of a benchmark with the next of its prepared outputs."""

    def __init__(self, outputs: dict[str, list[tuple[str, int]]]) -> None:
        self.outputs = outputs
        self.calls: list[tuple[str, tuple[str, ...]]] = []

    def __call__(self, bench: Benchmark, argv: Sequence[str], log: Path) -> tuple[str, str, int]:
        self.calls.append((bench.name, tuple(argv)))
        stdout, status = self.outputs[bench.name].pop(0)
        log.write_text("the benchmark's text\n")
        return stdout, "last line of its text\n", status


def outcome_of(name: str, outputs: list[tuple[str, int]], tmp_path: Path, quick: bool = False) -> Outcome:
    runner = FakeRunner({name: outputs})
    return report.run_benchmark(Benchmark(name), ("--size", "1"), quick, len(outputs), tmp_path, runner,
                                say=lambda line: None)


def test_each_figure_is_the_median_of_the_runs_and_the_ratio_the_median_of_each_runs_ratio(
        tmp_path: Path) -> None:
    outcome = outcome_of("kv", [(d.to_json() + "\n", 0) for d in fake_documents("kv")], tmp_path)
    rate, rss = report.rows_of(outcome)
    assert (rate.value, rate.peer_value, rate.peer) == (100.0, 50.0, "Miniflare 4")
    assert rate.ratio == 2.0  # the middle of 2.0, 1.2 and 3.0 (the ratio of the medians would be 2.0 too)
    assert rate.met is True and rate.runs == 3
    assert (rss.value, rss.ratio, rss.met) == (61.0, None, False)


def test_the_ratio_is_never_recomputed_from_medians(tmp_path: Path) -> None:
    runs = [(10.0, 1.0), (20.0, 10.0), (30.0, 5.0)]  # ratios 10, 2 and 6
    docs = [Document("kv", (), (Figure("rate", "throughput", "ops/s", o, "peer", p),)) for o, p in runs]
    row = report.rows_of(outcome_of("kv", [(d.to_json(), 0) for d in docs], tmp_path))[0]
    assert (row.value, row.peer_value) == (20.0, 5.0)
    assert row.ratio == 6.0  # not 20 / 5: each run's ratio is measured under that run's load


def test_failed_runs_are_reported_and_the_others_still_count(tmp_path: Path) -> None:
    good = fake_documents("kv")[0].to_json()
    outcome = outcome_of("kv", [("", 2), ("not a document", 0), (good, 0)], tmp_path)
    assert len(outcome.documents) == 1
    assert outcome.failures[0].startswith("exit status 2: last line of its text")
    assert outcome.failures[1].startswith("unreadable output")
    table = report.render_table([outcome])
    assert "| `kv` | rate | 100 ops/s | Miniflare 4 | 50.0 ops/s | 2.00× | ≥ 1× | yes |" in table
    assert "**2 run(s) failed**: exit status 2" in table


def test_a_benchmark_with_no_good_run_gets_a_failed_row(tmp_path: Path) -> None:
    outcome = outcome_of("scale", [("", 1)], tmp_path, quick=True)
    table = report.render_table([outcome])
    assert table.splitlines()[2].startswith("| `scale` *(quick)* | **failed**: exit status 1")


def test_a_document_of_another_benchmark_is_a_failure(tmp_path: Path) -> None:
    outcome = outcome_of("kv", [(fake_documents("queues")[0].to_json(), 0)], tmp_path)
    assert outcome.failures == ["the document names benchmark 'queues'"]


def test_the_table_of_every_benchmark_renders_with_date_machine_command_and_quick_sizes(tmp_path: Path) -> None:
    outcomes = []
    for bench in BENCHMARKS:
        quick = bench.quick is not None
        docs = fake_documents(bench.name)
        outcomes.append(report.run_benchmark(
            bench, bench.quick or bench.full, quick, 3, tmp_path,
            FakeRunner({bench.name: [(d.to_json(), 0) for d in docs]}), say=lambda line: None))
    block = report.render_block(outcomes, MACHINE, ".venv/bin/python -m bench.report --runs 3 --write", 3,
                                "2026-12-07")
    lines = block.splitlines()
    assert lines[0] == BEGIN and lines[-1] == END
    assert "Measured 2026-12-07 on 2 cores (Test CPU), Linux 6, Python 3.11.7" in block
    assert "`.venv/bin/python -m bench.report --runs 3 --write`" in block
    for bench in BENCHMARKS:
        label = f"`{bench.name}`" + (" *(quick)*" if bench.quick else "")
        assert sum(line.startswith(f"| {label} |") for line in lines) == 2, bench.name
        if bench.quick:
            assert f"`{bench.name}` ran with `{' '.join(bench.quick)}`" in block


def test_the_readme_block_is_replaced_and_nothing_else() -> None:
    text = f"# Benchmarks\n\nintro\n\n{BEGIN}\nold table\n{END}\n\n## check.py\n\nprose\n"
    out = report.rewrite_readme(text, f"{BEGIN}\nnew table\n{END}")
    assert out == f"# Benchmarks\n\nintro\n\n{BEGIN}\nnew table\n{END}\n\n## check.py\n\nprose\n"
    assert report.rewrite_readme(out, f"{BEGIN}\nnew table\n{END}") == out
    for broken in ("no markers", f"{END}\n{BEGIN}", f"{BEGIN}\n{BEGIN}\n{END}"):
        with pytest.raises(SystemExit, match="markers"):
            report.rewrite_readme(broken, f"{BEGIN}\n{END}")


def test_the_real_readme_has_the_markers_once() -> None:
    text = (ROOT / "bench" / "README.md").read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1 and text.index(BEGIN) < text.index(END)


def args(**kw: object) -> argparse.Namespace:
    return argparse.Namespace(**{"only": "", "full": "", "quick": False, "runs": 3, **kw})


def test_long_benchmarks_run_quick_unless_named_in_full() -> None:
    chosen = {b.name: (argv, quick) for b, argv, quick in report.select(args())}
    assert chosen["scale"] == (("--sizes", "10000,100000"), True)  # the one that takes many minutes
    assert chosen["check"] == ((), False) and chosen["compaction"] == ((), False)
    assert {b.name for b, _, quick in report.select(args()) if quick} == {b.name for b in BENCHMARKS if b.long}
    assert not any(quick for _, _, quick in report.select(args(full="scale")))
    assert not any(quick for _, _, quick in report.select(args(full="all")))
    smoke = report.select(args(full="all", quick=True))
    assert all(quick and argv == b.quick for b, argv, quick in smoke)
    assert [b.name for b, _, _ in report.select(args(only="kv,check"))] == ["check", "kv"]
    with pytest.raises(SystemExit, match="unknown benchmark"):
        report.select(args(only="nope"))


def test_the_recorded_command_measures_the_same_thing() -> None:
    assert report.command_of(args(full="scale")) == ".venv/bin/python -m bench.report --runs 3 --full scale --write"
    assert report.command_of(args(only="kv", quick=True, runs=5)) == \
        ".venv/bin/python -m bench.report --runs 5 --only kv --quick --write"


def test_a_saved_run_renders_again_identically(tmp_path: Path) -> None:
    outcome = outcome_of("kv", [(d.to_json(), 0) for d in fake_documents("kv")] + [("", 1)], tmp_path)
    report.save(tmp_path / "saved.json", [outcome], MACHINE, "cmd", 4, "2026-12-07")
    outcomes, machine, command, runs, date = report.load(tmp_path / "saved.json")
    assert (machine, command, runs, date) == (MACHINE, "cmd", 4, "2026-12-07")
    assert report.render_block(outcomes, machine, command, runs, date) == \
        report.render_block([outcome], MACHINE, "cmd", 4, "2026-12-07")


def test_every_script_in_bench_is_in_the_report() -> None:
    scripts = {p.stem for p in (ROOT / "bench").glob("*.py")} - {"__init__", "results", "report"}
    assert scripts == {b.name for b in BENCHMARKS}


def test_a_real_benchmark_through_the_reports_process_path(tmp_path: Path) -> None:
    check = next(b for b in BENCHMARKS if b.name == "check")
    stdout, _, status = report.run_process(check, ["--count", "2", "--repeat", "1"], tmp_path / "check.log")
    assert status == 0, (tmp_path / "check.log").read_text()
    doc = parse(stdout)
    assert doc.benchmark == "check" and doc.argv == ("--count", "2", "--repeat", "1")
    assert [f.unit for f in doc.figures] == ["ms", "ms"]
    assert "check over 2 configs" in (tmp_path / "check.log").read_text()  # the text went to the log


@pytest.fixture(scope="module")
def helps() -> dict[str, str]:
    """``--help`` of every benchmark script and of the report, run side by side."""
    commands = {b.name: [str(ROOT / "bench" / f"{b.name}.py")] for b in BENCHMARKS}
    commands["report"] = ["-m", "bench.report"]
    procs = {name: subprocess.Popen([sys.executable, *command, "--help"], cwd=ROOT, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
             for name, command in commands.items()}
    out = {}
    for name, proc in procs.items():
        text, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{name} --help: {text}"
        out[name] = text
    return out


def options(words: Sequence[str]) -> set[str]:
    return {w.strip("[]").split("=")[0] for w in words if w.strip("[]").startswith("--")}


def test_every_option_the_report_passes_exists(helps: dict[str, str]) -> None:
    for bench in BENCHMARKS:
        listed = options(helps[bench.name].split())
        assert "--json" in listed, bench.name
        assert options((*bench.full, *(bench.quick or ()))) <= listed, bench.name


def test_every_command_in_the_readme_runs_a_script_with_options_it_has(helps: dict[str, str]) -> None:
    text = (ROOT / "bench" / "README.md").read_text()
    commands = re.findall(r"^\s*(\.venv/bin/python (?:-m bench\.report|bench/\w+\.py)[^\n`]*)", text, re.M)
    scripts = set()
    for command in commands:
        words = command.split()
        script = "report" if words[1] == "-m" else Path(words[1]).stem
        scripts.add(script)
        assert script in helps, command
        assert options(words[2:]) <= options(helps[script].split()), command
    assert scripts == set(helps)  # every benchmark says how to run it
