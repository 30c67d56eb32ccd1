"""`cf-emulator` command line: argument parsing only; each verb calls into the package.

Verbs follow wrangler's (`dev`, `check`, `d1 execute`, `d1 migrations apply`, `queues list`,
`r2 object get`, `workflows instances list`). The platform-wide verbs live here (`check`,
`dev`); a binding type's verbs live in its package (``emulator/bindings/<type>/cli.py``)
and are found through the registry. Each module has a ``register(subparsers)`` function
that sets ``func`` on its parser; ``func(args)`` returns the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from emulator import __version__

# Platform-wide verbs; binding types add theirs from the registry.
VERB_MODULES = ("emulator.cli.check", "emulator.cli.dev")


def verb_modules() -> list[str]:
    """Every module that registers verbs: ours, then each binding type's ``cli`` (registry order)."""
    from pathlib import Path

    from emulator.bindings import BINDING_TYPES

    bindings = Path(__file__).resolve().parent.parent / "bindings"
    return [*VERB_MODULES, *(f"emulator.bindings.{name}.cli" for name in BINDING_TYPES
                             if (bindings / name / "cli.py").is_file())]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cf-emulator",
        description="Local, durable emulator of Cloudflare Pages, Workers, Queues, R2, D1 and Workflows.",
    )
    parser.add_argument("--version", action="version", version=f"cf-emulator {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND")
    for name in verb_modules():
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        code = func(args)
    except KeyboardInterrupt:
        return 130
    return int(code or 0)


def run() -> None:
    sys.exit(main())
