"""`cf-emulator dev`: host the workspace's apps (or the given configs) in one process.

Argument parsing and the process shell only: signals, console output and exit codes. The
work is ``emulator.emulator.Emulator``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import signal
import sys
from pathlib import Path
from typing import Any, TextIO

from emulator.logs import ConsolePrinter, LogRecord

DESCRIPTION = """\
Host Worker and Pages apps written in Python in one aiohttp process, wired to the same
queues, R2 buckets, D1 databases and workflows (resources with the same name are shared).

What is hosted:
  - with -c/--config (repeatable, like wrangler's multi-config dev): those configs, or the
    apps of a workspace file given with -c;
  - otherwise the nearest wrangler.toml / wrangler.json / wrangler.jsonc from the current
    folder upward: a workspace file ([workspace] apps = [...]) hosts all its apps, an app
    config hosts that app alone.

Each app gets its own port: its [dev] port, else --port (default 8787) counting up. At
start one line per app is printed, `ready: <name> http://127.0.0.1:<port>`, then the
S3 endpoint's address. Every port also serves:
  /_emulator/health            JSON: apps (url, kind, bindings), S3 endpoint, state dir, plugins
  /_emulator/<binding>/...     inspection API of each binding type (queues, r2, d1, workflows)
  /__scheduled?cron=...        fire a Worker's scheduled handler (also /cdn-cgi/handler/scheduled;
                               optional &time=<ms since epoch>)

Editing an app's Python files or its config reloads that app only, keeping queue, R2, D1
and workflow state; on a syntax or config error the last good version keeps serving.
Ctrl-C / SIGTERM stops gracefully: ports close, in-flight batches get a bounded time to
finish, and unfinished work stays on disk for redelivery at the next start.
Exit codes: 0 after a clean stop, 1 when a config or app fails to load, 2 on bad options.
"""


class DevConsole(ConsolePrinter):
    """The console of `dev`: the `ready:` lines always show, whatever ``--log-level``."""

    def __call__(self, record: LogRecord) -> None:
        # Cheapest test first: with --log-level above info, the per-request lines stop here.
        if record.source == "http" and record.level == "info" and self.min_level > 20:
            return
        if record.source == "r2" and record.message.startswith("S3 endpoint:"):
            return  # `dev` prints the address itself, after the `ready:` lines
        if record.source == "dev" and record.level == "info" and self.min_level > 20:
            ConsolePrinter(self.fmt, "info", self.stream)(record)
            return
        super().__call__(record)


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "dev", help="host the apps locally with hot reload",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-c", "--config", metavar="PATH", action="append", default=None,
                        help="app config, app folder or workspace file; repeat to host several apps")
    parser.add_argument("-e", "--env", metavar="NAME", default=None,
                        help="wrangler environment to use ([env.NAME] sections, .dev.vars.NAME)")
    parser.add_argument("--var", metavar="KEY:VALUE", nargs="+", action="extend", default=None,
                        help="set an env variable (a string) for every app, over its vars and .dev.vars; "
                             "e.g. --var GIT_HASH:$(git rev-parse HEAD) DEBUG:1")
    parser.add_argument("--ip", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 exposes the apps to the network)")
    parser.add_argument("--port", type=int, default=None,
                        help="port of the first app without a [dev] port; others count up (default 8787; "
                             "0 = a free port for every app)")
    parser.add_argument("--s3-port", type=int, default=0, metavar="PORT",
                        help="port of the S3-compatible endpoint for R2 buckets (default: a free port)")
    parser.add_argument("--no-s3", action="store_true", help="do not start the S3-compatible endpoint")
    parser.add_argument("--persist-to", metavar="DIR", default=None,
                        help="state directory (default: .emulator next to the workspace or config)")
    parser.add_argument("--log-format", choices=("text", "json"), default="text",
                        help="text (wrangler-like lines) or json (one object per line, for machines)")
    parser.add_argument("--log-level", choices=("debug", "info", "warn", "error"), default="info",
                        help="lowest level printed (default info)")
    parser.add_argument("--no-watch", dest="watch", action="store_false",
                        help="do not reload apps when their files change")
    migrations = parser.add_mutually_exclusive_group()
    migrations.add_argument("--apply-migrations", dest="apply_migrations", action="store_const", const=True,
                            default=None, help="apply pending D1 migrations at start")
    migrations.add_argument("--no-apply-migrations", dest="apply_migrations", action="store_const",
                            const=False, help="do not apply D1 migrations (overrides the workspace setting)")
    parser.add_argument("--shutdown-timeout", type=float, default=10.0, metavar="SECONDS",
                        help="how long a stop waits for in-flight requests and batches (default 10)")
    parser.add_argument("--strict-runtime", action="store_true",
                        help="behave more like production Python Workers: warn when app code starts threads "
                             "or subprocesses, opens raw sockets or imports modules production lacks, and make "
                             "pre-SDK idioms on binding results (.to_py(), .to_bytes()) fail as they do there")
    parser.add_argument("--test-scheduled", action="store_true",
                        help="accepted for wrangler compatibility; /__scheduled is always available")
    parser.add_argument("--local", action="store_true", help="accepted for wrangler compatibility; always local")
    parser.set_defaults(func=run_dev)


def parse_vars(pairs: list[str] | None) -> dict[str, str]:
    """``KEY:VALUE`` pairs as wrangler reads them: split at the first colon, a missing value
    is the empty string, the last pair for a key wins."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, _, value = pair.partition(":")
        out[key] = value
    return out


