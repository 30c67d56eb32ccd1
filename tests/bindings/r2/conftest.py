"""Fixtures: a started Platform with one app binding two R2 buckets."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from collections.abc import AsyncIterator

import pytest

from emulator.clock import FakeClock
from emulator.platform import Platform
from tests.helpers.apps import r2_app


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_700_000_000.0)


@pytest.fixture
async def platform(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Platform]:
    p = Platform([r2_app(tmp_path)], tmp_path / "state", clock=clock, s3_port=None)
    await p.start()
    yield p
    await p.stop()


@pytest.fixture
def bucket(platform: Platform) -> Any:
    return platform.env_for(platform.apps[0]).BUCKET
