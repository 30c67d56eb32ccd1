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
    assert data["files"][0]["errors"][0]["message"].startswith('No environment found in configuration with name "staging".')
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
