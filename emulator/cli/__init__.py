"""`cf-emulator` command line: argument parsing only; each verb calls into the package.

Verbs follow wrangler's (`dev`, `check`, `d1 execute`, `d1 migrations apply`, `queues list`,
`r2 object get`, `workflows instances list`). Each verb lives in its own module here with a
``register(subparsers)`` function that sets ``func`` on its parser; ``func(args)`` returns
the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from emulator import __version__

VERB_MODULES = ("check", "dev", "sync", "queues", "d1", "r2", "workflows")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cf-emulator",
        description="Local, durable emulator of Cloudflare Pages, Workers, Queues, R2, D1 and Workflows.",
    )
    parser.add_argument("--version", action="version", version=f"cf-emulator {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND")
    for name in VERB_MODULES:
        module = importlib.import_module(f"emulator.cli.{name}")
        module.register(sub)
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
