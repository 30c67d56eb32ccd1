"""Loading: discovery, AppConfig defaults, environments, .dev.vars / .env secrets; and what
is read at all (directories, FIFOs, huge files, byte-order marks, bytes that are not UTF-8,
nesting limits)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from emulator.bindings.d1.config import d1_config
from emulator.bindings.queues.config import (
    DEFAULT_MAX_BATCH_SIZE,
    DEFAULT_MAX_BATCH_TIMEOUT,
    DEFAULT_MAX_RETRIES,
    queues_config,
)
from emulator.bindings.r2.config import r2_config
from emulator.bindings.services.config import services_config
from emulator.bindings.workflows.config import workflows_config
from emulator.config import AppConfig, ConfigLookupError, check_paths, find_config, loader
from emulator.config.loader import ParseProblem, read_config_file
from emulator.config.nesting import MAX_DEPTH, TOML_INLINE_MAX_DEPTH, TOML_INLINE_MESSAGE
from emulator.config.devvars import load_dev_secrets, parse_dotenv


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def load_one(path: Path, env: str | None = None) -> AppConfig:
    report = check_paths([path], env=env, cwd=path if path.is_dir() else path.parent)
    assert report.ok, [d.message for f in report.files for d in f.errors]
    assert len(report.apps) == 1
    return report.apps[0]


WORKER = """
name = "consumer"
main = "src/entry.py"
compatibility_date = "2025-01-01"
compatibility_flags = ["python_workers"]

[dev]
ip = "127.0.0.1"
port = 8799

[vars]
LEVEL = "info"
LIMITS = { max = 3 }

[triggers]
crons = ["*/5 * * * *"]

[[queues.producers]]
binding = "OUT"
queue = "out"

[[queues.producers]]
binding = "JOBS"
queue = "jobs"
delivery_delay = 5

[[queues.consumers]]
queue = "jobs"

[[queues.consumers]]
queue = "other"
max_batch_size = 3
max_batch_timeout = 0.5
max_retries = 0
retry_delay = 10
dead_letter_queue = "other-dlq"
max_concurrency = 2

[[r2_buckets]]
binding = "FILES"

[[r2_buckets]]
binding = "DATA"
bucket_name = "data-bucket"

[[d1_databases]]
binding = "DB"
database_name = "db"
database_id = "id-1"

[[d1_databases]]
binding = "DB2"
database_name = "db2"
migrations_dir = "sql"
migrations_table = "applied"

[[workflows]]
binding = "WF"
name = "wf"
class_name = "Wf"

[[services]]
binding = "API"
service = "api"
entrypoint = "Api"

