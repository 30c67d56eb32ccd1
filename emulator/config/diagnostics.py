"""Diagnostics as data: what a check found, where, and under which wrangler heading.

Wrangler collects messages into a tree of ``Diagnostics`` (a description, errors, warnings and
child diagnostics such as ``"env.staging" environment configuration``) and renders it at the
edge. We keep the same tree while validating (``DiagnosticTree``) so rendering can reproduce
wrangler's nesting, but also remember for every message the config key it is about, so the
flat ``Diagnostic`` records handed out carry a line and column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]
KeyPath = tuple[str | int, ...]


def format_key_path(path: KeyPath) -> str:
    """``("queues", "consumers", 0, "max_retries")`` → ``queues.consumers[0].max_retries``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


@dataclass
class Diagnostic:
    """One finding. ``message`` is wrangler's exact text for wrangler's rules.

    ``id`` is ``None`` for wrangler's own rules and ``"CFE1xx"`` for checks of ours; ``group``
    is the wrangler heading the message is printed under (``Processing wrangler.toml
    configuration:`` or ``Running configuration file validation for Pages:``) and
    ``context`` the nested child headings between that heading and the message.
    """

    message: str
    path: str = ""
    line: int | None = None
    column: int | None = None
    id: str | None = None
    severity: Severity = "error"
    group: str = ""
    context: tuple[str, ...] = ()
    key_path: KeyPath = field(default=(), repr=False, compare=False)

    def to_json(self) -> dict[str, object]:
        return {"message": self.message, "path": self.path, "line": self.line,
                "column": self.column, "id": self.id}


@dataclass
class _Entry:
    message: str
    key_path: KeyPath
    id: str | None = None


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def as_printed(message: str) -> str:
    """A message as wrangler prints it and as the oracle samples record it.

    Wrangler's renderer empties whitespace-only lines and the terminal output carries no
    trailing newline or ANSI styling; the recorded samples (e.g. the Durable Object migrations
    warning) drop the blank lines entirely. We hand out messages in that recorded form.
    """
    lines = [line.rstrip() for line in _ANSI.sub("", message).split("\n")]
    return "\n".join(line for line in lines if line)


class DiagnosticTree:
    """Wrangler's ``Diagnostics``: description, errors, warnings, children."""

    def __init__(self, description: str) -> None:
        self.description = description
        self.errors: list[_Entry] = []
        self.warnings: list[_Entry] = []
        self.children: list[DiagnosticTree] = []

    def error(self, message: str, key_path: KeyPath = (), id: str | None = None) -> None:
        self.errors.append(_Entry(message, key_path, id))

    def warn(self, message: str, key_path: KeyPath = (), id: str | None = None) -> None:
        self.warnings.append(_Entry(message, key_path, id))

    def add_child(self, child: DiagnosticTree) -> None:
        # Wrangler only keeps children that have something to say.
        if child.has_errors() or child.has_warnings():
            self.children.append(child)

    def has_errors(self) -> bool:
        return bool(self.errors) or any(c.has_errors() for c in self.children)

    def has_warnings(self) -> bool:
        return bool(self.warnings) or any(c.has_warnings() for c in self.children)

    def flatten(self, group: str | None = None, context: tuple[str, ...] = ()) -> list[Diagnostic]:
        """Depth-first, errors before warnings per node, as wrangler renders them."""
        heading = self.description if group is None else group
        out: list[Diagnostic] = []
        severities: tuple[Severity, Severity] = ("error", "warning")
        for severity, entries in zip(severities, (self.errors, self.warnings), strict=True):
            for e in entries:
                out.append(Diagnostic(message=as_printed(e.message), path=format_key_path(e.key_path),
                                      id=e.id, severity=severity,
                                      group=heading, context=context, key_path=e.key_path))
        for child in self.children:
            out.extend(child.flatten(heading, context + (child.description,)))
        return out
