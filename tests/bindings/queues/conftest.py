"""Fixtures for queue tests: a broker on a fake clock in a temporary state directory."""

from __future__ import annotations

from pathlib import Path
from collections.abc import AsyncIterator

import pytest

from emulator.bindings.queues.engine import QueueBroker
from emulator.clock import FakeClock
from emulator.logs import EventLog
from tests.helpers.queues import START, Harness


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "queues" / "queues.sqlite3"


@pytest.fixture
async def harness(db_path: Path) -> AsyncIterator[Harness]:
    clock = FakeClock(START)
    log = EventLog()
    broker = QueueBroker(db_path, clock, log)
    await broker.open()
    try:
        yield Harness(broker, clock, log)
    finally:
        await broker.close()
    # The counts of messages on disk only never drift from what the disk holds.
    assert not [m for m in log.messages(level="error", source="queues") if "counted on disk" in m]
