"""``check_paths``: judge config files as wrangler does, plus our own checks, in one pass.

Each app config is judged the way the platform's own tooling judges it:

- a Pages config (``pages_build_output_dir`` present) like ``wrangler pages functions
  build-env`` (``readPagesConfig``): normalize-and-validate, and only if that has no errors the
  Pages rules;
- a Worker config like ``wrangler deploy --dry-run`` (``readConfig``): normalize-and-validate;
  a Python ``main`` without the ``python_workers`` flag makes wrangler throw that one error
  instead of printing its diagnostics, and so do we. Then deploy's own one-off errors, in
  wrangler's order: no entry point, no ``name``, no ``compatibility_date``, classes not exported.

``command="dev"`` judges as ``wrangler dev`` instead, where a missing ``compatibility_date``
is a warning and today's date is used (what `cf-emulator dev` and its reloads need).

Then our ``CFE1xx`` rules (``emulator.config.rules`` and each binding type's
``check_app``/``check_set``) run per app and over the whole set of
checked apps. A workspace file contributes its own report and every app it names.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from collections.abc import Sequence

from emulator.config.diagnostics import Diagnostic, DiagnosticTree
from emulator.config.jsvalues import UNDEF
from emulator.config.loader import (
    ConfigLookupError,
    ParsedFile,
    ParseProblem,
    app_from_config,
    find_config,
    is_workspace,
    read_config_file,
)
from emulator.config.model import AppConfig, WorkspaceConfig
from emulator.config.nesting import MAX_DEPTH_MESSAGE, NESTING_ID
from emulator.config.pages import validate_pages_config
from emulator.config.rules import check_entry_point, check_entrypoint_exports
from emulator.config.rules import compatibility_date_defaulted, compatibility_date_required
from emulator.config.validation import Normalizer, config_file_name
from emulator.config.workspace import parse_workspace

FileKind = Literal["pages", "worker", "workspace"]
# Which wrangler command's judgement a check mirrors (see the module docstring).
Command = Literal["deploy", "dev"]
OURS_HEADING = "cf-emulator checks:"
PYTHON_FLAG_MESSAGE = "The `python_workers` compatibility flag is required to use Python."
NAME_REQUIRED_MESSAGE = ("You need to provide a name when publishing a worker. Either pass it as a cli arg with "
                         '`--name <name>` or in your config file as `name = "<name>"`')


@dataclass
class FileReport:
    path: Path
    kind: FileKind
    errors: list[Diagnostic] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    app: AppConfig | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class CheckReport:
    files: list[FileReport] = field(default_factory=list)
    workspace: WorkspaceConfig | None = None

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.files)

    @property
    def apps(self) -> list[AppConfig]:
        return [f.app for f in self.files if f.app is not None]

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return [d for f in self.files for d in (*f.errors, *f.warnings)]


@dataclass
class _AppCheck:
    parsed: ParsedFile
    report: FileReport
    trees: list[DiagnosticTree]
    # name, our diagnostics, and per binding type the facts its `check_set` needs
    facts: tuple[str, DiagnosticTree, dict[str, Any]] | None = None
    config: dict[str, Any] | None = None


def _display(path: Path, cwd: Path) -> str:
    try:
        return os.path.relpath(path, cwd)
    except ValueError:
        return str(path)


def _resolve_target(path: Path) -> Path:
    if not path.exists():
        raise ConfigLookupError(f"{path}: no such file or directory.")
    if path.is_dir():
        found = find_config(path)
        if found is None:
            raise ConfigLookupError(
                f"No wrangler.json, wrangler.jsonc or wrangler.toml found in {path} or any folder above it.")
        return found
    return path.resolve()


def _parse_problem_report(parsed: ParsedFile, kind: FileKind) -> FileReport:
    assert parsed.problem is not None
    diag = Diagnostic(message=parsed.problem.message, path="", line=parsed.problem.line,
                      column=parsed.problem.column, id=parsed.problem.id, severity="error", group="")
    return FileReport(parsed.path, kind, errors=[diag])


def _check_app(parsed: ParsedFile, env: str | None, cwd: Path, today: str, command: Command) -> _AppCheck:
    raw = parsed.raw or {}
    is_pages = raw.get("pages_build_output_dir", UNDEF) is not UNDEF or parsed.mentions_pages
    report = FileReport(parsed.path, "pages" if is_pages else "worker")
    if parsed.problem is not None:
        return _AppCheck(parsed, _parse_problem_report(parsed, report.kind), [])
    normalizer = Normalizer(parsed.path, cwd)
    config, tree = normalizer.normalize(raw, env, _display(parsed.path, cwd))
    trees = [tree]
    main, flags = config.get("main"), config.get("compatibility_flags")
    if isinstance(main, str) and main.endswith(".py") and not (
            isinstance(flags, list) and "python_workers" in flags):
        # wrangler's applyPythonConfig throws this UserError in place of all diagnostics.
        only = DiagnosticTree("")
        only.error(PYTHON_FLAG_MESSAGE, ("compatibility_flags",) if "compatibility_flags" in raw else ("main",))
        trees = [only]
    elif is_pages and not tree.has_errors():
        trees.append(validate_pages_config(config, raw, env))
    elif not is_pages and not tree.has_errors():
        # What `wrangler deploy --dry-run` checks next, before bundling.
        deploy = DiagnosticTree("")
        file_name = config_file_name(parsed.path)
        if check_entry_point(deploy, config, file_name, today):
            pass
        elif not (isinstance(config.get("name"), str) and config["name"]):
            deploy.error(NAME_REQUIRED_MESSAGE, ("name",) if "name" in raw else ())
        elif not config.get("compatibility_date") and command == "deploy":
            # Before bundling: wrangler refuses to upload a Worker without a date (the
            # validation above has already rejected an empty or malformed one).
            deploy.error(compatibility_date_required(file_name, today))
        else:
            if not config.get("compatibility_date"):
                # `wrangler dev` runs the Worker with today's date and says so.
                deploy.warn(compatibility_date_defaulted(file_name, today))
                config["compatibility_date"] = today
            check_entrypoint_exports(deploy, config, cwd)
        trees.append(deploy)
    ours = DiagnosticTree(OURS_HEADING)
    name: str = config["name"] if isinstance(config.get("name"), str) else parsed.path.parent.name
    from emulator.bindings import binding_types

    facts = {t.name: t.check_app(ours, raw, config, env, is_pages, parsed.path) for t in binding_types()}
    trees.append(ours)
    return _AppCheck(parsed, report, trees, (name, ours, facts), config)


def _check_app_guarded(parsed: ParsedFile, env: str | None, cwd: Path, today: str, command: Command) -> _AppCheck:
    """``_check_app``, with a diagnostic in place of a traceback should a check still recurse
    too deep: the nesting limits (emulator.config.nesting) are meant to make this unreachable."""
    try:
        return _check_app(parsed, env, cwd, today, command)
    except RecursionError:
        kind: FileKind = "pages" if parsed.mentions_pages or (
            parsed.raw is not None and "pages_build_output_dir" in parsed.raw) else "worker"
        failed = ParsedFile(parsed.path, parsed.format, None, ParseProblem(MAX_DEPTH_MESSAGE, 1, 1, NESTING_ID))
        return _AppCheck(failed, _parse_problem_report(failed, kind), [])


def _finish(check: _AppCheck, env: str | None) -> None:
    report, parsed = check.report, check.parsed
    for tree in check.trees:
        for diag in tree.flatten():
            diag.line, diag.column = parsed.locate(diag.key_path)
            (report.errors if diag.severity == "error" else report.warnings).append(diag)
    if not report.errors and check.config is not None and parsed.raw is not None:
        report.app = app_from_config(check.config, parsed.path, env, parsed.raw)


def check_paths(paths: Sequence[Path | str], env: str | None = None, cwd: Path | None = None, *,
                command: Command = "deploy", today: str | None = None) -> CheckReport:
    """Check config files, folders (wrangler discovery) or workspace files.

    Raises ``ConfigLookupError`` for a path that does not exist or a folder with no config
    (a usage/I-O problem, exit code 2 for the CLI); everything about the files' contents is
    reported as diagnostics, never raised. ``command`` picks ``wrangler deploy``'s or
    ``wrangler dev``'s judgement; ``today`` (``YYYY-MM-DD``, default today in UTC as wrangler
    takes it) is the date wrangler suggests or, for ``dev``, uses when a config has none.
    """
    cwd = (cwd or Path.cwd()).resolve()
    today = today or datetime.datetime.now(datetime.UTC).date().isoformat()
    targets = [_resolve_target(Path(p) if Path(p).is_absolute() else cwd / p) for p in (paths or [cwd])]
    report = CheckReport()
    app_files: list[ParsedFile] = []
    seen: set[Path] = set()
    saw_workspace = False
    for target in targets:
        if target in seen:
            continue
        seen.add(target)
        parsed = read_config_file(target)
        if is_workspace(parsed.raw):
            saw_workspace = True
            tree = DiagnosticTree(OURS_HEADING)
            assert parsed.raw is not None
            workspace = parse_workspace(parsed.raw, target, tree)
            if report.workspace is None:
                report.workspace = workspace
            ws_report = FileReport(target, "workspace")
            for diag in tree.flatten():
                diag.line, diag.column = parsed.locate(diag.key_path)
                (ws_report.errors if diag.severity == "error" else ws_report.warnings).append(diag)
            report.files.append(ws_report)
            for app_path in workspace.apps:
                if app_path not in seen:
                    seen.add(app_path)
                    app_files.append(read_config_file(app_path))
        elif parsed.raw is None and parsed.problem is not None and parsed.format == "toml" and \
                parsed.mentions_workspace:
            report.files.append(_parse_problem_report(parsed, "workspace"))
        else:
            app_files.append(parsed)
    checks = [_check_app_guarded(parsed, env, cwd, today, command) for parsed in app_files]
    checked = [c.facts for c in checks if c.facts is not None]
    # Rules over the set of apps (queue producer/consumer pairing) only make sense when a
    # set is checked: a workspace, or two or more configs at once.
    from emulator.bindings import binding_types

    for kind in binding_types():
        kind.check_set([(name, tree, facts[kind.name]) for name, tree, facts in checked],
                       cross_warnings=saw_workspace or len(checked) >= 2)
    for check in checks:
        _finish(check, env)
        report.files.append(check.report)
    return report

