"""A KV namespace over a fresh engine and a fake clock, for the binding and engine tests."""

from __future__ import annotations

from pathlib import Path
from collections.abc import Iterator

import pytest

from emulator.bindings.kv.binding import KVNamespace
from emulator.bindings.kv.engine import KVEngine
from emulator.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_700_000_000.0)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[KVEngine]:
    engine = KVEngine(tmp_path / "ns.sqlite3", "ns")
    yield engine
    engine.close()


@pytest.fixture
def kv(engine: KVEngine, clock: FakeClock) -> KVNamespace:
    return KVNamespace(engine, "ns", clock)