[assets]
directory = "./static"
binding = "ASSETS"
run_worker_first = ["/api/*", "!/api/docs/*"]
"""


def test_worker_app_fields_and_defaults(tmp_path: Path) -> None:
    write(tmp_path / "src" / "entry.py", "class Wf:\n    pass\n")
    app = load_one(write(tmp_path / "wrangler.toml", WORKER))
    assert app.kind == "worker"
    assert app.name == "consumer"
    assert app.config_path == (tmp_path / "wrangler.toml").resolve()
    assert app.main == (tmp_path / "src" / "entry.py").resolve()
    assert app.compatibility_flags == ("python_workers",)
    assert app.vars == {"LEVEL": "info", "LIMITS": {"max": 3}}
    assert [(p.binding, p.queue, p.delivery_delay) for p in queues_config(app).producers] == [
        ("OUT", "out", None), ("JOBS", "jobs", 5)]
    first, second = queues_config(app).consumers
    assert (first.queue, first.max_batch_size, first.max_batch_timeout, first.max_retries) == (
        "jobs", DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_BATCH_TIMEOUT, DEFAULT_MAX_RETRIES)
    assert (DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_BATCH_TIMEOUT, DEFAULT_MAX_RETRIES) == (10, 5.0, 3)
    assert first.dead_letter_queue is None and first.retry_delay == 0
    assert (second.max_batch_size, second.max_batch_timeout, second.max_retries, second.retry_delay,
            second.dead_letter_queue, second.max_concurrency) == (3, 0.5, 0, 10, "other-dlq", 2)
    assert [(b.binding, b.bucket_name) for b in r2_config(app).buckets] == [("FILES", "FILES"), ("DATA", "data-bucket")]
    db, db2 = d1_config(app).databases
    assert db.migrations_dir == (tmp_path / "migrations").resolve() and db.migrations_table == "d1_migrations"
    assert db2.migrations_dir == (tmp_path / "sql").resolve() and db2.migrations_table == "applied"
    assert db2.database_id is None and db2.local_id == "db2"
    workflows = workflows_config(app).workflows
    assert [(w.binding, w.name, w.class_name, w.script_name) for w in workflows] == [("WF", "wf", "Wf", None)]
    assert [(s.binding, s.service, s.entrypoint) for s in services_config(app).services] == [("API", "api", "Api")]
    assert app.crons == ("*/5 * * * *",)
    assert app.assets is not None and app.assets.directory == (tmp_path / "static").resolve()
    assert app.assets.binding == "ASSETS"
    assert app.assets.run_worker_first == ("/api/*", "!/api/docs/*")
    assert (app.dev.ip, app.dev.port) == ("127.0.0.1", 8799)
    assert app.env_name is None


def test_pages_app(tmp_path: Path) -> None:
    app = load_one(write(tmp_path / "wrangler.jsonc", """{
      // comments and trailing commas, as wrangler allows
      "name": "web", "pages_build_output_dir": "./public",
      "queues": {"producers": [{"binding": "Q", "queue": "jobs"},],},
    }"""))
    assert app.kind == "pages"
    assert app.pages_build_output_dir == (tmp_path / "public").resolve()
    assert app.main is None
    assert app.dev.ip is None and app.dev.port is None


def test_discovery_prefers_file_name_then_nearest_folder(tmp_path: Path) -> None:
    write(tmp_path / "wrangler.json", '{"name": "top"}')
    write(tmp_path / "a" / "wrangler.toml", 'name = "near"')
    deep = tmp_path / "a" / "b"
    deep.mkdir()
    # wrangler.json anywhere upwards wins over a nearer wrangler.toml
    assert find_config(deep) == (tmp_path / "wrangler.json").resolve()
    (tmp_path / "wrangler.json").unlink()
    write(tmp_path / "wrangler.jsonc", '{"name": "top"}')
    assert find_config(deep) == (tmp_path / "wrangler.jsonc").resolve()
    (tmp_path / "wrangler.jsonc").unlink()
    assert find_config(deep) == (tmp_path / "a" / "wrangler.toml").resolve()
    report = check_paths([deep], cwd=deep)
    assert report.files[0].path == (tmp_path / "a" / "wrangler.toml").resolve()


def test_missing_path_and_no_config_raise_lookup_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigLookupError):
        check_paths([tmp_path / "nope.toml"])
    empty = tmp_path / "empty"
    empty.mkdir()
    # the search goes upwards; make sure nothing above tmp_path interferes
    if find_config(empty) is None:
        with pytest.raises(ConfigLookupError):
            check_paths([empty])


ENVS = """
name = "svc"
main = "src/index.js"
compatibility_date = "2025-01-01"
compatibility_flags = ["nodejs_compat"]

[vars]
A = "top"

[[r2_buckets]]
binding = "FILES"
bucket_name = "top-bucket"

[env.staging]
compatibility_date = "2025-02-02"

[env.staging.vars]
A = "staging"
B = "only-staging"

[[env.staging.r2_buckets]]
binding = "FILES"
bucket_name = "staging-bucket"