def config_paths(args: argparse.Namespace) -> list[Path] | None:
    """What to host: the -c paths, else the nearest config folder upward; None if nothing."""
    if args.config:
        return [Path(p) for p in args.config]
    from emulator.cli._common import CONFIG_NAMES

    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        for name in CONFIG_NAMES:
            if (folder / name).is_file():
                return [folder / name]
    return None


# A long-running server allocates many short-lived container objects per request and per
# queue message. With CPython's default first-generation threshold (700 allocations) the
# cyclic collector runs every few requests and re-walks whatever is alive at that moment;
# at 10,000 most of those objects have already been freed by reference counting (measured
# with callgrind: ~4.5% fewer instructions per queue message; memory cost: a few MB at most).
GC_THRESHOLDS = (10_000, 10, 10)


def tune_gc() -> None:
    """The collector settings of the `dev` process (benchmarks in bench/ apply them too)."""
    gc.set_threshold(*GC_THRESHOLDS)


def run_dev(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    paths = config_paths(args)
    if paths is None:
        print("✘ [ERROR] No wrangler.toml, wrangler.json or wrangler.jsonc found in this folder or "
              "its parents. Run `cf-emulator dev` in an app folder or pass -c PATH.", file=sys.stderr)
        return 1
    missing = [p for p in paths if not p.exists()]
    if missing:
        print(f"✘ [ERROR] {missing[0]} does not exist.", file=sys.stderr)
        return 1
    tune_gc()
    try:
        return asyncio.run(_serve(args, paths, out))
    except KeyboardInterrupt:
        return 130


async def _serve(args: argparse.Namespace, paths: list[Path], out: TextIO) -> int:
    from emulator.emulator import ConfigError, Emulator, StartError
    from emulator.logs import EventLog

    log = EventLog()
    log.subscribe(DevConsole(args.log_format, args.log_level, stream=out))
    emulator = Emulator(
        paths, state_dir=Path(args.persist_to) if args.persist_to else None, ip=args.ip, port=args.port,
        s3_port=None if args.no_s3 else args.s3_port, env=args.env, log=log, watch=args.watch,
        apply_migrations=args.apply_migrations, shutdown_timeout=args.shutdown_timeout,
        vars=parse_vars(args.var), strict_runtime=args.strict_runtime)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)

    def on_signal(signum: int) -> None:
        if stop.is_set():
            # A second Ctrl-C means "now": in-flight work stays persisted for redelivery.
            log.warn("dev", "stopping now; unfinished work stays persisted")
            raise SystemExit(130)
        log.info("dev", f"{signal.Signals(signum).name} received: stopping gracefully")
        stop.set()

    # Installed before the (slow) start, so a signal during start-up still stops cleanly.
    for sig in signals:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        try:
            await emulator.start()
        except ConfigError as exc:
            # `check`'s rendering already carries wrangler's `✘ [ERROR]` headings.
            _print_error(args, exc.diagnostics, prefixed=exc.report is None)
            return 1
        except (StartError, OSError) as exc:
            _print_error(args, str(exc))
            return 1
        try:
            await stop.wait()
        finally:
            await emulator.stop()
            log.info("dev", "stopped")
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
    return 0


def _print_error(args: argparse.Namespace, text: str, prefixed: bool = True) -> None:
    if args.log_format == "json":
        import json

        print(json.dumps({"level": "error", "source": "dev", "message": text}), file=sys.stderr, flush=True)
    else:
        print(f"✘ [ERROR] {text}" if prefixed else text.rstrip("\n"), file=sys.stderr, flush=True)
