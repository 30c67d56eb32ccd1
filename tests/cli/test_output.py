"""The CLI's terminal output (docs/cli.md, "Output"): JSON when piped where wrangler does so,
tables at the terminal's width, NULL as null, colour only on a terminal and never with
NO_COLOR, prompts only at a terminal. One test runs the real process in a pseudo-terminal."""

from __future__ import annotations

import io
import re
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emulator.cli import output
from tests.helpers.cli import force_terminal, table_rows, write_config


@pytest.mark.parametrize(("value", "shown"), [
    (None, "null"), (True, "true"), (False, "false"), (3, "3"), (2.5, "2.5"), ("text", "text"),
    (b"\x01\xff", "[1, 255]"), ({"a": [1, None]}, '{"a": [1, null]}'),
])
def test_cells_show_values_as_wrangler_does(value: object, shown: str) -> None:
    assert output.cell(value) == shown


def test_json_is_chosen_by_flag_or_for_some_verbs_when_piped(monkeypatch: pytest.MonkeyPatch) -> None:
    class Args:
        json = False

    monkeypatch.setattr(output, "_isatty", lambda stream: False)
    assert not output.wants_json(Args()) and output.wants_json(Args(), when_piped=True)
    monkeypatch.setattr(output, "_isatty", lambda stream: True)
    assert not output.wants_json(Args(), when_piped=True)
    Args.json = True
    assert output.wants_json(Args())


def test_colour_needs_a_terminal_and_no_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TERM", raising=False)
    assert not output.colour_allowed(stream)  # not a terminal
    monkeypatch.setattr(output, "_isatty", lambda s: True)
    assert output.colour_allowed(stream)
    monkeypatch.setenv("NO_COLOR", "1")
    assert not output.colour_allowed(stream)
    monkeypatch.setenv("NO_COLOR", "")  # the spec: only a non-empty value counts
    assert output.colour_allowed(stream)
    monkeypatch.setenv("TERM", "dumb")
    assert not output.colour_allowed(stream)


def test_messages_go_to_stderr_with_wranglers_prefixes(capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    output.error("it broke")
    output.warn("careful")
    output.say("result")
    captured = capsys.readouterr()
    assert captured.err == "✘ [ERROR] it broke\n▲ [WARNING] careful\n" and captured.out == "result\n"
    force_terminal(monkeypatch, colour=True)
    output.error("red")
    assert capsys.readouterr().err == "\x1b[31m✘ [ERROR]\x1b[0m red\n"


def test_piped_tables_are_never_wrapped(capsys: pytest.CaptureFixture[str]) -> None:
    output.table([{"a": "x" * 300, "b": None}])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and table_rows("\n".join(lines)) == [["a", "b"], ["x" * 300, "null"]]


def test_progress_is_silent_without_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    with output.Progress("working", 10, "items") as bar:
        assert not bar.enabled
        bar.advance(5)
        bar.update(10)
    assert capsys.readouterr() == ("", "")


def test_prompts_need_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output, "_isatty", lambda stream: False)
    with pytest.raises(output.NotInteractive):
        output.ask("really?")
    monkeypatch.setattr(output, "_isatty", lambda stream: True)
    monkeypatch.setattr("builtins.input", lambda prompt: " yes ")
    assert output.confirm("really?")


def run_in_pty(argv: list[str], cwd: Path, env: dict[str, str]) -> str:
    """Run ``argv`` with a pseudo-terminal as stdin, stdout and stderr; everything it wrote."""
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    finally:
        os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
        proc.wait(timeout=60)
    assert proc.returncode == 0, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks).decode().replace("\r\n", "\n")


@pytest.mark.parametrize("no_color", [False, True])
def test_a_real_terminal_gets_a_table_and_colour_unless_no_color(tmp_path: Path, no_color: bool) -> None:
    write_config(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM", "COLUMNS")}
    env.update({"TERM": "xterm-256color", "COLUMNS": "100"}, **({"NO_COLOR": "1"} if no_color else {}))
    text = run_in_pty([sys.executable, "-m", "emulator", "d1", "execute", "DB", "--command",
                       "SELECT NULL AS n, 'x' AS s"], tmp_path, env)
    plain = text if no_color else re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    assert table_rows(plain)[-2:] == [["n", "s"], ["null", "x"]]  # a table, not JSON
    assert ("\x1b[" in text) is not no_color


def test_a_verbs_result_is_json_when_asked_else_its_lines(capsys: pytest.CaptureFixture[str]) -> None:
    class Args:
        json = False

    output.announce(Args(), "Deleting x...")
    output.outcome(Args(), {"deleted": True}, "Deleted x.")
    output.outcome(Args(), {"deleted": True})  # a verb whose text result was printed already
    assert capsys.readouterr().out == "Deleting x...\nDeleted x.\n"
    Args.json = True
    output.announce(Args(), "Deleting x...")
    output.outcome(Args(), {"deleted": True}, "Deleted x.")
    assert capsys.readouterr().out == '{\n  "deleted": true\n}\n'
