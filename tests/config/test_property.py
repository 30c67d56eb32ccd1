"""Property: for random and mutated configs, `check` never crashes and always answers.

Configs are generated as JSON-like values (random field names from wrangler's schema and
random value types), written as JSON, JSONC or TOML, and also produced by mutating the
fixture files' text (deleting, duplicating and swapping characters). Every run must return
a report whose exit is 0 or 1 and whose diagnostics all have a message and, for parsed
files, a position.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.cli.check import main as check_main
from emulator.config import check_paths
from emulator.config.render import render_github, render_json, render_text

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
    render_text(report)
    render_json(report)
    render_github(report)
    assert report.ok in (True, False)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
