"""Property (fuzz target): for random and mutated configs, `check` never crashes and always answers.

Configs are generated as JSON-like values (random field names from wrangler's schema and
random value types), written as JSON, JSONC or TOML, and also produced by mutating the
fixture files' text (deleting, duplicating and swapping characters), as random bytes, and
nested to random depths around and far past the nesting limits. Every run must return a
report whose exit is 0 or 1 and whose diagnostics all have a message and, for parsed files,
a position. Run longer with ``HYPOTHESIS_PROFILE=fuzz`` (tests/helpers/fuzz.py).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from emulator.cli.check import main as check_main
from emulator.config import check_paths
from emulator.config.nesting import MAX_DEPTH, NESTING_ID, TOML_INLINE_MAX_DEPTH, TOML_INLINE_MESSAGE
from emulator.config.render import render_github, render_json, render_text
from tests.helpers.fuzz import fuzz_settings

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "configs"
SAMPLES = sorted(p for p in FIXTURES.glob("*/*/wrangler.*"))

FIELDS = ["name", "main", "pages_build_output_dir", "compatibility_date", "compatibility_flags", "vars",
          "queues", "r2_buckets", "d1_databases", "workflows", "services", "durable_objects", "triggers",
          "dev", "env", "kv_namespaces", "migrations", "assets", "build", "node_compat", "legacy_env",
          "site", "unsafe", "secrets", "define", "routes", "route", "limits", "placement", "observability",
          "consumers", "producers", "binding", "queue", "bucket_name", "class_name", "bindings",
          "max_batch_size", "max_retries", "dead_letter_queue", "script_name", "staging", "preview", "x"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 200000), st.floats(allow_nan=False, width=32),
                    st.text(max_size=8), st.sampled_from(["ASSETS", "q", "my-bucket", "2025-01-01", "x.py"]))
values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from(FIELDS), inner, max_size=5)),
    max_leaves=25)
configs = st.dictionaries(st.sampled_from(FIELDS), values, max_size=8)


def _toml_value(v: Any) -> str:
    if v is None:
        return '"null"'  # TOML has no null
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v) if v == v and abs(v) != float("inf") else "0"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"


def _assert_sane(path: Path, env: str | None) -> None:
    report = check_paths([path], env=env, cwd=path.parent)
    assert report.files
    for f in report.files:
        for d in f.errors + f.warnings:
            assert d.message and d.severity in ("error", "warning")
    text = render_text(report)
    rendered = json.loads(render_json(report))
    render_github(report)
    # The verdict is the diagnostics' (no error anywhere), and every rendering says the same.
    assert report.ok == (not any(f.errors for f in report.files))
    assert rendered["ok"] is report.ok
    assert sum(len(f["errors"]) for f in rendered["files"]) == sum(len(f.errors) for f in report.files)
    assert ("[ERROR]" in text) == (not report.ok)


@fuzz_settings(120)
@given(config=configs, fmt=st.sampled_from(["wrangler.json", "wrangler.jsonc", "wrangler.toml"]),
       env=st.sampled_from([None, "staging", "preview"]))
def test_random_configs_never_crash(config: dict[str, Any], fmt: str, env: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / fmt
        if fmt == "wrangler.toml":
            path.write_text("\n".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in config.items()) + "\n")
        else:
            path.write_text(json.dumps(config) + ("\n// trailing comment\n" if fmt.endswith("c") else ""))
        _assert_sane(path, env)


@fuzz_settings(80)
@given(sample=st.sampled_from(SAMPLES), data=st.data())
def test_mutated_fixtures_never_crash(sample: Path, data: st.DataObject) -> None:
    # Samples may hold bytes that are not UTF-8 (on purpose): keep them as they are.
    text = sample.read_bytes().decode("utf-8", "surrogateescape")
    for _ in range(data.draw(st.integers(1, 4))):
        if not text:
            break
        i = data.draw(st.integers(0, len(text) - 1))
        op = data.draw(st.sampled_from(["delete", "duplicate", "swap", "insert"]))
        if op == "delete":
            text = text[:i] + text[i + 1:]
        elif op == "duplicate":
            text = text[:i] + text[i] + text[i:]
        elif op == "swap" and i + 1 < len(text):
            text = text[:i] + text[i + 1] + text[i] + text[i + 2:]
        else:
            text = text[:i] + data.draw(st.sampled_from(list('[]{}",=.\n#/*0aé'))) + text[i:]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / sample.name
        path.write_bytes(text.encode("utf-8", "surrogateescape"))
        _assert_sane(path, data.draw(st.sampled_from([None, "staging"])))
        assert check_main([str(path), "--format", "json"]) in (0, 1)


@fuzz_settings(60)
@given(data=st.binary(max_size=3000), name=st.sampled_from(["wrangler.toml", "wrangler.json", "wrangler.jsonc"]),
       prefix=st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff\xfe", b'name = "w"\n', b'{"name": "w", ']))
def test_random_bytes_never_crash(data: bytes, name: str, prefix: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(prefix + data)
        _assert_sane(path, None)
        assert check_main([str(path), "--format", "github"]) in (0, 1)


OPENERS = {"toml": ("[", "{a = "), "json": ("[", '{"a": ')}
CLOSERS = {"[": "]", "{a = ": "}", '{"a": ': "}"}


@fuzz_settings(10)
@given(fmt=st.sampled_from(["toml", "json"]), data=st.data(),
       depth=st.one_of(st.integers(1, 1100), st.integers(MAX_DEPTH - 10, MAX_DEPTH + 10), st.just(100_000)),
       header=st.one_of(st.just(0), st.integers(1900, 2100)), closed=st.booleans())
def test_deep_nesting_never_crashes(fmt: str, data: st.DataObject, depth: int, header: int, closed: bool) -> None:
    """`X` nested `depth` levels (a random mix of arrays and objects/tables, a scalar inside),
    for TOML under a table `header` levels deep: the verdict the limits give, never a crash."""
    kinds = data.draw(st.lists(st.sampled_from(OPENERS[fmt]), min_size=1, max_size=8))
    parts = [kinds[i % len(kinds)] for i in range(depth)]
    value = "".join(parts) + "1" + ("".join(CLOSERS[p] for p in reversed(parts)) if closed else "")
    if fmt == "toml":
        table = "[" + ".".join(["t"] * header) + "]\n" if header else ""
        text = 'name = "w"\nmain = "src/index.js"\n' + table + "X = " + value + "\n"
        # Levels: the top-level table, `header` tables, then the inline values.
        if depth >= MAX_DEPTH - header and MAX_DEPTH - header <= TOML_INLINE_MAX_DEPTH:
            expected = NESTING_ID
        elif depth >= TOML_INLINE_MAX_DEPTH:  # the scalar (or the 1001st container) is 1000 down
            expected = TOML_INLINE_MESSAGE
        else:
            expected = None
    else:
        text = '{"name": "w", "main": "src/index.js", "X": ' + value + ("}" if closed else "")
        expected = NESTING_ID if 1 + depth > MAX_DEPTH else None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"wrangler.{fmt}"
        path.write_text(text)
        report = check_paths([path], cwd=Path(tmp))
        render_text(report)
        render_github(report)
        [file] = report.files
        nesting = [d for d in file.errors if d.id == NESTING_ID or d.message == TOML_INLINE_MESSAGE]
        if expected is None:
            assert not nesting
            if not closed:  # a syntax error instead
                assert len(file.errors) == 1 and file.errors[0].line is not None
        else:
            assert [d.id or d.message for d in file.errors] == [expected]
            assert file.errors[0].line is not None and file.errors[0].column is not None
