"""Fixtures shared across the test tree."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

# Fixtures defined beside the helpers they use (`spawn`, `fusou`), registered here so that test
# modules take them as arguments without importing their names.
pytest_plugins = ["tests.helpers.processes", "tests.e2e.apps_harness"]

# A Pages producer (`dev-shop`) and a Worker consumer (`dev-backend`) in one workspace,
# written only against the `workers` module; used by the dev, server and CLI tests.
DEV_APPS = Path(__file__).parent / "e2e" / "apps" / "dev"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A fresh copy of the dev workspace, free to edit."""
    root = tmp_path / "ws"
    shutil.copytree(DEV_APPS, root)
    return root
