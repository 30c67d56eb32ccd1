"""The workspace file and the checks across apps (CFE110, CFE111, CFE120-122, CFE13x)."""

from __future__ import annotations

from pathlib import Path

from emulator.config import check_paths
from emulator.config.check import CheckReport


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


WEB = '''name = "web"
pages_build_output_dir = "./public"
compatibility_date = "2025-01-01"

[[queues.producers]]
binding = "JOBS"
queue = "jobs"
'''

WORKFLOW = '''name = "workflow"
main = "src/entry.py"
compatibility_date = "2025-01-01"
compatibility_flags = ["python_workers"]

[[queues.consumers]]
queue = "jobs"
dead_letter_queue = "jobs-dlq"

[[queues.consumers]]
queue = "jobs-dlq"

[[workflows]]
binding = "COMPACT"
name = "compact"
class_name = "CompactionWorkflow"
'''

ENTRY = '''from workers import WorkerEntrypoint, WorkflowEntrypoint


class CompactionWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        return None


class Default(WorkerEntrypoint):
    async def queue(self, batch, env, ctx):
        return None
'''


def make_workspace(root: Path, workspace: str = '[workspace]\napps = ["apps/web", "apps/workflow"]\n'
                   'apply_migrations = true\npersist_to = ".state"\n') -> Path:
    write(root / "apps" / "web" / "wrangler.toml", WEB)
    write(root / "apps" / "workflow" / "wrangler.toml", WORKFLOW)
    write(root / "apps" / "workflow" / "src" / "entry.py", ENTRY)
    return write(root / "wrangler.toml", workspace)


def ids(report: CheckReport) -> list[tuple[str, str | None, str]]:
    return [(f.path.parent.name, d.id, d.severity) for f in report.files for d in f.errors + f.warnings]


