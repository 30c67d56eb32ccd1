"""Fixtures shared across the test tree."""

from __future__ import annotations

import shutil
from pathlib import Path
from collections.abc import Callable, Iterator

import pytest

from tests.helpers.processes import DevProcess

# A Pages producer (`dev-shop`) and a Worker consumer (`dev-backend`) in one workspace,
# written only against the `workers` module; used by the dev, server and CLI tests.
DEV_APPS = Path(__file__).parent / "e2e" / "apps" / "dev"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A fresh copy of the dev workspace, free to edit."""
    root = tmp_path / "ws"
    shutil.copytree(DEV_APPS, root)
    return root


@pytest.fixture
def spawn() -> Iterator[Callable[[list[str], Path], DevProcess]]:
    """Start `dev` children; whatever is still running at the end of the test is killed."""
    started: list[DevProcess] = []

    def start(args: list[str], cwd: Path) -> DevProcess:
        proc = DevProcess(args, cwd)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()
