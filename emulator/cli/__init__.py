"""`cf-emulator` command line: argument parsing only; each verb calls into the package.

Verbs follow wrangler's (`dev`, `check`, `d1 execute`, `d1 migrations apply`, `queues list`,
`r2 object get`, `workflows instances list`). The platform-wide verbs live here (`check`,
`dev`); a binding type's verbs live in its package (``emulator/bindings/<type>/cli.py``),
under a top-level command named after the type (``cf-emulator queues ...``), and are found
through the registry. Each module has a ``register(subparsers)`` function that sets
``func`` on its parser; ``func(args)`` returns the exit code. Output goes through
``emulator.cli.output`` (tables, JSON, colour, progress; docs/cli.md, "Output").

Start-up time is part of the interface (`check` in well under 0.15 s, bench/startup.py):
when the command line names a verb, only that verb's module is imported and registered;
``--help`` and unknown words register them all. Verb modules import what their work
needs inside the functions that do it.

Exit codes (docs/cli.md): 0 ok, 1 an error the verb reported, 2 bad usage, 130 interrupted
by Ctrl-C, 141 stdout closed early (``| head``). Interrupts and closed pipes never show
a traceback.

Errors take one path: a verb raises ``CliError(message, exit_code)`` (turning the errors of
what it calls into one), and ``main`` alone prints it (``report_error``): wrangler's
``✘ [ERROR] <message>`` on stderr, or, when the verb's flags ask for JSON, the verb's JSON
error document (``JsonErrors``, given to the parser with ``set_defaults(json_errors=...)``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from dataclasses import dataclass
from typing import Any, Literal
from collections.abc import Callable, Sequence

from emulator import __version__
from emulator.errors import CliError

# Platform-wide verbs; binding types add theirs from the registry.
VERB_MODULES = ("emulator.cli.check", "emulator.cli.dev", "emulator.cli.sync")


def verb_modules() -> list[str]:
    """Every module that registers verbs: ours, then each binding type's ``cli`` (registry order)."""
    return list(_verbs().values())


def _verbs() -> dict[str, str]:
    """Top-level command → the module that registers it."""
    from pathlib import Path

    from emulator.bindings import BINDING_TYPES

    bindings = Path(__file__).resolve().parent.parent / "bindings"
    verbs = {module.rsplit(".", 1)[1]: module for module in VERB_MODULES}
    verbs.update((name, f"emulator.bindings.{name}.cli") for name in BINDING_TYPES
                 if (bindings / name / "cli.py").is_file())
    return verbs


EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
# 128 + the signal's number, as shells report a command a signal stopped.
EXIT_INTERRUPTED = 130  # SIGINT (Ctrl-C)
EXIT_BROKEN_PIPE = 141  # SIGPIPE: whoever read our output went away


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``argv`` naming a verb, only that verb is registered."""
    parser = argparse.ArgumentParser(
        prog="cf-emulator",
        description="Local, durable emulator of Cloudflare Pages, Workers, Queues, R2, D1 and Workflows.",
        epilog="Exit codes: 0 ok, 1 error, 2 bad usage, 130 interrupted (Ctrl-C), 141 output pipe closed. "
               "See docs/cli.md.",
    )
    parser.add_argument("--version", action="version", version=f"cf-emulator {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND")
    verbs = _verbs()
    first = next((a for a in argv or () if not a.startswith("-")), None)
    for name in [verbs[first]] if first in verbs else verbs.values():
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return EXIT_USAGE
    return run_verb(args)


def run_verb(args: argparse.Namespace) -> int:
    """Run the verb ``args`` were parsed for: its exit code, its ``CliError`` reported."""
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except CliError as exc:
        return report_error(args, exc)
    finally:
        # A verb that worked on the files held the state directory; the next process may have it.
        common = sys.modules.get("emulator.cli._common")
        if common is not None:
            common.release_state_dirs()


@dataclass(frozen=True)
class JsonErrors:
    """How a verb reports a failure when its flags ask for JSON.

    wrangler's shapes differ per verb (``d1 execute --json`` prints ``{"error": {"text":
    ...}}``), so each verb that has one says so on its parser:
    ``parser.set_defaults(json_errors=JsonErrors(...))``. Verbs without one report errors as
    text whatever their flags.
    """

    wanted: Callable[[argparse.Namespace], bool]  # the verb's flags ask for JSON
    document: Callable[[str], dict[str, Any]]  # the message as the verb's JSON error
    stream: Literal["stdout", "stderr"] = "stdout"
    indent: int | None = 2  # None: one line (a verb whose output is JSON lines)


def report_error(args: argparse.Namespace, exc: CliError) -> int:
    """The one place a verb's failure reaches the user; returns the exit code."""
    json_errors: JsonErrors | None = getattr(args, "json_errors", None)
    if json_errors is not None and json_errors.wanted(args):
        stream = sys.stdout if json_errors.stream == "stdout" else sys.stderr
        stream.write(json.dumps(json_errors.document(exc.message), indent=json_errors.indent,
                                ensure_ascii=False) + "\n")
        stream.flush()
    elif exc.rendered:
        sys.stderr.write(exc.message.rstrip("\n") + "\n")
    else:
        from emulator.cli import output

        output.error(exc.message)
    return exc.exit_code


def discard_stdout() -> None:
    """Point stdout at the null device: its reader is gone.

    Python would otherwise report the closed pipe again, as a traceback, when it flushes
    stdout at exit (the recipe of the ``signal`` module's documentation, "Note on SIGPIPE").
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real stdout (replaced by a test, or closed)
        pass


def exit_quietly(entry: Callable[[], int]) -> int:
    """Run ``entry`` as a whole process: its exit code, never a traceback for Ctrl-C or a
    closed stdout."""
    try:
        try:
            code = entry()
        finally:
            sys.stdout.flush()  # buffered output meets a closed pipe here, not at exit
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        discard_stdout()
        return EXIT_BROKEN_PIPE
    return code


def run() -> None:
    sys.exit(exit_quietly(main))
