"""`cf-emulator check [PATH ...] [--env NAME] [--format text|json|github]`.

Judges wrangler configs as wrangler does (Pages configs like ``wrangler pages functions
build-env``, Worker configs like ``wrangler deploy --dry-run``) plus our ``CFE1xx`` checks.
Exit codes: 0 no errors (warnings allowed), 1 errors, 2 usage or I/O problem.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from emulator.cli import EXIT_USAGE, run_verb
from emulator.config import ConfigLookupError, check_paths
from emulator.config.nesting import NESTING_ID
from emulator.config.render import FORMATS, render
from emulator.errors import CliError


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "check",
        help="validate wrangler.toml / wrangler.json / wrangler.jsonc configs as wrangler does",
        description=(
            "Validate wrangler configs with wrangler's verdicts and messages (Pages configs as "
            "`wrangler pages functions build-env` judges them, Worker configs as `wrangler deploy "
            "--dry-run`), plus cf-emulator checks with ids CFE1xx. Every finding has a line and "
            "column. Exit 0: no errors; 1: errors; 2: usage or I/O problem."),
    )
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="config file, folder (wrangler discovery upwards) or workspace file; "
                             "default: the current folder")
    parser.add_argument("-e", "--env", metavar="NAME", default=None,
                        help="environment to resolve ([env.NAME]); default CLOUDFLARE_ENV if set")
    parser.add_argument("--wrangler-only", action="store_true",
                        help="report only wrangler's own rules (no CFE1xx checks): the exit code is then "
                             "exactly wrangler's verdict")
    default_format = "github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text"
    parser.add_argument("--format", choices=FORMATS, default=default_format,
                        help="output format (default: github when GITHUB_ACTIONS=true, else text)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    env = args.env if args.env is not None else (os.environ.get("CLOUDFLARE_ENV") or None)
    try:
        report = check_paths([Path(p) for p in args.paths], env=env)
    except (ConfigLookupError, OSError, ValueError) as exc:  # no such path, unreadable, NUL bytes in a path
        raise CliError(str(exc), EXIT_USAGE) from None
    if getattr(args, "wrangler_only", False):
        # A file too deeply nested to judge (CFE100) stays an error: dropping it would pass a
        # file nobody checked.
        for f in report.files:
            f.errors = [d for d in f.errors if d.id in (None, NESTING_ID)]
            f.warnings = [d for d in f.warnings if d.id is None]
    sys.stdout.write(render(report, args.format))
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    """Run `check` alone (``python -m emulator.cli.check``), without the other verbs' imports."""
    parser = argparse.ArgumentParser(prog="cf-emulator")
    register(parser.add_subparsers(dest="verb"))
    args = parser.parse_args(["check", *(sys.argv[1:] if argv is None else argv)])
    return run_verb(args)


if __name__ == "__main__":
    from emulator.cli import exit_quietly

    sys.exit(exit_quietly(main))
