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
from tests.helpers.cli import d1_r2_app, force_terminal, run_cli, serve_internal_api, table_rows, write_config


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


def test_execute_file_and_table_output(project: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "seed.sql").write_text("CREATE TABLE u (name TEXT, note TEXT);\nINSERT INTO u VALUES ('ada', NULL);\n"
                                      "SELECT name, note FROM u;\n")
    force_terminal(monkeypatch)
    assert run_cli("d1", "execute", "DB", "--file", "seed.sql") == 0
    captured = capsys.readouterr()
    # On a terminal: wrangler's table, NULL shown as wrangler shows it.
    assert table_rows(captured.out) == [["name", "note"], ["ada", "null"]]
    assert "SELECT name, note FROM u;" in captured.out and "None" not in captured.out
    assert "🌀 Executing on local database main-db" in captured.err
    assert "3 commands executed successfully" in captured.err


def test_execute_prints_json_when_piped(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # capsys's stdout is no terminal: wrangler's rule gives JSON without --json, and the
    # banner lines stay on stderr so the JSON parses.
    assert run_cli("d1", "execute", "DB", "--command", "SELECT NULL AS n, 'x' AS s") == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)[0]["results"] == [{"n": None, "s": "x"}]
    assert "🌀 Executing" in captured.err
    # An error without --json is a message; with --json, wrangler's JSON error on stdout.
    assert run_cli("d1", "execute", "DB", "--command", "SELEC 1") == 1
    captured = capsys.readouterr()
    assert captured.out == "" and '✘ [ERROR] D1_ERROR: near "SELEC"' in captured.err
    assert run_cli("d1", "execute", "DB", "--command", "SELEC 1", "--json") == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["error"]["text"].startswith('D1_ERROR: near "SELEC"') and captured.err == ""


def test_wide_tables_fit_the_terminal(project: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    force_terminal(monkeypatch, width=60)
    wide = "'" + "w" * 500 + "'"
    assert run_cli("d1", "execute", "DB", "--command", f"SELECT {wide} AS a, {wide} AS b, 1 AS c") == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 60
    assert "".join(row[0] for row in table_rows(out)[1:]) == "w" * 500  # folded, not cut


def test_colour_only_on_a_terminal_and_never_with_no_color(project: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    query = ("d1", "execute", "DB", "--command", "SELECT 1 AS one")
    force_terminal(monkeypatch, colour=True)
    assert run_cli(*query) == 0
    assert "\x1b[" in capsys.readouterr().out
    monkeypatch.setenv("NO_COLOR", "1")
    assert run_cli(*query) == 0
    out = capsys.readouterr().out
    assert "\x1b[" not in out and table_rows(out) == [["one"], ["1"]]
    monkeypatch.undo()  # no terminal: JSON, never colour
    monkeypatch.chdir(project)
    assert run_cli(*query) == 0
    assert "\x1b[" not in capsys.readouterr().out


def test_file_execution_reports_progress_per_statement(project: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from emulator.cli import output

    seen: list[int] = []
    monkeypatch.setattr(output.Progress, "update", lambda self, completed: seen.append(completed))
    force_terminal(monkeypatch)
    (project / "many.sql").write_text("CREATE TABLE m (i);\n" + "".join(f"INSERT INTO m VALUES ({i});\n"
                                                                        for i in range(499)))
    assert run_cli("d1", "execute", "DB", "--file", "many.sql") == 0
    assert seen[-1] == 500 and seen == sorted(seen) and len(seen) >= 100


def test_execute_errors_are_messages_not_tracebacks(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("d1", "execute", "nope", "--command", "SELECT 1") == 1
    assert capsys.readouterr().err.strip() == (
        "✘ [ERROR] Couldn't find a D1 DB with the name or binding 'nope' in your wrangler.toml file. "
        "Known databases: main-db (binding DB).")
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


async def test_refused_sql_is_refused_on_disk_and_through_a_running_dev(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    planted = project / "planted.sqlite3"
    attach = f"CREATE TABLE t (a); ATTACH DATABASE '{planted}' AS p; CREATE TABLE p.x (a);"
    assert await asyncio.to_thread(run_cli, "d1", "execute", "DB", "--command", attach) == 1
    assert "D1_ERROR: not authorized: SQLITE_AUTH" in capsys.readouterr().err
    platform = Platform([d1_r2_app(project)], project / ".emulator", s3_port=None)
    await platform.start()
    served = serve_internal_api(platform)
    try:
        await served.__anext__()
        assert await asyncio.to_thread(run_cli, "d1", "execute", "DB", "--command", attach) == 1
        assert "D1_ERROR: not authorized: SQLITE_AUTH" in capsys.readouterr().err
        db = platform.env_for(platform.apps[0]).DB
        assert await db.prepare("SELECT count(*) AS n FROM sqlite_master").first("n") == 0
    finally:
        await served.aclose()
        await platform.stop()
    assert not planted.exists()


def test_execute_file_strips_a_dumps_wrapping_transaction(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "dump.sql").write_text("PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCREATE TABLE d (a);\n"
                                      "INSERT INTO d VALUES(1);\nCOMMIT;\n")
    assert run_cli("d1", "execute", "DB", "--file", "dump.sql") == 0
    capsys.readouterr()
    (project / "two.sql").write_text("BEGIN TRANSACTION;\nSELECT 1;\nCOMMIT;\nBEGIN TRANSACTION;\nSELECT 2;\nCOMMIT;\n")
    assert run_cli("d1", "execute", "DB", "--file", "two.sql") == 1
    assert "contains several transactions" in capsys.readouterr().err
