"""What a benchmark prints with ``--json``: its figures as data, for ``bench/report.py``.

Every benchmark prints its figures as text for a person. With ``--json`` that text goes to
stderr instead, and stdout carries one JSON document on one line (the last line, so that
a library printing something stray cannot hide it)::

    {"benchmark": "kv", "format": 1, "argv": ["--ops", "10000"], "figures": [
      {"name": "put", "metric": "time per operation", "unit": "µs", "value": 38.2,
       "peer": "raw sqlite3", "peer_value": 30.1, "ratio": 1.27,
       "target": {"on": "ratio", "op": "<=", "limit": 1.5}}, ...]}

- ``name`` says what was measured and is unique within one document (the report matches
  the runs of a figure by it);
- ``value`` is ours, ``peer_value`` the same work done by ``peer`` (Miniflare, wrangler,
  raw SQLite, bare aiohttp, an empty store...) in the same run, or both peer fields are
  null;
- ``ratio`` is always ``value / peer_value`` of that one run: on a shared machine only a
  ratio measured in one run means something. Whether higher is better follows from the
  unit (``/s`` higher, time and memory lower);
- ``target``, when the benchmark has one, is a bound on the value or on the ratio, so the
  report can say whether the median meets it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from collections.abc import Iterator

FORMAT = 1

TargetOn = Literal["value", "ratio"]
TargetOp = Literal["<=", ">=", "=="]
_OPS: dict[str, str] = {"<=": "≤", ">=": "≥", "==": "="}


class BenchOutputError(ValueError):
    """A benchmark's ``--json`` output is not the document this module describes."""


@dataclass(frozen=True)
class Target:
    """A bound on a figure's value (``on="value"``) or on its ratio to the peer."""

    on: TargetOn
    op: TargetOp
    limit: float

    def met(self, value: float | None, ratio: float | None) -> bool | None:
        """Whether the bound holds; None when the figure it is about was not measured."""
        x = value if self.on == "value" else ratio
        if x is None:
            return None
        if self.op == "<=":
            return x <= self.limit
        if self.op == ">=":
            return x >= self.limit
        return x == self.limit

    def text(self, unit: str) -> str:
        limit = f"{self.limit:,g}"
        return f"{_OPS[self.op]} {limit} {unit}".rstrip() if self.on == "value" else f"{_OPS[self.op]} {limit}×"

    def to_json(self) -> dict[str, Any]:
        return {"on": self.on, "op": self.op, "limit": self.limit}


@dataclass(frozen=True)
class Figure:
    """One measured figure of one run."""

    name: str
    metric: str
    unit: str
    value: float
    peer: str | None = None
    peer_value: float | None = None
    target: Target | None = None

    @property
    def ratio(self) -> float | None:
        if self.peer_value is None or self.peer_value == 0:
            return None
        return self.value / self.peer_value

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "metric": self.metric, "unit": self.unit, "value": self.value,
                "peer": self.peer, "peer_value": self.peer_value, "ratio": self.ratio,
                "target": self.target.to_json() if self.target else None}


@dataclass(frozen=True)
class Document:
    """One run of one benchmark: what ``--json`` prints."""

    benchmark: str
    argv: tuple[str, ...]
    figures: tuple[Figure, ...]

    def to_json(self) -> str:
        return json.dumps({"benchmark": self.benchmark, "format": FORMAT, "argv": list(self.argv),
                           "figures": [f.to_json() for f in self.figures]}, ensure_ascii=False)


# Where the peers (Miniflare 4, wrangler 4) are installed: a folder whose node_modules holds
# them (`npm install miniflare wrangler` there). The development machine keeps them in
# /work/peers; CF_EMULATOR_PEERS names another folder.
PEERS = Path(os.environ.get("CF_EMULATOR_PEERS", "/work/peers"))


def add_miniflare_option(parser: Any) -> None:
    """``--miniflare DIR`` of the benchmarks that run the same work on Miniflare."""
    parser.add_argument("--miniflare", type=Path, default=PEERS,
                        help="folder whose node_modules holds miniflare (skipped when absent; "
                             "default: $CF_EMULATOR_PEERS or /work/peers)")


def add_json_option(parser: Any) -> None:
    """The ``--json`` option every benchmark takes (``parser`` is an ``argparse.ArgumentParser``)."""
    parser.add_argument("--json", action="store_true",
                        help="print the figures as one JSON document on stdout (bench/results.py); "
                             "the usual text goes to stderr")


