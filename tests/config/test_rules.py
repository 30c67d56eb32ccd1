"""Our CFE rules and the deploy-time checks, beyond the fixture cases."""

from __future__ import annotations

from pathlib import Path

from emulator.config import check_paths


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def diags(path: Path, env: str | None = None) -> list[tuple[str | None, str, str]]:
    report = check_paths([path], env=env, cwd=path.parent)
    return [(d.id, d.severity, d.path) for f in report.files for d in f.errors + f.warnings]


PAGES_ENV_CONSUMERS = '''name = "p"
pages_build_output_dir = "./public"

[env.preview]
[[env.preview.queues.consumers]]
queue = "jobs"

[env.production]
[[env.production.queues.consumers]]
queue = "jobs"
'''


def test_pages_env_consumers_reported_once_per_env(tmp_path: Path) -> None:
    path = write(tmp_path / "wrangler.toml", PAGES_ENV_CONSUMERS)
    assert diags(path) == [("CFE108", "error", "env.preview.queues.consumers"),
                           ("CFE108", "error", "env.production.queues.consumers")]
    # with the env active, wrangler's own Pages rule reports it, located in the env section
    assert diags(path, env="preview") == [(None, "error", "env.preview.queues.consumers"),
                                          ("CFE108", "error", "env.production.queues.consumers")]


def test_ranges_accept_bounds_and_reject_fractions(tmp_path: Path) -> None:
    ok = write(tmp_path / "ok" / "wrangler.toml", '''name = "w"
main = "i.js"
compatibility_date = "2025-01-01"
[[queues.consumers]]
queue = "q"
max_batch_size = 1
max_batch_timeout = 60
max_retries = 100
retry_delay = 43200
max_concurrency = 250
[[queues.producers]]
binding = "Q"
queue = "q"
delivery_delay = 43200
''')
    assert diags(ok) == []
    bad = write(tmp_path / "bad" / "wrangler.toml", '''name = "w"
main = "i.js"
compatibility_date = "2025-01-01"
[[queues.consumers]]
queue = "q"
max_batch_size = 2.5
max_batch_timeout = 2.5
''')
    report = check_paths([bad], cwd=bad.parent)
    (error,) = report.files[0].errors
    assert error.id == "CFE101" and error.path == "queues.consumers[0].max_batch_size" and error.line == 6
    assert error.message == ('"queues.consumers[0].max_batch_size" is 2.5, but Cloudflare Queues accepts an '
                             "integer from 1 to 100 messages per batch.")


def test_delays_and_concurrency_follow_production_limits(tmp_path: Path) -> None:
    """12 hours for delays (Miniflare allows 24) and 250 concurrent invocations, as `dev` enforces."""
    bad = write(tmp_path / "wrangler.toml", '''name = "w"
main = "i.js"
compatibility_date = "2025-01-01"
[[queues.consumers]]
queue = "q"
retry_delay = 43201
max_concurrency = 251
[[queues.producers]]
binding = "Q"
queue = "q"
delivery_delay = 86400
''')
    report = check_paths([bad], cwd=tmp_path)
    assert [(d.id, d.path, d.message) for d in report.files[0].errors] == [
        ("CFE104", "queues.consumers[0].retry_delay",
         '"queues.consumers[0].retry_delay" is 43201, but Cloudflare Queues accepts an integer from 0 to 43200 '
         "seconds."),
        ("CFE106", "queues.consumers[0].max_concurrency",
         '"queues.consumers[0].max_concurrency" is 251, but Cloudflare Queues accepts an integer from 1 to 250 '
         "concurrent consumer invocations."),
        ("CFE105", "queues.producers[0].delivery_delay",
         '"queues.producers[0].delivery_delay" is 86400, but Cloudflare Queues accepts an integer from 0 to 43200 '
         "seconds."),
    ]


def test_js_entry_exports(tmp_path: Path) -> None:
    config = write(tmp_path / "wrangler.toml", '''name = "w"
main = "src/index.ts"
compatibility_date = "2025-01-01"
[[workflows]]
binding = "A"
name = "a"
class_name = "Alpha"
[[workflows]]
binding = "B"
name = "b"
class_name = "Beta"
[[workflows]]
binding = "C"
name = "c"
class_name = "Elsewhere"
script_name = "other-worker"
''')
    entry = write(tmp_path / "src" / "index.ts", "class Alpha {}\nclass B2 {}\nexport { Alpha, B2 as Beta };\n"
                                                 "export default {};\n")
    assert diags(config) == []
    entry.write_text("export class Alpha {}\nexport default {};\n")
    report = check_paths([config], cwd=tmp_path)
    (error,) = report.files[0].errors
    assert error.message == ("Your Worker depends on the following Workflows, which are not exported in your "
                             "entrypoint file: Beta.\nYou should export these objects from your entrypoint, "
                             "src/index.ts.")
    entry.write_text("export * from './flows';\nexport default {};\n")
    assert diags(config) == []  # re-exports: unknowable without bundling, so not reported


def test_python_flag_error_replaces_other_diagnostics(tmp_path: Path) -> None:
    path = write(tmp_path / "wrangler.toml", 'name = "w"\nmain = "src/entry.py"\nbogus = 1\n')
    report = check_paths([path], cwd=tmp_path)
    assert [d.message for d in report.files[0].errors + report.files[0].warnings] == [
        "The `python_workers` compatibility flag is required to use Python."]


def test_classes_not_in_main(tmp_path: Path) -> None:
    """The rule CFE111 (workflows) and CFE113 (Durable Objects) share: which class bindings the
    Python main module lacks, and CFE112 (once) when the module cannot be read."""
    from emulator.config.diagnostics import DiagnosticTree
    from emulator.config.rules import classes_not_in_main, defined_here

    config_path = tmp_path / "wrangler.toml"
    main = write(tmp_path / "src" / "entry.py", "from workers import WorkflowEntrypoint\n\nclass Here:\n    pass\n")
    entries = [{"class_name": "Here"}, {"class_name": "Gone", "name": "g"}, {"class_name": "Other", "script_name": "x"}]
    local = defined_here(entries, "app")

    tree = DiagnosticTree("t")
    assert classes_not_in_main(tree, {}, {"main": str(main)}, None, config_path, local, "things") == (
        [(1, {"class_name": "Gone", "name": "g"})], "src/entry.py")
    assert not tree.has_errors() and not tree.has_warnings()

    # No Python main module, or nothing defined here: nothing to look for, no warning.
    for config, entries_here in (({"main": "src/index.js"}, local), ({}, local), ({"main": str(main)}, [])):
        assert classes_not_in_main(tree, {}, config, None, config_path, entries_here, "things") == ([], "")
    assert not tree.has_warnings()

    # An unreadable main module: CFE112, and no class errors on top of it.
    missing = str(tmp_path / "src" / "nope.py")
    assert classes_not_in_main(tree, {}, {"main": missing}, None, config_path, local, "things") == ([], "")
    assert [(w.id, w.message) for w in tree.warnings] == [
        ("CFE112", "Could not look for things in main module src/nope.py: it does not exist.")]
