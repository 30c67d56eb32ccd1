"""The `cf-emulator` process as a shell sees it: exit codes, a closed stdout (`| head`)
and Ctrl-C, never a traceback (docs/cli.md, "Exit codes")."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.cli import declaring_config
from tests.helpers.processes import LockHolder

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "configs"


def run_with_closed_stdout(*argv: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """Run a verb whose stdout is a pipe nobody reads any more (`cf-emulator ... | head -0`)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([sys.executable, "-m", "emulator", *argv], cwd=cwd, stdout=write_end,
                              stderr=subprocess.PIPE, timeout=60)
    finally:
        os.close(write_end)


@pytest.mark.parametrize(("argv", "code"), [
    (["queues", "list", "--persist-to", "state"], 141),
    (["workflows", "list", "--persist-to", "state"], 141),
    (["check", str(FIXTURES / "oracle" / "p01_fusou_web_valid")], 141),
    # argparse itself ignores a failed write of the help text, and so exits 0.
    (["--help"], 0),
    (["dev", "--help"], 0),
])
def test_a_closed_stdout_exits_quietly(argv: list[str], code: int, tmp_path: Path) -> None:
    (tmp_path / "state" / "workflows").mkdir(parents=True)
    if argv[0] == "workflows":  # an empty store, so the verb has something to print
        from emulator.bindings.workflows import store

        store.connect(tmp_path / "state" / "workflows" / store.DB_FILENAME).close()
    result = run_with_closed_stdout(*argv, cwd=tmp_path)
    assert result.returncode == code, result.stderr
    assert result.stderr == b""  # not even "Exception ignored ... BrokenPipeError" at exit


