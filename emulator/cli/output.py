"""Terminal output of the CLI verbs: tables, JSON, messages, progress bars and prompts.

Every verb prints through this module, never through ``rich`` directly, so the rules of
docs/cli.md ("Output") hold everywhere:

- **JSON when asked** (``--json``), and where wrangler switches to JSON by itself when
  stdout is not a terminal (``d1 execute``), the verb passes ``when_piped=True`` to
  ``wants_json``;
- **tables** drawn as wrangler draws them (a boxed table, one row per record), fitted to
  the terminal's width on a terminal (long cells wrap inside their column), at their
  natural width when piped; ``None`` is shown as ``null``, as wrangler's ``String(value)``
  shows SQL NULL;
- **colour** only on a terminal, and never when ``NO_COLOR`` is set (https://no-color.org);
- **messages**: results on stdout, progress and diagnostics on stderr, wrangler's prefixes
  (``✘ [ERROR]``, ``▲ [WARNING]``);
- **progress bars** on stderr, only when stderr is a terminal (transient: gone when done),
  for uploads, downloads, ``--file`` execution and bulk writes;
- **prompts** only when stdin and stdout are terminals; otherwise the verb must be told
  (``--force``, ``-y``), as wrangler's non-interactive mode.

``rich`` is imported on first use, so verbs that print a line or JSON never pay for it.
"""

from __future__ import annotations

import json
import os
import sys
from types import TracebackType
from typing import IO, Any
from collections.abc import Iterable, Sequence

from emulator.errors import CliError


