"""`cf-emulator check`: exit codes, formats, GITHUB_ACTIONS default, --help."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.cli.check import main

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "configs"


def test_exit_codes(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    assert main([str(FIXTURES / "oracle" / "p01_fusou_web_valid")]) == 0
    assert main([str(FIXTURES / "oracle" / "p11_unknown_top_field")]) == 0  # warnings only
    assert main([str(FIXTURES / "oracle" / "p02_seed_consumers")]) == 1
    out = capsys.readouterr().out
    assert 'does not support "queues.consumers"' in out
    assert main([str(FIXTURES / "does-not-exist")]) == 2
    assert "no such file or directory" in capsys.readouterr().err


def test_current_folder_is_the_default(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(FIXTURES / "oracle" / "w16_pull_consumer")
    assert main([]) == 1
    assert "Only \"worker\" consumers can be configured" in capsys.readouterr().out


def test_no_config_found_is_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from emulator.config import find_config
    if find_config(tmp_path) is not None:  # something above tmp_path has a config: nothing to test
        return
    monkeypatch.chdir(tmp_path)
    assert main([]) == 2


def test_env_flag_and_json_format(capsys: pytest.CaptureFixture[str]) -> None:
    case = FIXTURES / "cases" / "env_unknown_with_envs"
    assert main([str(case), "--env", "staging", "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False
    message = data["files"][0]["errors"][0]["message"]
    assert message.startswith('No environment found in configuration with name "staging".')
    assert main([str(case), "--format", "json"]) == 0


def test_github_format_is_default_on_actions(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert main([str(FIXTURES / "cases" / "queues_dlq_is_itself")]) == 1
    assert capsys.readouterr().out.startswith("::error file=")
    assert main([str(FIXTURES / "cases" / "queues_dlq_is_itself"), "--format", "text"]) == 1
    assert "✘ [ERROR] [CFE107]" in capsys.readouterr().out


def test_help_and_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    assert "--format" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main(["--format", "yaml"])
    assert info.value.code == 2


def test_malformed_file_is_one_error_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "wrangler.toml"
    bad.write_text('name = "w"\n[vars\n')
    proc = subprocess.run([sys.executable, "-m", "emulator.cli.check", str(bad), "--format", "json"],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    (error,) = json.loads(proc.stdout)["files"][0]["errors"]
    assert error["line"] == 2 and error["column"] >= 1 and error["id"] is None


def test_through_the_cf_emulator_entry_point(capsys: pytest.CaptureFixture[str]) -> None:
    from emulator.cli import main as cli_main

    assert cli_main(["check", str(FIXTURES / "oracle" / "w01_fusou_workflow_valid"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True


def test_wrangler_only_gives_wranglers_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    case = FIXTURES / "cases" / "queues_consumer_ranges"  # wrangler accepts it; CFE101-106 do not
    assert main([str(case)]) == 1
    capsys.readouterr()
    assert main([str(case), "--wrangler-only", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["files"][0]["errors"] == []


# --- deep nesting and careless input: a verdict, never a traceback -------------------------
HEAD = 'name = "w"\nmain = "src/index.js"\ncompatibility_date = "2025-01-01"\n'
JSON_HEAD = '{"name": "w", "main": "src/index.js", "compatibility_date": "2025-01-01", "vars": {"X": '


def deep_config(folder: Path, form: str, depth: int) -> Path:
    """A config whose `vars.X` nests `depth` levels (or, for `header`, a table `depth` keys down)."""
    (folder / "src").mkdir(parents=True, exist_ok=True)
    (folder / "src" / "index.js").write_text("export default {}\n")
    text = {
        "toml_arrays": HEAD + "[vars]\nX = " + "[" * depth + "]" * depth + "\n",
        "toml_tables": HEAD + "[vars]\nX = " + "{a = " * depth + "1" + " }" * depth + "\n",
        "header": HEAD + "[vars." + ".".join(["a"] * depth) + "]\nb = 1\n",
        "json_arrays": JSON_HEAD + "[" * depth + "]" * depth + "}}\n",
        "json_objects": JSON_HEAD + '{"a":' * depth + "1" + "}" * depth + "}}\n",
    }[form]
    path = folder / ("wrangler.toml" if form in ("toml_arrays", "toml_tables", "header") else "wrangler.jsonc")
    path.write_text(text)
    return path


# (form, depth, expected exit, expected id of the one error or None, line of the error)
DEPTH_CASES = [
    ("toml_arrays", 1000, 0, None, None),   # the deepest smol-toml (wrangler) accepts
    ("toml_arrays", 1001, 1, "wrangler", 5),
    ("toml_tables", 999, 0, None, None),
    ("toml_tables", 1000, 1, "wrangler", 5),
    ("toml_arrays", 100_000, 1, "wrangler", 5),
    ("header", 4000, 1, "CFE100", 4),
    ("json_arrays", 2998, 0, None, None),   # + root + vars = 3000 levels
    ("json_arrays", 2999, 1, "CFE100", 1),
    ("json_objects", 2998, 0, None, None),
    ("json_objects", 100_000, 1, "CFE100", 1),
]


@pytest.mark.parametrize(("form", "depth", "exit_code", "error", "line"), DEPTH_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in DEPTH_CASES])
def test_deep_nesting_gets_a_verdict_in_every_format(tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str,
                                                     depth: int, exit_code: int, error: str | None,
                                                     line: int | None) -> None:
    path = deep_config(tmp_path, form, depth)
    assert main([str(path), "--format", "json"]) == exit_code
    report = json.loads(capsys.readouterr().out)
    errors = report["files"][0]["errors"]
    if error is None:
        assert errors == []
    else:
        (diag,) = errors
        assert diag["id"] == (None if error == "wrangler" else error)
        assert diag["line"] == line and diag["column"] > 1
    if error is None:
        return
    assert main([str(path), "--format", "text"]) == exit_code
    assert f"{path.name}:{line}:" in capsys.readouterr().out
    assert main([str(path), "--format", "github"]) == exit_code
    github = capsys.readouterr().out
    assert github.startswith("::error file=") and f",line={line}," in github
    # --wrangler-only never turns a file we did not judge into a pass.
    assert main([str(path), "--wrangler-only"]) == exit_code
    capsys.readouterr()


def test_a_check_that_recurses_too_deep_is_a_diagnostic(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from emulator.bindings.queues.config import TYPE

    def too_deep(*args: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(TYPE, "check_app", too_deep)  # one of the checks every app goes through
    path = deep_config(tmp_path, "toml_arrays", 3)
    assert main([str(path), "--format", "json"]) == 1
    (diag,) = json.loads(capsys.readouterr().out)["files"][0]["errors"]
    assert diag["id"] == "CFE100"


@pytest.mark.parametrize("name", ["wrangler.toml", "wrangler.json"])
def test_careless_input_gets_clean_diagnostics(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    cases: dict[str, bytes] = {
        "empty": b"",
        "binary": bytes(range(256)) * 64,
        "utf16": HEAD.encode("utf-16"),
        # 2.5 MB here to keep the suite fast; 10 MB takes a few seconds (docs/check.md).
        "huge": (HEAD + "[vars]\n" + "".join(f'V{i} = "{"x" * 90}"\n' for i in range(25_000))).encode()
        if name.endswith("toml") else
        ('{"name": "w", "vars": {' + ",".join(f'"V{i}": "{"x" * 90}"' for i in range(25_000)) + "}}").encode(),
    }
    for label, data in cases.items():
        path = tmp_path / label / name
        path.parent.mkdir()
        path.write_bytes(data)
        for fmt in ("text", "json", "github") if label != "huge" else ("json",):
            code = main([str(path), "--format", fmt])
            out = capsys.readouterr()
            assert code in (0, 1), (label, fmt)
            assert "Traceback" not in out.out + out.err
        if label in ("binary", "utf16"):
            assert code == 1
    folder = tmp_path / "folder" / name
    folder.mkdir(parents=True)  # a folder named like a config: wrangler's discovery, then exit 2
    assert main([str(folder)]) == 2
    assert "Traceback" not in capsys.readouterr().err
