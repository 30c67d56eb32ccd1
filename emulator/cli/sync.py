"""`cf-emulator sync`: install the apps' `pyproject.toml` dependencies ahead of `dev`.

pywrangler's verb of the same name vendors a Worker's ``[project] dependencies``; here it
installs them where `cf-emulator dev` looks (``<state>/python-deps/<key>/``), so the next
`dev` starts without installing. Argument parsing and output only: the work is
``Emulator.install_dependencies``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from emulator.cli import EXIT_USAGE, JsonErrors
from emulator.errors import CliError
from emulator.logs import ConsolePrinter, EventLog, LogRecord

DESCRIPTION = """\
Install the Python packages that the hosted apps declare in [project] dependencies of the
pyproject.toml next to their wrangler config, as `cf-emulator dev` would at start: for
these apps only (never into cf-emulator's own environment), cached under
<state>/python-deps/ by the set's hash. Apps whose requirements cannot share one
interpreter are refused, naming the package and both requirements.

What is synced: the same apps `cf-emulator dev` would host (-c paths, else the nearest
wrangler config upward; a workspace file means all its apps).
Exit codes: 0 installed or already cached, 1 a config, conflict or install error,
2 no config found.
"""


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sync", help="install the apps' pyproject.toml dependencies (like pywrangler sync)",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-c", "--config", metavar="PATH", action="append", default=None,
                        help="app config, app folder or workspace file; repeat for several apps")
    parser.add_argument("-e", "--env", metavar="NAME", default=None,
                        help="wrangler environment to use ([env.NAME] sections)")
    parser.add_argument("--persist-to", metavar="DIR", default=None,
                        help="state directory (default: .emulator next to the workspace or config)")
    parser.add_argument("--force", action="store_true", help="install again even when the set is cached")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of progress lines")
    parser.set_defaults(func=run_sync, json_errors=JsonErrors(lambda args: bool(args.json),
                                                              lambda text: {"ok": False, "error": text}))


def run_sync(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    from emulator.cli.dev import config_paths

    out = stdout or sys.stdout
    paths = config_paths(args)
    if paths is None:
        raise CliError("No wrangler.toml, wrangler.json or wrangler.jsonc found in this folder or its parents. "
                       "Run `cf-emulator sync` in an app folder or pass -c PATH.", EXIT_USAGE)
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise CliError(f"{missing[0]} does not exist.", EXIT_USAGE)
    return asyncio.run(_sync(args, paths, out))


async def _sync(args: argparse.Namespace, paths: list[Path], out: TextIO) -> int:
    from emulator.emulator import ConfigError, Emulator, StartError
    from emulator.runtime.dependencies import shown_path

    log = EventLog()
    notes: list[LogRecord] = []
    if args.json:
        log.subscribe(lambda r: notes.append(r) if r.level in ("warn", "error") else None)
    else:
        log.subscribe(ConsolePrinter("text", "info", stream=out))
    emulator = Emulator(paths, state_dir=Path(args.persist_to) if args.persist_to else None, env=args.env, log=log)
    try:
        installed = await emulator.install_dependencies(force=args.force)
    except ConfigError as exc:
        # `check`'s rendering already carries wrangler's `✘ [ERROR]` headings.
        raise CliError(exc.diagnostics, rendered=exc.report is not None) from None
    except StartError as exc:
        raise CliError(str(exc)) from None
    plan = installed.plan
    if args.json:
        out.write(json.dumps({
            "ok": True,
            "folder": str(installed.folder) if installed.folder else None,
            "cached": installed.cached,
            "apps": [{"name": a.app, "pyproject": str(a.pyproject), "requirements": [str(r) for r in a.requirements]}
                     for a in plan.apps],
            "packages": [{"name": d.name, "version": d.version, "pure": d.pure}
                         for d in installed.distributions.values()],
            "from_environment": [{"name": d.name, "version": d.version} for d in plan.from_environment.values()],
            "warnings": [r.message for r in notes],
        }, indent=2) + "\n")
        return 0
    if not plan.apps:
        print("No app has a pyproject.toml next to its wrangler config: nothing to install.", file=out)
    elif installed.folder is None:
        print("✔ Every requirement is met by cf-emulator's own environment: nothing to install.", file=out)
    else:
        state = "already installed" if installed.cached else "installed"
        print(f"✔ {len(installed.distributions)} package(s) {state} in {shown_path(installed.folder)} for "
              + ", ".join(a.app for a in plan.apps if a.requirements), file=out)
    return 0