def test_a_real_pipeline_into_head(tmp_path: Path) -> None:
    # More output than a pipe buffers, so the writer meets the closed pipe for sure.
    (tmp_path / "big.bin").write_bytes(b"x" * 2_000_000)
    declaring_config(tmp_path, buckets=("bkt",))
    state = ["--persist-to", str(tmp_path / "state")]
    put = subprocess.run([sys.executable, "-m", "emulator", "r2", "object", "put", "bkt/big", "--file", "big.bin",
                          *state], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert put.returncode == 0, put.stderr
    result = subprocess.run(f"{sys.executable} -m emulator r2 object get bkt/big --pipe {' '.join(state)} | head -c 10;"  # noqa: S602 - a constant pipeline into head: the test is about the broken pipe
                            " echo \" ${PIPESTATUS[0]}\"", shell=True, capture_output=True, text=True, timeout=60,
                            cwd=tmp_path, executable="/bin/bash")
    assert result.stdout == "xxxxxxxxxx 141\n"
    assert result.stderr == "", result.stderr


def test_ctrl_c_while_a_verb_waits_for_the_state_directory(tmp_path: Path) -> None:
    holder = LockHolder(tmp_path, "cli", "cf-emulator r2 object put")
    try:
        proc = subprocess.Popen([sys.executable, "-m", "emulator", "queues", "list", "--persist-to", str(tmp_path)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith(f"Waiting for `cf-emulator r2 object put` to finish (pid {holder.pid}")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        holder.release()
    assert proc.returncode == 130
    assert "Traceback" not in err and out == ""


def test_ctrl_c_during_check(tmp_path: Path) -> None:
    # A config big enough that judging it takes seconds (check refuses FIFOs and devices,
    # so the config cannot simply block): Ctrl-C arrives while it is being judged.
    config = tmp_path / "wrangler.toml"
    lines = ['name = "big"', 'main = "src/index.js"', 'compatibility_date = "2025-01-01"', "", "[vars]"]
    lines += [f'VAR_{i} = "{"x" * 40}"' for i in range(300_000)]
    config.write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen([sys.executable, "-m", "emulator", "check", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Past start-up (which costs well under 0.3 s of CPU), the process is judging the file.
    deadline = time.monotonic() + 30
    while _cpu_seconds(proc.pid) < 0.5:
        assert time.monotonic() < deadline and proc.poll() is None, "check ended before it could be interrupted"
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "Traceback" not in err and "KeyboardInterrupt" not in err


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (from /proc), 0 when it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_usage_errors_exit_2() -> None:
    result = subprocess.run([sys.executable, "-m", "emulator", "queues", "send"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2 and "usage:" in result.stderr
    result = subprocess.run([sys.executable, "-m", "emulator"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "Exit codes:" in result.stdout


def test_ctrl_c_while_a_verb_works_on_the_files_releases_the_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from emulator.bindings.queues.engine import QueueBroker
    from emulator.cli import main
    from emulator.state import StateDir

    seen: list[Any] = []

    async def interrupted(self: QueueBroker, *args: object, **kwargs: object) -> None:
        seen.append(StateDir(tmp_path).lock_holder())
        raise KeyboardInterrupt

    monkeypatch.setattr(QueueBroker, "enqueue", interrupted)
    config = declaring_config(tmp_path / "app", queues=("jobs",))
    assert main(["queues", "send", "jobs", '{"n": 1}', "--persist-to", str(tmp_path), "-c", str(config)]) == 130
    holder = seen[0]
    assert holder is not None and holder.pid == os.getpid() and holder.role == "cli"
    assert StateDir(tmp_path).lock_holder() is None  # given back for the next process


def _leaf_commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    import argparse

    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _leaf_commands(sub, (*prefix, name)) or [(*prefix, name)]
    return found


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    from emulator.cli import build_parser

    commands = _leaf_commands(build_parser())
    assert ("queues", "pause-delivery") in commands and ("workflows", "instances", "send-event") in commands
    for command in commands:
        with pytest.raises(SystemExit) as exited:
            build_parser().parse_args([*command, "--help"])
        out = capsys.readouterr().out
        assert exited.value.code == 0 and out.startswith("usage: cf-emulator " + " ".join(command)), command


# --- the one error path: a verb raises CliError, `run_verb` reports it ----------------------
def _verb_failing_with(error: Exception, **flags: object) -> argparse.Namespace:
    def func(args: argparse.Namespace) -> int:
        raise error

    return argparse.Namespace(func=func, **flags)


def test_a_cli_error_is_one_line_on_stderr_with_its_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    from emulator.cli import run_verb
    from emulator.errors import CliError

    assert run_verb(_verb_failing_with(CliError("No queue named \"x\"."))) == 1
    assert run_verb(_verb_failing_with(CliError("no config found", 2))) == 2
    captured = capsys.readouterr()
    assert captured.err == '✘ [ERROR] No queue named "x".\n✘ [ERROR] no config found\n' and captured.out == ""


def test_rendered_diagnostics_are_printed_as_they_are(capsys: pytest.CaptureFixture[str]) -> None:
    from emulator.cli import run_verb
    from emulator.errors import CliError

    text = "✘ [ERROR] wrangler.toml:3:1: bad key\n\n"
    assert run_verb(_verb_failing_with(CliError(text, rendered=True))) == 1
    assert capsys.readouterr().err == "✘ [ERROR] wrangler.toml:3:1: bad key\n"


def test_a_verbs_json_errors_when_its_flags_ask_for_json(capsys: pytest.CaptureFixture[str]) -> None:
    from emulator.cli import JsonErrors, run_verb
    from emulator.errors import CliError

    shape = JsonErrors(lambda args: bool(args.json), lambda text: {"error": {"text": text}})
    assert run_verb(_verb_failing_with(CliError("D1_ERROR: no such table: t", 1), json=True, json_errors=shape)) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"error": {"text": "D1_ERROR: no such table: t"}} and captured.err == ""
    assert run_verb(_verb_failing_with(CliError("nope"), json=False, json_errors=shape)) == 1
    assert capsys.readouterr().err == "✘ [ERROR] nope\n"
    lines = JsonErrors(lambda args: True, lambda text: {"message": text}, stream="stderr", indent=None)
    assert run_verb(_verb_failing_with(CliError("é"), json_errors=lines)) == 1
    assert capsys.readouterr().err == '{"message": "é"}\n'


def test_a_prompt_nobody_can_answer_is_an_error_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    from emulator.cli import output, run_verb

    def func(args: argparse.Namespace) -> int:
        return int(output.confirm("Delete everything?"))

    assert run_verb(argparse.Namespace(func=func)) == 1  # stdin is not a terminal under pytest
    assert capsys.readouterr().err == ("✘ [ERROR] This needs an answer, but stdin or stdout is not a terminal: "
                                       "Delete everything? (y/N)\n")


def test_other_exceptions_are_not_swallowed() -> None:
    from emulator.cli import run_verb

    with pytest.raises(ZeroDivisionError):
        run_verb(_verb_failing_with(ZeroDivisionError("a bug shows its traceback")))
