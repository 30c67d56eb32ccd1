"""Fixtures: a started Platform with one app binding a D1 database."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from collections.abc import AsyncIterator

import pytest

from emulator.platform import Platform
from tests.helpers.apps import d1_app


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    p = Platform([d1_app(tmp_path)], tmp_path / "state", s3_port=None)
    await p.start()
    yield p
    await p.stop()


@pytest.fixture
def db(platform: Platform) -> Any:
    return platform.env_for(platform.apps[0]).DB
