"""Migrations as wrangler applies them (docs/d1.md, "Migrations")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from emulator.bindings.d1.config import d1_config
from emulator.bindings.d1.migrations import (
    MigrationError,
    apply_migrations,
    list_migrations,
    read_migrations,
)
from emulator.platform import Platform
from tests.helpers.apps import d1_app, d1_binding


def write(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, sql in files.items():
        (folder / name).write_text(sql)


def test_order_numbered_first_by_leading_integer(tmp_path: Path) -> None:
    write(tmp_path / "m", {"10_ten.sql": "", "2_two.sql": "", "0001_one.sql": "", "init.sql": "",
                           "abc_x.sql": "", "0002_b.sql": "", "0002_a.sql": "", "notes.txt": ""})
    names = [m.name for m in read_migrations(tmp_path / "m")]
    assert names == ["0001_one.sql", "0002_a.sql", "0002_b.sql", "2_two.sql", "10_ten.sql",
                     "abc_x.sql", "init.sql"]
    with pytest.raises(MigrationError, match=r"^No migrations present at "):
        read_migrations(tmp_path / "missing")


async def test_apply_then_nothing_to_apply(tmp_path: Path, platform: Platform, db: Any) -> None:
    binding = d1_config(platform.apps[0]).databases[0]
    write(binding.migrations_dir, {
        "0001_users.sql": "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);",
        "0002_seed.sql": "INSERT INTO users (name) VALUES ('ada');\nINSERT INTO users (name) VALUES ('bob');",
    })
    lines: list[str] = []
    assert await list_migrations(platform, binding) == ["0001_users.sql", "0002_seed.sql"]
    applied = await apply_migrations(platform, binding, progress=lines.append)
    assert applied == ["0001_users.sql", "0002_seed.sql"]
    assert lines[0] == "Migrations to be applied:" and "0002_seed.sql" in lines[1]
    assert lines[2:] == ["✅ 0001_users.sql", "✅ 0002_seed.sql"]
    rows = await db.prepare("SELECT id, name FROM d1_migrations ORDER BY id").raw()
    assert rows == [[1, "0001_users.sql"], [2, "0002_seed.sql"]]
    applied_at = await db.prepare("SELECT applied_at FROM d1_migrations").first("applied_at")
    assert applied_at  # CURRENT_TIMESTAMP default, as wrangler's table
    assert await db.prepare("SELECT count(*) AS n FROM users").first("n") == 2
    lines.clear()
    assert await apply_migrations(platform, binding, progress=lines.append) == []
    assert lines == ["✅ No migrations to apply!"]
    assert await list_migrations(platform, binding) == []


async def test_a_failing_migration_is_atomic_and_earlier_ones_stay(tmp_path: Path) -> None:
    binding = d1_binding(tmp_path, table="custom_migrations")
    app = d1_app(tmp_path, "app", binding)
    write(binding.migrations_dir, {
        "0001_ok.sql": "CREATE TABLE t (a);",
        "0002_bad.sql": "INSERT INTO t VALUES (1);\nINSERT INTO missing VALUES (2);",
        "0003_later.sql": "CREATE TABLE later (b);",
    })
    p = Platform([app], tmp_path / "state", s3_port=None)
    await p.start()
    try:
        lines: list[str] = []
        with pytest.raises(MigrationError, match="no such table: missing"):
            await apply_migrations(p, binding, progress=lines.append)
        assert "Migration 0002_bad.sql failed with the following errors:" in lines
        db = p.env_for(app).DB
        assert await db.prepare("SELECT name FROM custom_migrations").raw() == [["0001_ok.sql"]]
        assert await db.prepare("SELECT count(*) AS n FROM t").first("n") == 0  # 0002 rolled back
        assert await list_migrations(p, binding) == ["0002_bad.sql", "0003_later.sql"]
        (binding.migrations_dir / "0002_bad.sql").write_text("INSERT INTO t VALUES (1);")
        assert await apply_migrations(p, binding) == ["0002_bad.sql", "0003_later.sql"]
    finally:
        await p.stop()


async def test_missing_folder_is_an_error(tmp_path: Path, platform: Platform) -> None:
    binding = d1_config(platform.apps[0]).databases[0]
    with pytest.raises(MigrationError) as info:
        await apply_migrations(platform, binding)
    assert str(info.value) == f"No migrations present at {binding.migrations_dir}."


async def test_migration_names_with_quotes_are_recorded(tmp_path: Path, platform: Platform, db: Any) -> None:
    binding = d1_config(platform.apps[0]).databases[0]
    write(binding.migrations_dir, {"0001_it's.sql": "CREATE TABLE q (a);"})
    assert await apply_migrations(platform, binding) == ["0001_it's.sql"]
    assert await db.prepare("SELECT name FROM d1_migrations").first("name") == "0001_it's.sql"


async def test_platform_target_logs_each_migration(tmp_path: Path, platform: Platform) -> None:
    binding = d1_config(platform.apps[0]).databases[0]
    write(binding.migrations_dir, {"0001_a.sql": "CREATE TABLE a (x);"})
    await apply_migrations(platform, binding)  # what `dev` calls at start
    assert "✅ 0001_a.sql" in platform.log.messages(source="d1")


def test_create_numbers_after_the_highest(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from emulator.bindings.d1.migrations import create_migration

    folder = tmp_path / "new"
    first = create_migration(folder, "add users", datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC))
    assert first.name == "0001_add_users.sql"
    assert first.read_text() == "-- Migration number: 0001 \t 2024-05-06T07:08:09.123Z\n"
    (folder / "0007_manual.sql").write_text("")
    assert create_migration(folder, "next").name == "0008_next.sql"
    with pytest.raises(MigrationError):
        create_migration(folder, "a/b")
