"""`cf-emulator queues ...` on a state directory, and against a running emulator's API."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
from aiohttp import web

from emulator.bindings.queues.config import QueueConsumer
from emulator.bindings.queues.engine import QueueBroker
from emulator.bindings.queues.routes import routes
from emulator.bindings.queues.store import DB_FILENAME
from emulator.cli import main
from emulator.clock import FakeClock
from emulator.logs import EventLog
from emulator.state import StateDir

from tests.helpers.state_dirs import announced_server


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_send_list_peek_purge_on_the_state_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = ["--persist-to", str(tmp_path)]
    code, out, _ = run(capsys, "queues", "send", "jobs", '{"upload": 1}', *state)
    assert code == 0 and out.startswith("Sent message ") and out.strip().endswith('to queue "jobs".')
    assert run(capsys, "queues", "send", "jobs", "plain words", "--content-type", "text", *state)[0] == 0
    assert run(capsys, "queues", "send", "jobs", "raw", "--content-type", "bytes", "--delay", "60", *state)[0] == 0

    code, out, _ = run(capsys, "queues", "list", "--json", *state)
    [jobs] = json.loads(out)
    assert (jobs["name"], jobs["depth"], jobs["visible"], jobs["delayed"]) == ("jobs", 3, 2, 1)
    code, out, _ = run(capsys, "queues", "list", *state)
    assert out.splitlines()[0].split()[:3] == ["name", "depth", "visible"]
    assert out.splitlines()[1].split()[:2] == ["jobs", "3"]

    code, out, _ = run(capsys, "queues", "peek", "jobs", "--json", "--limit", "2", *state)
    assert [m["body"] for m in json.loads(out)] == [{"upload": 1}, "plain words"]
    code, out, _ = run(capsys, "queues", "peek", "jobs", *state)
    assert code == 0 and '{"upload": 1}' in out and "delayed" in out

    code, out, _ = run(capsys, "queues", "purge", "jobs", *state)
    assert (code, out.strip()) == (0, 'Purged 3 messages from queue "jobs".')
    code, out, _ = run(capsys, "queues", "peek", "jobs", *state)
    assert out.strip() == 'Queue "jobs" is empty.'


def test_messages_sent_offline_are_in_the_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "queues", "send", "later", "[1, 2]", "--content-type", "v8", "--persist-to", str(tmp_path))[0] == 0

    async def read() -> list[Any]:
        broker = QueueBroker(StateDir(tmp_path).binding_dir("queues") / DB_FILENAME, FakeClock(), EventLog())
        await broker.open()
        try:
            return broker.peek("later")
        finally:
            await broker.close()

    [message] = asyncio.run(read())
    assert (message["body"], message["content_type"]) == ([1, 2], "v8")


@pytest.mark.parametrize(("argv", "message"), [
    (["send", "q", "not json"], "BODY is not valid JSON"),
    (["send", "q", '"x"', "--delay", "90000"],
     "Queue send failed: message delay 90000 is invalid: Too big: expected number to be <=43200"),
    (["peek", "missing"], 'Queue "missing" does not exist'),
    (["purge", "missing"], 'Queue "missing" does not exist'),
    (["redrive", "missing", "0" * 32], 'Queue "missing" does not exist'),
])
def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                             message: str) -> None:
    code, out, err = run(capsys, "queues", *argv, "--persist-to", str(tmp_path))
    assert code == 1
    assert err.startswith("✘ [ERROR] ") and message in err and "Traceback" not in err


def test_without_a_verb_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "queues")
    assert code == 2 and "list" in out and "redrive" in out


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[QueueBroker, list[str]]]:
    """A broker behind the real routes on a free loopback port, announced in server.json."""
    broker = QueueBroker(tmp_path / "served.sqlite3", FakeClock(), EventLog())
    await broker.open()
    app = web.Application()
    app.add_routes(routes(broker))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state = StateDir(tmp_path / "state")
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


async def test_verbs_go_through_the_running_emulator(served: tuple[QueueBroker, list[str]], tmp_path: Path) -> None:
    broker, state = served
    code, out = await cli("queues", "send", "my/ Queue", '{"n": 1}', *state)
    assert code == 0, out
    code, out = await cli("queues", "send", "my/ Queue", "AAE", "--content-type", "bytes", *state)
    assert code == 0, out
    # The running broker has them, and no local store was created next to server.json.
    assert [m["body"] for m in broker.peek("my/ Queue")] == [{"n": 1}, {"base64": "QUFF"}]
    assert not (tmp_path / "state" / "queues" / DB_FILENAME).exists()

    code, out = await cli("queues", "list", "--json", *state)
    assert [q["name"] for q in json.loads(out)] == ["my/ Queue"]
    code, out = await cli("queues", "peek", "my/ Queue", "--json", "--limit", "1", *state)
    assert [m["body"] for m in json.loads(out)] == [{"n": 1}]
    code, out = await cli("queues", "purge", "my/ Queue", *state)
    assert out.strip() == 'Purged 2 messages from queue "my/ Queue".'
    code, out = await cli("queues", "peek", "nope", *state)
    assert code == 1 and 'Queue "nope" does not exist' in out


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
