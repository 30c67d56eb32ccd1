"""`cf-emulator d1 execute|migrations`: with and without a running `dev`, same state.

The CLI helpers (``run_cli``, ``serve_internal_api``, ``write_config``) live in
``tests.helpers.cli``, shared with the R2 CLI tests.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from emulator.platform import Platform
from tests.helpers.cli import d1_r2_app, run_cli, serve_internal_api, write_config


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_config(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def out_json(capsys: pytest.CaptureFixture[str]) -> Any:
    return json.loads(capsys.readouterr().out)


def test_execute_command_json_one_result_per_statement(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("d1", "execute", "DB", "--local", "-y", "--command",
                   "CREATE TABLE t (a, b); INSERT INTO t VALUES (1, 'x'); SELECT * FROM t") == 0
    capsys.readouterr()
    assert run_cli("d1", "execute", "main-db", "--command",
                   "INSERT INTO t VALUES (2, x'ff'); SELECT * FROM t ORDER BY a", "--json") == 0
    results = out_json(capsys)
    assert [r["success"] for r in results] == [True, True]
    assert results[0]["results"] == [] and results[0]["meta"]["changes"] == 1
    assert results[1]["results"] == [{"a": 1, "b": "x"}, {"a": 2, "b": [255]}]
    assert set(results[1]["meta"]) == {"served_by", "duration", "changes", "last_row_id", "changed_db",
                                       "size_after", "rows_read", "rows_written"}
    assert (project / ".emulator" / "d1" / "main-db.sqlite3").is_file()


def test_execute_file_and_table_output(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "seed.sql").write_text("CREATE TABLE u (name TEXT);\nINSERT INTO u VALUES ('ada');\n"
                                      "SELECT name FROM u;\n")
    assert run_cli("d1", "execute", "DB", "--file", "seed.sql") == 0
    captured = capsys.readouterr()
    assert "name" in captured.out and "ada" in captured.out
    assert "🌀 Executing on local database main-db" in captured.err
    assert "3 commands executed successfully" in captured.err


def test_execute_errors_are_messages_not_tracebacks(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("d1", "execute", "nope", "--command", "SELECT 1") == 1
    assert capsys.readouterr().err.strip() == (
        "✘ [ERROR] Couldn't find a D1 DB with the name or binding 'nope' in your wrangler.toml file.")
    assert run_cli("d1", "execute", "DB", "--command", "SELEC 1") == 1
    assert 'D1_ERROR: near "SELEC": syntax error: SQLITE_ERROR' in capsys.readouterr().err
    assert run_cli("d1", "execute", "DB", "--file", "missing.sql") == 1
    assert "missing.sql" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_cli("d1", "execute", "DB")  # --command or --file is required


def test_persist_to_and_config_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path / "proj")
    state = tmp_path / "elsewhere"
    assert run_cli("d1", "execute", "DB", "-c", str(config), "--persist-to", str(state),
                   "--command", "CREATE TABLE p (a)") == 0
    assert (state / "d1" / "main-db.sqlite3").is_file()
    assert not (tmp_path / "proj" / ".emulator").exists()


def test_migrations_list_and_apply(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("d1", "migrations", "apply", "DB") == 1
    err = capsys.readouterr().err
    assert "No migrations folder found. Set `migrations_dir` in your wrangler.toml file" in err
    assert f"No migrations present at {project / 'migrations'}." in err
    (project / "migrations").mkdir()
    (project / "migrations" / "0001_init.sql").write_text("CREATE TABLE users (id INTEGER PRIMARY KEY);")
    (project / "migrations" / "0002_more.sql").write_text("ALTER TABLE users ADD COLUMN name TEXT;")
    assert run_cli("d1", "migrations", "list", "main-db", "--local") == 0
    out = capsys.readouterr().out
    assert out.startswith("Migrations to be applied:") and "0002_more.sql" in out
    assert run_cli("d1", "migrations", "apply", "DB", "--local", "-y") == 0
    out = capsys.readouterr().out
    assert "✅ 0001_init.sql" in out and "✅ 0002_more.sql" in out
    assert run_cli("d1", "migrations", "list", "DB") == 0
    assert capsys.readouterr().out.strip() == "✅ No migrations to apply!"
    (project / "migrations" / "0003_bad.sql").write_text("CREATE TABLE users (id);")
    assert run_cli("d1", "migrations", "apply", "DB") == 1
    captured = capsys.readouterr()
    assert "Migration 0003_bad.sql failed with the following errors:" in captured.out
    assert "table users already exists" in captured.err


def test_workspace_file_covers_its_apps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    write_config(tmp_path / "apps" / "web")
    (tmp_path / "wrangler.toml").write_text('[workspace]\napps = ["apps/web"]\n')
    monkeypatch.chdir(tmp_path)
    assert run_cli("d1", "execute", "DB", "--command", "SELECT 7 AS n", "--json") == 0
    assert out_json(capsys)[0]["results"] == [{"n": 7}]
    assert (tmp_path / ".emulator" / "d1" / "main-db.sqlite3").is_file()


async def test_with_a_running_dev_writes_go_through_its_api(project: Path) -> None:
    platform = Platform([d1_r2_app(project)], project / ".emulator", s3_port=None)
    await platform.start()
    served = serve_internal_api(platform)
    try:
        await served.__anext__()
        code = await asyncio.to_thread(run_cli, "d1", "execute", "DB", "--command",
                                       "CREATE TABLE live (v); INSERT INTO live VALUES ('via api')")
        assert code == 0
        db = platform.env_for(platform.apps[0]).DB
        assert await db.prepare("SELECT v FROM live").first("v") == "via api"
        (project / "migrations").mkdir()
        (project / "migrations" / "0001_m.sql").write_text("CREATE TABLE migrated (x);")
        assert await asyncio.to_thread(run_cli, "d1", "migrations", "apply", "DB") == 0
        assert await db.prepare("SELECT name FROM d1_migrations").first("name") == "0001_m.sql"
        bad = await asyncio.to_thread(run_cli, "d1", "execute", "DB", "--command", "SELECT * FROM nope")
        assert bad == 1
    finally:
        await served.aclose()
        await platform.stop()


def test_migrations_create(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("d1", "migrations", "create", "DB", "create users") == 0
    assert "✅ Successfully created Migration '0001_create_users.sql'!" in capsys.readouterr().out
    assert (project / "migrations" / "0001_create_users.sql").read_text().startswith("-- Migration number: 0001")
    assert run_cli("d1", "migrations", "list", "DB") == 0
    assert "0001_create_users.sql" in capsys.readouterr().out