def test_valid_workspace_loads_every_app(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    report = check_paths([ws], cwd=tmp_path)
    assert report.ok, ids(report)
    assert ids(report) == []
    assert [f.kind for f in report.files] == ["workspace", "pages", "worker"]
    assert report.workspace is not None
    assert report.workspace.apps == ((tmp_path / "apps/web/wrangler.toml").resolve(),
                                     (tmp_path / "apps/workflow/wrangler.toml").resolve())
    assert report.workspace.apply_migrations is True
    assert report.workspace.persist_to == (tmp_path / ".state").resolve()
    assert [a.name for a in report.apps] == ["web", "workflow"]
    # a folder holding the workspace file is found by discovery and treated the same way
    assert [f.kind for f in check_paths([tmp_path], cwd=tmp_path).files] == ["workspace", "pages", "worker"]


def test_two_consumers_for_one_queue_across_apps(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    write(tmp_path / "apps" / "web" / "wrangler.toml",
          WEB.replace('name = "web"\npages_build_output_dir = "./public"\n', 'name = "web"\nmain = "src/index.js"\n')
          + '\n[[queues.consumers]]\nqueue = "jobs"\n')
    report = check_paths([ws], cwd=tmp_path)
    assert not report.ok
    (error,) = [d for f in report.files for d in f.errors]
    assert error.id == "CFE110"
    assert error.message == 'Multiple consumers defined for queue "jobs": "web" and "workflow"'
    assert (error.path, error.line) == ("queues.consumers[0].queue", 7)  # in workflow's file
    assert report.apps[0].name == "web"  # the first consumer's app still loads


def test_workflow_class_missing_from_python_main(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    write(tmp_path / "apps" / "workflow" / "src" / "entry.py", ENTRY.replace("CompactionWorkflow", "Other"))
    report = check_paths([ws], cwd=tmp_path)
    (error,) = [d for f in report.files for d in f.errors]
    assert error.id == "CFE111"
    assert error.path == "workflows[0].class_name" and error.line == 16
    # imported names count as defined (the runtime sees module attributes)
    write(tmp_path / "apps" / "workflow" / "src" / "entry.py", "from flows import CompactionWorkflow\n")
    assert check_paths([ws], cwd=tmp_path).ok
    (tmp_path / "apps" / "workflow" / "src" / "entry.py").unlink()
    report = check_paths([ws], cwd=tmp_path)
    assert report.ok and [d.id for f in report.files for d in f.warnings] == ["CFE112"]


def test_producer_and_consumer_warnings(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    write(tmp_path / "apps" / "web" / "wrangler.toml", WEB + '\n[[queues.producers]]\nbinding = "AUDIT"\n'
                                                             'queue = "audit"\n')
    write(tmp_path / "apps" / "workflow" / "wrangler.toml",
          WORKFLOW + '\n[[queues.consumers]]\nqueue = "orphan"\ndead_letter_queue = "orphan-dlq"\n')
    report = check_paths([ws], cwd=tmp_path)
    assert report.ok
    warnings = {(d.id, d.path) for f in report.files for d in f.warnings}
    assert warnings == {
        ("CFE121", "queues.producers[1].queue"),            # nobody consumes "audit"
        ("CFE120", "queues.consumers[2].queue"),            # nothing produces to "orphan"
        ("CFE122", "queues.consumers[2].dead_letter_queue"),  # nobody consumes "orphan-dlq"
    }
    # "jobs-dlq" is only a dead-letter queue, which counts as produced-to: no CFE120 for it.


def test_single_app_gets_no_pairing_warnings(tmp_path: Path) -> None:
    make_workspace(tmp_path)
    report = check_paths([tmp_path / "apps" / "web"], cwd=tmp_path)
    assert report.ok and ids(report) == []
    # two configs passed directly are checked as a set
    report = check_paths([tmp_path / "apps" / "web", tmp_path / "apps" / "workflow"], cwd=tmp_path)
    assert report.ok and ids(report) == []


def test_workspace_file_rules(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, 'name = "x"\n[workspace]\napps = ["apps/web", "apps/missing", "apps/web", "apps"]\n'
                                  'apply_migrations = "yes"\npersist_to = 3\nextra = 1\n')
    report = check_paths([ws], cwd=tmp_path)
    ws_report = report.files[0]
    assert ws_report.kind == "workspace"
    got = sorted((d.id, d.path, d.severity) for d in ws_report.errors + ws_report.warnings)
    assert got == sorted([
        ("CFE131", "workspace.apps[1]", "error"),
        ("CFE134", "workspace.apps[2]", "warning"),
        ("CFE131", "workspace.apps[3]", "error"),
        ("CFE133", "workspace.apply_migrations", "error"),
        ("CFE133", "workspace.persist_to", "error"),
        ("CFE132", "workspace.extra", "warning"),
        ("CFE132", "name", "warning"),
    ])
    assert all(d.line is not None for d in ws_report.errors + ws_report.warnings)
    bad = write(tmp_path / "ws2.toml", "[workspace]\napply_migrations = true\n")
    (error,) = check_paths([bad], cwd=tmp_path).files[0].errors
    assert error.id == "CFE130"


def test_workspace_request_body_limit(tmp_path: Path) -> None:
    make_workspace(tmp_path)
    head = '[workspace]\napps = ["apps/web", "apps/workflow"]\n'
    for value, expected in (('"200MB"', 200_000_000), ("1048576", 1048576)):
        ws = write(tmp_path / "wrangler.toml", f"{head}request_body_limit = {value}\n")
        report = check_paths([ws], cwd=tmp_path)
        assert report.ok and ids(report) == [] and report.workspace is not None
        assert report.workspace.request_body_limit == expected
    ws = write(tmp_path / "wrangler.toml", head)
    workspace = check_paths([ws], cwd=tmp_path).workspace
    assert workspace is not None and workspace.request_body_limit is None
    for bad in ('"lots"', "0", "true", '"-1MB"'):
        ws = write(tmp_path / "wrangler.toml", f"{head}request_body_limit = {bad}\n")
        (error,) = check_paths([ws], cwd=tmp_path).files[0].errors
        assert (error.id, error.path, error.line) == ("CFE133", "workspace.request_body_limit", 3)
        assert "should be a size in bytes" in error.message


def test_workspace_apps_may_name_config_files(tmp_path: Path) -> None:
    make_workspace(tmp_path)
    ws = write(tmp_path / "wrangler.toml", '[workspace]\napps = ["apps/web/wrangler.toml", "apps/workflow"]\n')
    report = check_paths([ws], cwd=tmp_path)
    assert report.ok and [a.name for a in report.apps] == ["web", "workflow"]