[env.prod]
name = "svc-production"
"""


def test_env_resolution_inheritable_and_not(tmp_path: Path) -> None:
    path = write(tmp_path / "wrangler.toml", ENVS)
    top = load_one(path)
    assert (top.name, top.vars, r2_config(top).buckets[0].bucket_name) == ("svc", {"A": "top"}, "top-bucket")
    staging = load_one(path, env="staging")
    assert staging.name == "svc-staging"  # name gets "-<env>" when the env does not set it
    assert staging.compatibility_date == "2025-02-02"
    assert staging.compatibility_flags == ("nodejs_compat",)  # inherited
    assert staging.vars == {"A": "staging", "B": "only-staging"}
    assert r2_config(staging).buckets[0].bucket_name == "staging-bucket"
    assert staging.env_name == "staging"
    report = check_paths([path], env="prod", cwd=tmp_path)
    prod = report.apps[0]
    assert prod.name == "svc-production"
    assert prod.vars == {} and r2_config(prod).buckets == ()  # bindings are not inherited ...
    warnings = [d.message for d in report.files[0].warnings]
    assert any(m.startswith('"vars" exists at the top level, but not on "env.prod".') for m in warnings)
    assert all(d.context == ('"env.prod" environment configuration',) for d in report.files[0].warnings)


def test_unknown_env_keeps_top_level_bindings_for_workers(tmp_path: Path) -> None:
    path = write(tmp_path / "wrangler.toml", 'name = "w"\nmain = "x.js"\ncompatibility_date = "2025-01-01"\n'
                                            '[vars]\nA = "1"\n')
    report = check_paths([path], env="qa", cwd=tmp_path)
    assert report.ok
    app = report.apps[0]
    assert app.name == "w-qa" and app.vars == {"A": "1"}
    assert report.files[0].warnings[0].message.startswith('No environment found in configuration with name "qa".')


def test_dev_vars_override_vars_and_env_specific_file_wins(tmp_path: Path) -> None:
    path = write(tmp_path / "wrangler.toml", 'name = "w"\nmain = "x.js"\ncompatibility_date = "2025-01-01"\n'
                                            '[vars]\nA = "var"\nB = "var"\n'
                                            '[env.staging.vars]\nA = "s"\n')
    write(tmp_path / ".dev.vars", 'A=secret\nexport C="quoted # not a comment"\n# comment\nD=\'single\'\n')
    write(tmp_path / ".env", "A=from-dotenv\n")
    app = load_one(path)
    assert app.secrets == {"A": "secret", "C": "quoted # not a comment", "D": "single"}
    assert app.env_vars()["A"] == "secret" and app.env_vars()["B"] == "var"
    write(tmp_path / ".dev.vars.staging", "A=staging-secret\n")
    staging = load_one(path, env="staging")
    assert staging.secrets == {"A": "staging-secret"}  # only the first file found is used


def test_dotenv_files_merge_in_order_with_expansion(tmp_path: Path) -> None:
    write(tmp_path / ".env", "BASE=root\nURL=https://${BASE}.example\nX=1\n")
    write(tmp_path / ".env.local", "X=2\n")
    write(tmp_path / ".env.staging", "X=3\nY=$BASE\n")
    values, used, missing = load_dev_secrets(tmp_path, "staging", environ={})
    assert values == {"BASE": "root", "URL": "https://root.example", "X": "3", "Y": "root"}
    assert used == tmp_path / ".env" and missing == []
    values, _, _ = load_dev_secrets(tmp_path, None, environ={"CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV": "false"})
    assert values == {}


def test_required_secrets_pick_and_report_missing(tmp_path: Path) -> None:
    write(tmp_path / ".dev.vars", "TOKEN=t\nOTHER=o\n")
    values, _, missing = load_dev_secrets(tmp_path, None, {"required": ["TOKEN", "KEY"]}, environ={})
    assert values == {"TOKEN": "t"} and missing == ["KEY"]


def test_parse_dotenv_syntax() -> None:
    parsed = parse_dotenv('A=1\nB = spaced  \nC="line\\nbreak"\nD=`tick`\nE=x # trailing\n\r\nF:colon\n')
    assert parsed == {"A": "1", "B": "spaced", "C": "line\nbreak", "D": "tick", "E": "x"}


def test_toml_dates_are_rejected_in_vars(tmp_path: Path) -> None:
    path = write(tmp_path / "wrangler.toml", 'name = "w"\nmain = "x.js"\n[vars]\nWHEN = 2025-12-19T10:00:00Z\n')
    report = check_paths([path], cwd=tmp_path)
    (error,) = report.files[0].errors
    assert error.message == ('The field "vars.WHEN" is a TOML date, which is not supported. Please use a string '
                             'instead, e.g. WHEN = "2025-12-19".')
    assert (error.path, error.line, error.column) == ("vars.WHEN", 4, 1)
    assert report.apps == []


# --- careless input: what is read, and how -------------------------------------------------
MINIMAL = 'name = "w"\nmain = "src/index.js"\ncompatibility_date = "2025-01-01"\n'


def problem_of(path: Path) -> ParseProblem:
    parsed = read_config_file(path)
    assert parsed.raw is None and parsed.problem is not None
    return parsed.problem


def test_unreadable_paths_are_parse_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "wrangler.toml"
    folder.mkdir()
    assert problem_of(folder).message == f"Could not read file: {folder}\nIt is a directory."
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)  # would block a plain open()
    assert problem_of(fifo).message.endswith("It is not a regular file.")
    locked = write(tmp_path / "locked" / "wrangler.toml", MINIMAL)

    def refuse(self: Path, *args: object, **kwargs: object) -> object:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", refuse)
    assert problem_of(locked).message == f"Could not read file: {locked}\nPermission denied."


def test_files_over_the_size_limit_are_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "wrangler.toml", MINIMAL + "# " + "x" * 200 + "\n")
    monkeypatch.setattr(loader, "MAX_CONFIG_BYTES", 100)
    problem = problem_of(path)
    assert problem.message.startswith(f"Could not read file: {path}\nIt is 0.0 MiB")


@pytest.mark.parametrize(("bom", "encoding"), [
    (b"\xff\xfe", "UTF-16 LE"), (b"\xfe\xff", "UTF-16 BE"),
    (b"\xff\xfe\x00\x00", "UTF-32 LE"), (b"\x00\x00\xfe\xff", "UTF-32 BE"),
])
def test_utf16_and_utf32_byte_order_marks_are_refused_like_wrangler(tmp_path: Path, bom: bytes, encoding: str) -> None:
    for name in ("wrangler.toml", "wrangler.json"):
        path = tmp_path / name
        path.write_bytes(bom + MINIMAL.encode("utf-16-le"))
        problem = problem_of(path)
        assert problem.message.split("\n")[0] == f"Configuration file contains {encoding} byte order marker"
        assert (problem.line, problem.column) == (1, 1)


def test_bytes_that_are_not_utf8_read_as_replacement_characters(tmp_path: Path) -> None:
    # Node's Buffer.toString("utf-8"), which wrangler uses: the parser then judges the text.
    path = tmp_path / "wrangler.toml"
    path.write_bytes(MINIMAL.encode() + b'[vars]\nA = "caf\xe9"\n')
    assert read_config_file(path).raw["vars"] == {"A": "caf\ufffd"}  # type: ignore[index]  # the file parsed: raw is set
    path = tmp_path / "wrangler.json"
    path.write_bytes(b'{"name": "w",\n \xff}')
    assert (problem_of(path).message, problem_of(path).line, problem_of(path).column) == ("InvalidSymbol", 2, 2)


def test_empty_and_binary_files_get_a_verdict(tmp_path: Path) -> None:
    write(tmp_path / "a" / "wrangler.toml", "")
    assert read_config_file(tmp_path / "a" / "wrangler.toml").raw == {}
    write(tmp_path / "b" / "wrangler.json", "")
    assert problem_of(tmp_path / "b" / "wrangler.json").message == "ValueExpected"
    binary = tmp_path / "c" / "wrangler.toml"
    binary.parent.mkdir()
    binary.write_bytes(bytes(range(256)) * 8)
    assert problem_of(binary).line is not None


def test_nesting_limits_in_toml(tmp_path: Path) -> None:
    deep = write(tmp_path / "a" / "wrangler.toml", MINIMAL + "[vars]\nX = " + "[" * 2000 + "]" * 2000 + "\n")
    problem = problem_of(deep)
    assert problem.message == TOML_INLINE_MESSAGE and problem.id is None
    assert (problem.line, problem.column) == (5, 5 + TOML_INLINE_MAX_DEPTH)
    # An error in an earlier statement is reported first, as wrangler's one-pass parser does.
    earlier = write(tmp_path / "b" / "wrangler.toml", MINIMAL + "oops\nX = " + "[" * 2000 + "\n")
    assert problem_of(earlier).message.startswith("Expected '=' after a key")
    # Deep tables (headers, dotted keys) hit our limit instead.
    tables = write(tmp_path / "c" / "wrangler.toml", MINIMAL + "[" + ".".join(["t"] * 5000) + "]\n")
    problem = problem_of(tables)
    assert problem.id == "CFE100" and (problem.line, problem.column) == (4, 2 + 2 * (MAX_DEPTH - 1))
    # Up to the limits, tomllib (recursive) parses it.
    fits = write(tmp_path / "d" / "wrangler.toml",
                 MINIMAL + "[vars]\nX = " + "{a = " * 999 + "1" + " }" * 999 + "\n")
    value = read_config_file(fits).raw["vars"]["X"]  # type: ignore[index]  # the file parsed: raw is set
    for _ in range(999):
        value = value["a"]
    assert value == 1


def test_nesting_limit_in_json(tmp_path: Path) -> None:
    deep = write(tmp_path / "wrangler.jsonc", '{\n  "vars": {"X": ' + "[" * 100_000)
    problem = problem_of(deep)
    # The root and "vars" objects are two levels: the array that crosses is number MAX_DEPTH - 1,
    # and the first one is on column 17.
    assert problem.id == "CFE100" and (problem.line, problem.column) == (2, 17 + MAX_DEPTH - 2)


def test_toml_errors_at_the_end_of_the_document_have_a_position(tmp_path: Path) -> None:
    path = write(tmp_path / "wrangler.toml", MINIMAL + "X = [1,\n")
    problem = problem_of(path)
    assert "(at end of document)" in problem.message and (problem.line, problem.column) == (5, 1)
