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
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Callable, Sequence

from emulator import __version__

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
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        code = func(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:
        # The state-directory plumbing is imported only by verbs that use it (`check` never
        # does: start-up time), so its error is recognised through the loaded module.
        common = sys.modules.get("emulator.cli._common")
        if common is not None and isinstance(exc, common.StateDirBusy):
            print(f"✘ [ERROR] {exc}", file=sys.stderr)
            return EXIT_ERROR
        raise
    finally:
        # A verb that worked on the files held the state directory; the next process may have it.
        common = sys.modules.get("emulator.cli._common")
        if common is not None:
            common.release_state_dirs()
    return int(code or 0)


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