def _isatty(stream: IO[Any]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def is_terminal(stream: IO[Any] | None = None) -> bool:
    """Whether ``stream`` (default: stdout) is a terminal."""
    return _isatty(stream if stream is not None else sys.stdout)


def colour_allowed(stream: IO[Any]) -> bool:
    """Colour only on a terminal, never with ``NO_COLOR`` (any non-empty value) or TERM=dumb."""
    return is_terminal(stream) and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def interactive() -> bool:
    """Whether the user can answer a prompt (wrangler's test: stdin and stdout are terminals)."""
    return is_terminal(sys.stdin) and is_terminal(sys.stdout)


def wants_json(args: Any, when_piped: bool = False) -> bool:
    """JSON output: ``--json``, or (``when_piped``, wrangler's rule for some verbs) stdout
    not being a terminal."""
    return bool(getattr(args, "json", False)) or (when_piped and not is_terminal())


# --- plain values ------------------------------------------------------------------------------
def cell(value: Any) -> str:
    """A value as a table shows it: wrangler's ``String(value)`` (NULL → ``null``)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "[" + ", ".join(str(b) for b in bytes(value)) + "]"
    return json.dumps(value, default=str, ensure_ascii=False)


def print_json(value: Any) -> None:
    """``value`` as indented JSON on stdout (wrangler's ``JSON.stringify(value, null, 2)``)."""
    sys.stdout.write(json.dumps(value, indent=2, default=str, ensure_ascii=False) + "\n")


def say(text: str = "") -> None:
    """A line of the verb's result on stdout."""
    sys.stdout.write(text + "\n")


def info(text: str) -> None:
    """A line about what the verb does, on stderr (never mixed into a piped result)."""
    sys.stderr.write(text + "\n")


def _prefixed(prefix: str, style: str, text: str) -> None:
    stream = sys.stderr
    if colour_allowed(stream):
        codes = {"red": "31", "yellow": "33", "green": "32"}
        stream.write(f"\x1b[{codes[style]}m{prefix}\x1b[0m {text}\n")
    else:
        stream.write(f"{prefix} {text}\n")


def error(text: str) -> None:
    """``✘ [ERROR] text`` on stderr. Verbs raise ``CliError`` instead of calling this: the
    CLI's main reports it (``emulator.cli.report_error``)."""
    _prefixed("✘ [ERROR]", "red", text)


def warn(text: str) -> None:
    _prefixed("▲ [WARNING]", "yellow", text)


def success(text: str) -> None:
    """A closing line of success on stdout (green on a terminal)."""
    if colour_allowed(sys.stdout):
        sys.stdout.write(f"\x1b[32m{text}\x1b[0m\n")
    else:
        sys.stdout.write(text + "\n")


# --- a verb's result: JSON when asked --------------------------------------------------------
def announce(args: Any, text: str) -> None:
    """A line on stdout saying what the verb is about to do; none when the result is JSON."""
    if not wants_json(args):
        say(text)


def outcome(args: Any, document: Any, text: str | None = None) -> None:
    """A verb's result: ``document`` as JSON when the flags ask for it (``wants_json``),
    else ``text`` on stdout (nothing when None)."""
    if wants_json(args):
        print_json(document)
    elif text is not None:
        say(text)


# --- tables ------------------------------------------------------------------------------------
def _console(stream: IO[Any], fit: bool) -> Any:
    from rich.console import Console

    terminal = is_terminal(stream)
    colour = colour_allowed(stream)
    return Console(
        file=stream, force_terminal=terminal, no_color=not colour, color_system="auto" if colour else None,
        # On a terminal the table fits its width; piped, nothing is wrapped (grep, cut).
        width=None if (terminal and fit) else 1_000_000,
        highlight=False, markup=False, emoji=False, soft_wrap=False)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None, title: str | None = None,
          stream: IO[Any] | None = None) -> None:
    """Rows as wrangler's boxed table (columns: the given ones, else the first row's keys)."""
    from rich import box
    from rich.table import Table

    out = stream if stream is not None else sys.stdout
    heads = list(columns) if columns is not None else (list(rows[0].keys()) if rows else [])
    console = _console(out, fit=True)
    colour = colour_allowed(out)
    if title:
        # Above the table, whole (wrangler prints a shortened query dimmed, then the table).
        out.write(f"\x1b[2m{title}\x1b[0m\n" if colour else title + "\n")
    grid = Table(box=box.SQUARE, header_style="bold blue" if colour else None,
                 border_style="bright_black" if colour else None, show_edge=True, pad_edge=True)
    for head in heads:
        grid.add_column(head, overflow="fold")
    for row in rows:
        grid.add_row(*(cell(row.get(h)) for h in heads))
    console.print(grid)


def fields(pairs: Iterable[tuple[str, Any]]) -> None:
    """``Label:  value`` lines (a record described on its own), labels aligned."""
    items = [(label, cell(value)) for label, value in pairs]
    width = max((len(label) for label, _ in items), default=0) + 1
    bold = colour_allowed(sys.stdout)
    for label, value in items:
        shown = f"\x1b[1m{(label + ':').ljust(width)}\x1b[0m" if bold else (label + ":").ljust(width)
        sys.stdout.write(f"{shown}  {value}\n")


# --- progress ----------------------------------------------------------------------------------
class Progress:
    """A progress bar on stderr (only when stderr is a terminal; otherwise it does nothing).

    ``total`` None shows a spinner (work whose size is unknown, e.g. a running `dev`
    executing a file). ``unit="bytes"`` shows sizes and speed. Safe to advance from
    another thread (a D1 worker thread reporting statements).
    """

    def __init__(self, description: str, total: int | None = None, unit: str = "") -> None:
        self.description = description
        self.total = total
        self.unit = unit
        self.enabled = is_terminal(sys.stderr)
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> Progress:
        if not self.enabled:
            return self
        from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, Progress as RichProgress,
                                   SpinnerColumn, TextColumn, TimeElapsedColumn, TransferSpeedColumn)

        columns: list[Any] = [SpinnerColumn() if self.total is None else TextColumn(""),
                              TextColumn("{task.description}")]
        if self.total is not None:
            columns.append(BarColumn())
            columns += ([DownloadColumn(), TransferSpeedColumn()] if self.unit == "bytes"
                        else [MofNCompleteColumn(), TextColumn(self.unit)])
        columns.append(TimeElapsedColumn())
        self._progress = RichProgress(*columns, console=_console(sys.stderr, fit=True), transient=True)
        self._progress.start()
        self._task = self._progress.add_task(self.description, total=self.total)
        return self

    def advance(self, amount: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, amount)

    def update(self, completed: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=completed)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


# --- prompts -----------------------------------------------------------------------------------
class NotInteractive(CliError):
    """A prompt was needed but nobody can answer it (stdin or stdout is not a terminal).

    Verbs that prompt catch it and name the flag that answers instead (``--force``); one
    that does not still ends with this message, not a traceback.
    """

    def __init__(self, question: str) -> None:
        super().__init__(f"This needs an answer, but stdin or stdout is not a terminal: {question}")
        self.question = question


def ask(question: str) -> str:
    """The user's answer to ``question`` (raises ``NotInteractive`` when not at a terminal)."""
    if not interactive():
        raise NotInteractive(question)
    return input(f"? {question} ").strip()


def confirm(question: str) -> bool:
    """A yes/no question, default no."""
    return ask(f"{question} (y/N)").lower() in ("y", "yes")
