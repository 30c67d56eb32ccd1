"""Fixtures: a started Platform with one app binding a D1 database."""

from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator

import pytest

from emulator.config.model import AppConfig
from emulator.platform import Platform
from tests.helpers.apps import D1DatabaseBinding, app_config


def d1_binding(root: Path, binding: str = "DB", name: str | None = "main-db",
               migrations: str = "migrations", table: str = "d1_migrations") -> D1DatabaseBinding:
    return D1DatabaseBinding(binding=binding, database_name=name, database_id=None,
                             migrations_dir=root / migrations, migrations_table=table)


def make_app(root: Path, name: str = "app", *dbs: D1DatabaseBinding) -> AppConfig:
    return app_config(config_path=root / name / "wrangler.toml", kind="worker", name=name,
                     d1_databases=dbs or (d1_binding(root),))


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    p = Platform([make_app(tmp_path)], tmp_path / "state", s3_port=None)
    await p.start()
    yield p
    await p.stop()


@pytest.fixture
def db(platform: Platform):  # type: ignore[no-untyped-def]
    return platform.env_for(platform.apps[0]).DB
