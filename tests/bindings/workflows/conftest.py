"""Fixtures for workflow tests: an engine on a FakeClock over a temporary state file."""

from __future__ import annotations

from pathlib import Path
from collections.abc import AsyncIterator

import pytest

from tests.helpers.workflows import Harness


@pytest.fixture
async def wf(tmp_path: Path) -> AsyncIterator[Harness]:
    harness = Harness(tmp_path / "workflows.sqlite3")
    yield harness
    await harness.engine.stop()