@contextlib.contextmanager
def text_output(json_mode: bool) -> Iterator[None]:
    """Send the benchmark's printed text to stderr while ``json_mode`` is on, so that stdout
    holds only the document."""
    if not json_mode:
        yield
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield


def emit(benchmark: str, figures: list[Figure], json_mode: bool, argv: list[str] | None = None) -> None:
    """Print the document when ``json_mode`` is on (after the text, outside ``text_output``)."""
    if not json_mode:
        return
    args = sys.argv[1:] if argv is None else argv
    doc = Document(benchmark, tuple(a for a in args if a != "--json"), tuple(figures))
    check_names(doc)
    sys.stdout.write(doc.to_json() + "\n")
    sys.stdout.flush()


def check_names(doc: Document) -> None:
    seen: set[str] = set()
    for figure in doc.figures:
        if figure.name in seen:
            raise BenchOutputError(f"{doc.benchmark}: two figures are named {figure.name!r}")
        seen.add(figure.name)


def _number(raw: Any, where: str, optional: bool = False) -> float | None:
    if raw is None and optional:
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
        raise BenchOutputError(f"{where}: expected a finite number, got {raw!r}")
    return float(raw)


def _text(raw: Any, where: str, optional: bool = False) -> str | None:
    if raw is None and optional:
        return None
    if not isinstance(raw, str) or not raw:
        raise BenchOutputError(f"{where}: expected a non-empty string, got {raw!r}")
    return raw


def _target(raw: Any, where: str) -> Target | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise BenchOutputError(f"{where}: expected an object, got {raw!r}")
    on, op = raw.get("on"), raw.get("op")
    if on not in ("value", "ratio") or op not in _OPS:
        raise BenchOutputError(f"{where}: 'on' must be value or ratio and 'op' one of {sorted(_OPS)}, got {raw!r}")
    limit = _number(raw.get("limit"), f"{where}.limit")
    assert limit is not None
    return Target(on, op, limit)


def _figure(raw: Any, where: str) -> Figure:
    if not isinstance(raw, dict):
        raise BenchOutputError(f"{where}: expected an object, got {raw!r}")
    name = _text(raw.get("name"), f"{where}.name")
    metric = _text(raw.get("metric"), f"{where}.metric")
    unit = raw.get("unit")
    if not isinstance(unit, str):
        raise BenchOutputError(f"{where}.unit: expected a string, got {unit!r}")
    value = _number(raw.get("value"), f"{where}.value")
    peer = _text(raw.get("peer"), f"{where}.peer", optional=True)
    peer_value = _number(raw.get("peer_value"), f"{where}.peer_value", optional=True)
    if (peer is None) != (peer_value is None):
        raise BenchOutputError(f"{where}: 'peer' and 'peer_value' go together, got {peer!r} and {peer_value!r}")
    assert name is not None and metric is not None and value is not None
    figure = Figure(name, metric, unit, value, peer, peer_value, _target(raw.get("target"), f"{where}.target"))
    ratio = _number(raw.get("ratio"), f"{where}.ratio", optional=True)
    expected = figure.ratio
    if (ratio is None) != (expected is None) or (
            ratio is not None and expected is not None and not math.isclose(ratio, expected, rel_tol=1e-6)):
        raise BenchOutputError(f"{where}.ratio: expected value / peer_value ({expected!r}), got {ratio!r}")
    return figure


def parse(stdout: str) -> Document:
    """The document in a benchmark's ``--json`` stdout (its last non-empty line)."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise BenchOutputError("no output on stdout (was --json passed?)")
    try:
        raw = json.loads(lines[-1])
    except ValueError as exc:
        raise BenchOutputError(f"the last line of stdout is not JSON ({exc}): {lines[-1][:200]!r}") from None
    if not isinstance(raw, dict):
        raise BenchOutputError(f"expected a JSON object, got {type(raw).__name__}")
    if raw.get("format") != FORMAT:
        raise BenchOutputError(f"unknown format {raw.get('format')!r} (this reader knows {FORMAT})")
    benchmark = _text(raw.get("benchmark"), "benchmark")
    argv = raw.get("argv")
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        raise BenchOutputError(f"argv: expected a list of strings, got {argv!r}")
    figures = raw.get("figures")
    if not isinstance(figures, list) or not figures:
        raise BenchOutputError(f"figures: expected a non-empty list, got {figures!r}")
    assert benchmark is not None
    doc = Document(benchmark, tuple(argv),
                   tuple(_figure(f, f"figures[{i}]") for i, f in enumerate(figures)))
    check_names(doc)
    return doc
