"""kill -9 the emulator mid-stream and restart: nothing sent is lost, nothing acked returns."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers.processes import kill_once_written

WORKER = Path(__file__).with_name("crash_worker.py")


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _pairs(path: Path) -> dict[str, int]:
    """id -> n, ignoring a last line cut short by the kill."""
    out: dict[str, int] = {}
    for line in _lines(path):
        parts = line.split()
        if len(parts) == 2 and len(parts[0]) == 32 and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
    return out


def _run_and_kill(state: Path, out: Path, phase: str, min_sent: int) -> None:
    kill_once_written([sys.executable, str(WORKER), str(state), str(out), phase, "produce"],
                      out / f"sent-{phase}.log", min_sent)


def test_sigkill_loses_no_sent_message_and_redelivers_no_acked_one(tmp_path: Path) -> None:
    state, out = tmp_path / "state", tmp_path / "out"
    out.mkdir()
    _run_and_kill(state, out, "1", 1500)
    _run_and_kill(state, out, "2", 1500)  # restarts on the state the first kill left behind
    drain = subprocess.run([sys.executable, str(WORKER), str(state), str(out), "3", "drain"],
                           capture_output=True, text=True, timeout=120)
    assert drain.returncode == 0, drain.stderr
    final = json.loads(drain.stdout.strip().splitlines()[-1])
    assert final["depth"] == 0

    sent = {int(n) for phase in "12" for n in _lines(out / f"sent-{phase}.log")[:-1]}  # last may be partial
    assert len(sent) >= 3000
    intents = {phase: _pairs(out / f"intent-{phase}.log") for phase in "123"}
    acked_somewhere = {n for pairs in intents.values() for n in pairs.values()}
    # Every send that returned was delivered and acked eventually (in a later phase if its ack
    # was lost in the kill): at-least-once across two SIGKILLs.
    assert sent <= acked_somewhere, sorted(sent - acked_somewhere)[:10]

    delivered = {phase: _pairs(out / f"delivered-{phase}.log") for phase in "123"}
    for phase in "12":
        committed = set(_lines(out / f"committed-{phase}.log")[:-1])
        assert committed, "the consumer acked nothing before the kill"
        later = {i for p in "123" if p > phase for i in delivered[p]}
        # An ack that reached the disk is final: that message never comes back.
        assert not committed & later, sorted(committed & later)[:10]
    # Messages in flight at the kill (the `stuck` queue's handler never returns) come back.
    stuck_1 = {i for i, n in delivered["1"].items() if n % 1_000_000 >= 900_000}
    assert len(stuck_1) == 5
    assert stuck_1 <= set(delivered["2"]) and stuck_1 <= set(delivered["3"])
    assert {n for n in intents["3"].values() if n % 1_000_000 >= 900_000} == {
        p * 1_000_000 + 900_000 + i for p in (1, 2) for i in range(5)}


BACKLOG_WORKER = Path(__file__).with_name("backlog_worker.py")


def _kill_when(state: Path, out: Path, mode: str, log: str, lines: int) -> None:
    kill_once_written([sys.executable, str(BACKLOG_WORKER), str(state), str(out), mode], out / log, lines)


def test_sigkill_in_a_backlog_beyond_the_window_loses_and_repeats_nothing(tmp_path: Path) -> None:
    state, out = tmp_path / "state", tmp_path / "out"
    out.mkdir()
    _kill_when(state, out, "fill", "sent.log", 2000)       # killed while sending, all of it on disk
    _kill_when(state, out, "consume", "committed-consume.log", 600)  # killed in the middle of the backlog
    drain = subprocess.run([sys.executable, str(BACKLOG_WORKER), str(state), str(out), "drain"],
                           capture_output=True, text=True, timeout=120)
    assert drain.returncode == 0, drain.stderr
    assert json.loads(drain.stdout.strip().splitlines()[-1])["depth"] == 0

    sent = {int(n) for n in _lines(out / "sent.log")[:-1]}  # the last line may be cut short
    consumed, drained = _pairs(out / "delivered-consume.log"), _pairs(out / "delivered-drain.log")
    assert len(sent) >= 1950
    assert sent <= set(consumed.values()) | set(drained.values())  # nothing sent is lost
    committed = set(_lines(out / "committed-consume.log")[:-1])
    assert len(committed) >= 550
    assert not committed & set(drained)  # an ack on disk is final
    # Both runs deliver in send order: the consumer's from the start, the drain's from where
    # the acks on disk stopped (a batch in flight at the kill comes again, first).
    for log in ("delivered-consume.log", "delivered-drain.log"):
        numbers = [int(line.split()[1]) for line in _lines(out / log) if len(line.split()) == 2]
        assert numbers == sorted(numbers) and len(numbers) == len(set(numbers)), log
