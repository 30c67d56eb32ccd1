"""bench/results.py: the document every benchmark prints with ``--json``, and its reader."""

from __future__ import annotations

import json
import math
from typing import Any
from collections.abc import Callable

import pytest

from bench.results import BenchOutputError, Document, Figure, Target, emit, parse, text_output


def doc(*figures: Figure) -> Document:
    return Document("kv", ("--ops", "10"), figures)


def test_a_document_reads_back_as_written() -> None:
    written = doc(Figure("put", "time per operation", "µs", 12.0, "raw sqlite3", 8.0, Target("ratio", "<=", 1.5)),
                  Figure("rss", "RSS", "MB", 70.5))
    read = parse(written.to_json())
    assert read == written
    assert read.figures[0].ratio == 1.5
    assert read.figures[1].ratio is None


def test_the_ratio_is_ours_over_the_peers() -> None:
    raw = json.loads(doc(Figure("get", "rate", "ops/s", 300.0, "Miniflare 4", 100.0)).to_json())
    assert raw["figures"][0]["ratio"] == 3.0


def test_the_document_is_the_last_line_whatever_came_before() -> None:
    text = "a stray line a library printed\n" + doc(Figure("x", "m", "ms", 1.0)).to_json() + "\n\n"
    assert parse(text).figures[0].name == "x"


def test_emit_prints_the_document_only_in_json_mode(capsys: pytest.CaptureFixture[str]) -> None:
    emit("kv", [Figure("x", "m", "ms", 1.0)], False, ["--ops", "1"])
    assert capsys.readouterr().out == ""
    emit("kv", [Figure("x", "m", "ms", 1.0)], True, ["--ops", "1", "--json"])
    out = capsys.readouterr().out
    assert parse(out).argv == ("--ops", "1")  # --json itself is not part of what was measured


def test_in_json_mode_the_text_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    with text_output(True):
        print("figures for a person")
    captured = capsys.readouterr()
    assert captured.out == "" and "figures for a person" in captured.err
    with text_output(False):
        print("figures for a person")
    assert "figures for a person" in capsys.readouterr().out


def test_two_figures_of_one_name_are_refused() -> None:
    with pytest.raises(BenchOutputError, match="two figures"):
        emit("kv", [Figure("x", "m", "ms", 1.0), Figure("x", "m", "ms", 2.0)], True, [])


def good() -> dict[str, Any]:
    return json.loads(doc(Figure("put", "time", "µs", 12.0, "raw", 8.0, Target("ratio", "<=", 1.5))).to_json())


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(format=2), "unknown format"),
    (lambda d: d.update(figures=[]), "non-empty list"),
    (lambda d: d.update(benchmark=""), "non-empty string"),
    (lambda d: d.update(argv="--ops 10"), "list of strings"),
    (lambda d: d["figures"][0].update(value="12"), "finite number"),
    (lambda d: d["figures"][0].update(value=math.inf), "finite number"),
    (lambda d: d["figures"][0].update(value=True), "finite number"),
    (lambda d: d["figures"][0].update(peer=None), "go together"),
    (lambda d: d["figures"][0].update(ratio=2.0), "value / peer_value"),
    (lambda d: d["figures"][0].update(ratio=None), "value / peer_value"),
    (lambda d: d["figures"][0].update(target={"on": "value", "op": "<", "limit": 1}), "'op' one of"),
    (lambda d: d["figures"][0].update(target={"on": "peer", "op": "<=", "limit": 1}), "'on' must be"),
    (lambda d: d["figures"][0].update(unit=None), "unit"),
    (lambda d: d["figures"].append(dict(d["figures"][0])), "two figures"),
])
def test_malformed_documents_are_refused_with_the_reason(change: Callable[[dict[str, Any]], None],
                                                         message: str) -> None:
    raw = good()
    parse(json.dumps(raw))  # the unchanged document is fine
    change(raw)
    with pytest.raises(BenchOutputError, match=message):
        parse(json.dumps(raw))


@pytest.mark.parametrize("stdout, message", [
    ("", "no output"),
    ("progress 1/3\nnot json at all\n", "not JSON"),
    ("[1, 2]", "JSON object"),
])
def test_output_that_is_no_document_is_refused(stdout: str, message: str) -> None:
    with pytest.raises(BenchOutputError, match=message):
        parse(stdout)


def test_a_target_bounds_the_value_or_the_ratio() -> None:
    assert Target("value", "<=", 200).met(150.0, None) is True
    assert Target("value", "<=", 200).met(250.0, 0.1) is False
    assert Target("value", ">=", 500).met(499.0, None) is False
    assert Target("value", "==", 413).met(413.0, None) is True
    assert Target("ratio", ">=", 0.8).met(1.0, 0.79) is False
    assert Target("ratio", ">=", 0.8).met(1.0, None) is None  # no peer measured: no verdict
    assert Target("value", "<=", 200).text("MB") == "≤ 200 MB"
    assert Target("ratio", ">=", 0.8).text("msg/s") == "≥ 0.8×"
