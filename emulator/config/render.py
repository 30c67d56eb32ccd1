"""Rendering a ``CheckReport``: wrangler-like text, JSON, or GitHub Actions annotations.

- ``text``: per file, wrangler's blocks — ``▲ [WARNING] Processing wrangler.toml
  configuration:`` / ``✘ [ERROR] ...`` followed by ``  - message`` items (continuation lines
  and nested env sections indented as wrangler's ``Diagnostics.render`` does; Pages rules under
  ``Running configuration file validation for Pages:``), each item followed by its location.
  Our own checks print as ``✘ [ERROR] [CFE101] message``.
- ``json``: ``{"ok", "files": [{"path", "kind", "errors": [...], "warnings": [...]}]}`` with
  ``message`` exactly wrangler's text (multi-line messages joined with ``\\n``).
- ``github``: ``::error file=…,line=…,col=…,title=…::…`` workflow commands.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from emulator.config.check import CheckReport, FileReport
from emulator.config.diagnostics import Diagnostic

FORMATS = ("text", "json", "github")

PAGES_CONSUMERS_MESSAGE = 'Configuration file for Pages projects does not support "queues.consumers"'
PAGES_CONSUMERS_HINT = (
    "Queue consumers belong in a Worker: Pages projects can only produce messages. Move the "
    "[[queues.consumers]] block to a Worker app's config (one with `main` and the `python_workers` "
    "flag) and keep only [[queues.producers]] in the Pages config."
)


def _shown(path: Path, cwd: Path | None = None) -> str:
    try:
        rel = os.path.relpath(path, cwd or Path.cwd())
    except ValueError:
        return str(path)
    return str(path) if rel.startswith(".." + os.sep + "..") else rel


def _where(diag: Diagnostic, file: str) -> str:
    if diag.line is None:
        return file
    return f"{file}:{diag.line}:{diag.column}"


def _indent_message(message: str, pad: str) -> list[str]:
    lines = message.split("\n")
    out = [f"{pad}- {lines[0]}"]
    out += [(pad + "  " + line) if line.strip() else "" for line in lines[1:]]
    return out


def _render_block(tag: str, diags: list[Diagnostic], file: str) -> list[str]:
    """One wrangler heading with its items (grouped by nested context, in order)."""
    out: list[str] = []
    by_group: dict[str, list[Diagnostic]] = {}
    for d in diags:
        by_group.setdefault(d.group, []).append(d)
    for group, items in by_group.items():
        if group:
            out.append(f"{tag} {group}")
            out.append("")
            open_context: tuple[str, ...] = ()
            for d in items:
                if d.context != open_context:
                    for depth, heading in enumerate(d.context):
                        if open_context[:depth + 1] != d.context[:depth + 1]:
                            out.append("  " + "  " * depth + f"- {heading}")
                    open_context = d.context
                pad = "  " + "  " * len(d.context)
                out += _indent_message(d.message, pad)
                out.append(f"{pad}  at {_where(d, file)}" + (f" ({d.path})" if d.path else ""))
            out.append("")
        else:
            for d in items:
                label = f"[{d.id}] " if d.id else ""
                lines = d.message.split("\n")
                out.append(f"{tag} {label}{lines[0]}")
                out += [("  " + line) if line.strip() else "" for line in lines[1:]]
                out.append("")
                out.append(f"    {_where(d, file)}" + (f" ({d.path})" if d.path else ""))
                out.append("")
    return out


def render_text(report: CheckReport, cwd: Path | None = None) -> str:
    out: list[str] = []
    for f in report.files:
        file = _shown(f.path, cwd)
        verdict = "ok" if f.ok else f"{len(f.errors)} error(s)"
        if f.warnings:
            verdict += f", {len(f.warnings)} warning(s)"
        out.append(f"{file} ({f.kind}): {verdict}")
        out.append("")
        for tag, diags in (("▲ [WARNING]", f.warnings), ("✘ [ERROR]", f.errors)):
            wrangler = [d for d in diags if d.id is None]
            ours = [d for d in diags if d.id is not None]
            out += _render_block(tag, wrangler, file)
            for d in ours:
                d_copy = Diagnostic(d.message, d.path, d.line, d.column, d.id, d.severity, "", ())
                out += _render_block(tag, [d_copy], file)
    errors = sum(len(f.errors) for f in report.files)
    warnings = sum(len(f.warnings) for f in report.files)
    out.append(f"{'✔' if report.ok else '✘'} {len(report.files)} file(s) checked: {errors} error(s), "
               f"{warnings} warning(s)")
    return "\n".join(out) + "\n"


def report_to_json(report: CheckReport, cwd: Path | None = None) -> dict[str, object]:
    def file_json(f: FileReport) -> dict[str, object]:
        return {"path": _shown(f.path, cwd), "kind": f.kind,
                "errors": [d.to_json() for d in f.errors],
                "warnings": [d.to_json() for d in f.warnings]}
    return {"ok": report.ok, "files": [file_json(f) for f in report.files]}


def render_json(report: CheckReport, cwd: Path | None = None) -> str:
    return json.dumps(report_to_json(report, cwd), indent=2, ensure_ascii=False) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(report: CheckReport, cwd: Path | None = None) -> str:
    lines: list[str] = []
    for f in report.files:
        file = _shown(f.path, cwd)
        for command, diags in (("error", f.errors), ("warning", f.warnings)):
            for d in diags:
                props = [f"file={_escape_property(file)}"]
                if d.line is not None:
                    props.append(f"line={d.line}")
                    props.append(f"col={d.column}")
                title = d.id or ("wrangler: " + (d.group.rstrip(":") or "config"))
                props.append(f"title={_escape_property(title)}")
                lines.append(f"::{command} {','.join(props)}::{_escape_data(d.message)}")
    return "\n".join(lines) + ("\n" if lines else "")


def render(report: CheckReport, fmt: str, cwd: Path | None = None) -> str:
    if fmt == "json":
        return render_json(report, cwd)
    if fmt == "github":
        return render_github(report, cwd)
    return render_text(report, cwd)


def render_for_dev(report: CheckReport) -> str:
    """``render_text`` as `dev` shows it (at start and on a config reload), with what to do
    about the one mistake wrangler's message leaves unexplained: consumers in a Pages config."""
    text = render_text(report).rstrip("\n")
    if PAGES_CONSUMERS_MESSAGE in text:
        text += "\n\n" + PAGES_CONSUMERS_HINT
    return text
