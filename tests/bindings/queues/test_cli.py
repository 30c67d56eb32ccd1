"""`cf-emulator queues ...` on a state directory, and against a running emulator's API."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from emulator.bindings.queues.config import QueueConsumer
from emulator.bindings.queues.engine import QueueBroker
from emulator.bindings.queues.routes import routes
from emulator.bindings.queues.store import DB_FILENAME
from emulator.cli import main, output
from emulator.clock import FakeClock
from emulator.logs import EventLog
from emulator.state import StateDir

from tests.helpers.cli import declaring_config, table_rows
from tests.helpers.state_dirs import announced_server


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config declaring the queues `jobs`, `later` and `my/ Queue`, as the current folder."""
    declaring_config(tmp_path, queues=("jobs", "later", "my/ Queue"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_send_list_peek_purge_on_the_state_directory(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = ["--persist-to", str(project / "state")]
    code, out, _ = run(capsys, "queues", "send", "jobs", '{"upload": 1}', *state)
    assert code == 0 and out.startswith("Sent message ") and out.strip().endswith('to queue "jobs".')
    assert run(capsys, "queues", "send", "jobs", "plain words", "--content-type", "text", *state)[0] == 0
    assert run(capsys, "queues", "send", "jobs", "raw", "--content-type", "bytes", "--delay", "60", *state)[0] == 0

    code, out, _ = run(capsys, "queues", "list", "--json", *state)
    listed = {q["name"]: q for q in json.loads(out)}
    jobs = listed["jobs"]
    assert (jobs["depth"], jobs["visible"], jobs["delayed"], jobs["delivery_paused"]) == (3, 2, 1, False)
    # Declared queues that never held a message are listed too, with zeros.
    assert listed["later"]["depth"] == 0 and set(listed) == {"jobs", "later", "my/ Queue"}
    code, out, _ = run(capsys, "queues", "list", *state)
    header, *rows = table_rows(out)
    assert header[:3] == ["name", "depth", "visible"]
    assert ["jobs", "3", "2"] in [row[:3] for row in rows]

    code, out, _ = run(capsys, "queues", "peek", "jobs", "--json", "--limit", "2", *state)
    assert [m["body"] for m in json.loads(out)] == [{"upload": 1}, "plain words"]
    code, out, _ = run(capsys, "queues", "peek", "jobs", *state)
    assert code == 0 and '{"upload": 1}' in out and "delayed" in out

    code, out, _ = run(capsys, "queues", "purge", "jobs", "--force", *state)
    assert (code, out.strip()) == (0, "Purged Queue 'jobs' (3 messages).")
    code, out, _ = run(capsys, "queues", "peek", "jobs", *state)
    assert out.strip() == 'Queue "jobs" is empty.'
    code, out, _ = run(capsys, "queues", "peek", "later", *state)  # declared, never used
    assert (code, out.strip()) == (0, 'Queue "later" is empty.')


def test_messages_sent_offline_are_in_the_store(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run(capsys, "queues", "send", "later", "[1, 2]", "--content-type", "v8", "--persist-to", str(project))[0]
    assert code == 0

    async def read() -> list[Any]:
        broker = QueueBroker(StateDir(project).binding_dir("queues") / DB_FILENAME, FakeClock(), EventLog())
        await broker.open()
        try:
            return broker.peek("later")
        finally:
            await broker.close()

    [message] = asyncio.run(read())
    assert (message["body"], message["content_type"]) == ([1, 2], "v8")


@pytest.mark.parametrize(("argv", "message"), [
    (["send", "jobs", "not json"], "BODY is not valid JSON"),
    (["send", "jobs", '"x"', "--delay", "90000"],
     "Queue send failed: message delay 90000 is invalid: Too big: expected number to be <=43200"),
    (["peek", "missing"], 'No queue named "missing" in the config or the state directory. Known queues: '
                          "jobs, later, my/ Queue."),
    (["info", "missing"], 'No queue named "missing"'),
    (["send", "nosuch", "1"], 'No queue named "nosuch"'),
    (["purge", "missing", "--force"], 'No queue named "missing"'),
    (["pause-delivery", "missing"], 'No queue named "missing"'),
    (["redrive", "missing", "0" * 32], 'No queue named "missing"'),
    (["peek", "jobs", "--limit", "-1"], "--limit must not be negative"),
])
def test_errors_are_one_line(project: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                             message: str) -> None:
    code, _, err = run(capsys, "queues", *argv, "--persist-to", str(project / "state"))
    assert code == 1
    assert err.startswith("✘ [ERROR] ") and message in err and "Traceback" not in err
    assert not (project / "state" / "queues" / "queues.sqlite3").exists() or argv[0] == "send"


def test_unknown_names_create_nothing_and_reading_verbs_never_create(
        tmp_path: Path, project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    typo = tmp_path / "typo"
    for argv in (["list"], ["list", "--json"], ["peek", "jobs"], ["info", "jobs"]):
        assert run(capsys, "queues", *argv, "--persist-to", str(typo))[0] == 0
    assert not typo.exists()
    assert run(capsys, "queues", "send", "nosuch", "1", "--persist-to", str(typo))[0] == 1
    assert not (typo / "queues").exists()
    # An existing state directory: reading verbs create no store in it either.
    typo.mkdir()
    assert run(capsys, "queues", "list", "--persist-to", str(typo))[0] == 0
    assert list(typo.iterdir()) == []


def test_a_queue_the_state_knows_works_without_the_config(
        project: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    state = ["--persist-to", str(project / "state")]
    assert run(capsys, "queues", "send", "jobs", "1", *state)[0] == 0
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))  # no config here: only the state knows `jobs`
    code, out, _ = run(capsys, "queues", "send", "jobs", "2", "--json", *state)
    assert code == 0 and json.loads(out)["queue"] == "jobs" and len(json.loads(out)["ids"]) == 1
    code, _, err = run(capsys, "queues", "send", "later", "2", *state)
    assert code == 1 and 'Known queues: jobs.' in err


def test_purge_asks_for_the_queue_name(project: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    state = ["--persist-to", str(project / "state")]
    assert run(capsys, "queues", "send", "jobs", "1", *state)[0] == 0
    # Not at a terminal: --force is required, as wrangler's non-interactive mode.
    code, _, err = run(capsys, "queues", "purge", "jobs", *state)
    assert code == 1 and "The --force flag is required to purge a Queue in non-interactive mode" in err
    answers = iter(["job", "jobs"])
    monkeypatch.setattr(output, "interactive", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    code, _, err = run(capsys, "queues", "purge", "jobs", *state)
    assert code == 1 and "Incorrect queue name provided. Skipping purge operation" in err
    assert json.loads(run(capsys, "queues", "info", "jobs", "--json", *state)[1])["depth"] == 1
    code, out, _ = run(capsys, "queues", "purge", "jobs", "--json", *state)
    assert code == 0 and json.loads(out) == {"queue": "jobs", "purged": 1}


def test_pause_and_resume_on_the_state_directory(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = ["--persist-to", str(project / "state")]
    code, out, _ = run(capsys, "queues", "pause-delivery", "jobs", *state)
    assert (code, out.splitlines()) == (0, ["Pausing message delivery for queue jobs.",
                                            "Paused message delivery for queue jobs."])
    code, out, _ = run(capsys, "queues", "info", "jobs", "--json", *state)
    assert json.loads(out)["delivery_paused"] is True
    code, out, _ = run(capsys, "queues", "info", "jobs", *state)
    assert "Delivery:" in out and "paused" in out
    code, out, _ = run(capsys, "queues", "resume-delivery", "jobs", "--json", *state)
    assert json.loads(out) == {"queue": "jobs", "delivery_paused": False}


def test_without_a_verb_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "queues")
    assert code == 2 and "list" in out and "redrive" in out and "pause-delivery" in out


@pytest.fixture
async def served(project: Path) -> AsyncIterator[tuple[QueueBroker, list[str]]]:
    """A broker behind the real routes on a free loopback port, announced in server.json."""
    broker = QueueBroker(project / "served.sqlite3", FakeClock(), EventLog())
    await broker.open()
    app = web.Application()
    app.add_routes(routes(broker))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # aiohttp internals: the site has started
    state = StateDir(project / "state")
    try:
        with announced_server(state, f"http://127.0.0.1:{port}"):
            yield broker, ["--persist-to", str(state.root)]
    finally:
        await runner.cleanup()
        await broker.close()


async def cli(*argv: str) -> tuple[int, str]:
    # The CLI is synchronous (urllib): run it off the loop that serves the API.
    import contextlib
    import io

    buffer, errors = io.StringIO(), io.StringIO()

    def call() -> int:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(errors):
            return main(list(argv))

    code = await asyncio.to_thread(call)
    return code, buffer.getvalue() + errors.getvalue()


async def test_verbs_go_through_the_running_emulator(served: tuple[QueueBroker, list[str]], project: Path) -> None:
    broker, state = served
    code, out = await cli("queues", "send", "my/ Queue", '{"n": 1}', *state)
    assert code == 0, out
    code, out = await cli("queues", "send", "my/ Queue", "AAE", "--content-type", "bytes", *state)
    assert code == 0, out
    # The running broker has them, and no local store was created next to server.json.
    assert [m["body"] for m in broker.peek("my/ Queue")] == [{"n": 1}, {"base64": "QUFF"}]
    assert not (project / "state" / "queues" / DB_FILENAME).exists()

    code, out = await cli("queues", "list", "--json", *state)
    assert [q["name"] for q in json.loads(out)] == ["jobs", "later", "my/ Queue"]
    code, out = await cli("queues", "peek", "my/ Queue", "--json", "--limit", "1", *state)
    assert [m["body"] for m in json.loads(out)] == [{"n": 1}]
    code, out = await cli("queues", "purge", "my/ Queue", "--force", *state)
    assert out.strip() == "Purged Queue 'my/ Queue' (2 messages)."
    code, out = await cli("queues", "peek", "nope", *state)
    assert code == 1 and 'No queue named "nope"' in out
    code, out = await cli("queues", "send", "nope", "1", *state)
    assert code == 1 and not broker.has_queue("nope")  # a typo never creates a queue


async def test_pause_and_resume_through_the_running_emulator(served: tuple[QueueBroker, list[str]]) -> None:
    broker, state = served
    seen: list[Any] = []

    async def consume(batch: Any) -> None:
        seen.extend(m.body for m in batch.messages)

    broker.register_consumer(QueueConsumer("jobs", max_batch_timeout=0), consume, "worker")
    code, out = await cli("queues", "pause-delivery", "jobs", *state)
    assert code == 0, out
    for n in range(3):
        await broker.producer("jobs").send(n)
    await broker.drain()
    assert seen == [] and broker.stats("jobs")["visible"] == 3
    code, out = await cli("queues", "resume-delivery", "jobs", *state)
    assert code == 0 and "Resumed message delivery for queue jobs." in out
    await broker.drain()
    assert seen == [0, 1, 2]


async def test_redrive_through_the_running_emulator(served: tuple[QueueBroker, list[str]]) -> None:
    broker, state = served
    broker.register_consumer(QueueConsumer("work", max_batch_timeout=0, max_retries=0, dead_letter_queue="dead"),
                             _retry_all, "worker")
    await broker.producer("work").send("poison")
    await broker.drain()
    [parked] = broker.peek("dead")
    broker.unregister_consumer("work")
    code, out = await cli("queues", "redrive", "dead", parked["id"], *state)
    assert (code, out.strip()) == (0, f'Moved message {parked["id"]} from "dead" to "work".')
    assert [m["id"] for m in broker.peek("work")] == [parked["id"]]


async def _retry_all(batch: Any) -> None:
    batch.retryAll()
