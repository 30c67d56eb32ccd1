"""`cf-emulator dev`: host the workspace's apps (or the given configs) in one process.

Argument parsing and the process shell only: signals, console output and exit codes. The
work is ``emulator.emulator.Emulator``.
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
from pathlib import Path
from typing import Any, TextIO
from collections.abc import Callable

from emulator.cli import JsonErrors
from emulator.errors import CliError
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

Before the apps load, dev says per Python app which Python production runs it on (from
its compatibility date and flags; a warning when this interpreter differs or the app's
requires-python excludes it) and installs the apps' pyproject.toml [project] dependencies
into <state>/python-deps/ (cached; `cf-emulator sync` does it ahead of time; apps whose
requirements conflict are refused). See docs/dependencies.md.

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
finish, and unfinished work stays on disk for redelivery at the next start. A second
Ctrl-C stops now (in-flight requests and batches are cancelled, stores closed); a third
exits at once, as kill -9 would (nothing acknowledged is lost). Ctrl-C during start-up
abandons the start.

One process per state directory: a second `dev` on the same one stops at once, naming
the first one's pid and ports; a `dev` started while a CLI verb works on the files waits
for it (up to 10 s). See docs/cli.md.

Exit codes: 0 after a graceful stop, 1 when a config or app fails to load or the state
directory is in use, 2 on bad options, 130 (143 for SIGTERM) when a second signal cut the
stop short or a signal interrupted the start, 141 when stdout was closed (the server
then stops gracefully).
"""


class DevConsole(ConsolePrinter):
    """The console of `dev`: the `ready:` lines always show, whatever ``--log-level``.

    When stdout's reader goes away (``dev | head``) the console goes quiet and calls
    ``on_closed`` once (from whichever thread was printing): `dev` then stops.
    """

    def __init__(self, *args: Any, on_closed: Callable[[], object] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_closed = on_closed
        self.closed = False

    def __call__(self, record: LogRecord) -> None:
        # Cheapest test first: with --log-level above info, the per-request lines stop here.
        if record.source == "http" and record.level == "info" and self.min_level > 20:
            return
        if record.source == "r2" and record.message.startswith("S3 endpoint:"):
            return  # `dev` prints the address itself, after the `ready:` lines
        if self.closed:
            return
        try:  # free in 3.11+ unless raised
            if record.source == "dev" and record.level == "info" and self.min_level > 20:
                ConsolePrinter(self.fmt, "info", self.stream)(record)
            else:
                super().__call__(record)
        except BrokenPipeError:
            self._console_closed()

    def _console_closed(self) -> None:
        from emulator.cli import discard_stdout

        self.closed = True
        discard_stdout()
        if self.on_closed is not None:
            self.on_closed()


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
    parser.add_argument("--allowed-host", dest="allowed_hosts", metavar="NAME", action="append", default=None,
                        type=_host_name,
                        help="also answer the internal API and S3 endpoint under this Host name (e.g. a "
                             "docker-compose service name; .example.test allows its subdomains too). "
                             "localhost and 127.0.0.1 always work; see docs/security.md")
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
    parser.add_argument("--request-body-limit", type=_size, default=None, metavar="SIZE",
                        help="largest request body the apps accept, like the edge's plan limit: bigger "
                             "ones get Cloudflare's 413 (default 100MB, or the workspace's "
                             "request_body_limit; e.g. 200MB, 500MB, 1GiB)")
    parser.add_argument("--shutdown-timeout", type=float, default=10.0, metavar="SECONDS",
                        help="how long a stop waits for in-flight requests and batches (default 10)")
    parser.add_argument("--strict-runtime", action="store_true",
                        help="behave more like production Python Workers: warn when app code starts threads "
                             "or subprocesses, opens raw sockets or imports modules production lacks, and make "
                             "pre-SDK idioms on binding results (.to_py(), .to_bytes()) fail as they do there")
    parser.add_argument("--test-scheduled", action="store_true",
                        help="accepted for wrangler compatibility; /__scheduled is always available")
    parser.add_argument("--local", action="store_true", help="accepted for wrangler compatibility; always local")
    # With --log-format json every line is a JSON object, errors included (on stderr, one line).
    parser.set_defaults(func=run_dev, json_errors=JsonErrors(
        lambda args: args.log_format == "json",
        lambda text: {"level": "error", "source": "dev", "message": text}, stream="stderr", indent=None))


def _host_name(value: str) -> str:
    """An ``--allowed-host`` value: a host name, ``.domain`` or an address."""
    from emulator.access import split_host

    name = value.strip()
    if not name or split_host(name.removeprefix(".")) is None or "/" in name:
        raise argparse.ArgumentTypeError(f"{value!r} is not a host name")
    return name


def _size(text: str) -> int:
    from emulator.config.sizes import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_vars(pairs: list[str] | None) -> dict[str, str]:
    """``KEY:VALUE`` pairs as wrangler reads them: split at the first colon, a missing value
    is the empty string, the last pair for a key wins."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, _, value = pair.partition(":")
        out[key] = value
    return out


def config_paths(args: argparse.Namespace) -> list[Path] | None:
    """What to host: the -c paths, else the config wrangler finds from here; None if nothing."""
    if args.config:
        return [Path(p) for p in args.config]
    from emulator.cli._common import nearest_config

    found = nearest_config()
    return [found] if found is not None else None


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
        raise CliError("No wrangler.toml, wrangler.json or wrangler.jsonc found in this folder or "
                       "its parents. Run `cf-emulator dev` in an app folder or pass -c PATH.")
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise CliError(f"{missing[0]} does not exist.")
    import asyncio  # here, not at the top: `cf-emulator --help` and `check` do without it

    tune_gc()
    try:
        return asyncio.run(_serve(args, paths, out))
    except KeyboardInterrupt:  # before the signal handlers were installed
        return 128 + signal.SIGINT


async def _serve(args: argparse.Namespace, paths: list[Path], out: TextIO) -> int:
    import asyncio

    from emulator.emulator import ConfigError, Emulator, StartError
    from emulator.logs import EventLog

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    # 0 after a graceful stop; 128 + the signal when one cut the start or the stop short.
    exit_code = 0

    def on_console_closed() -> None:
        nonlocal exit_code
        if not stop.is_set():
            exit_code = 141  # like a process stopped by SIGPIPE; the stop is graceful
            stop.set()

    log = EventLog()
    log.subscribe(DevConsole(args.log_format, args.log_level, stream=out,
                             on_closed=lambda: loop.call_soon_threadsafe(on_console_closed)))
    emulator = Emulator(
        paths, state_dir=Path(args.persist_to) if args.persist_to else None, ip=args.ip, port=args.port,
        s3_port=None if args.no_s3 else args.s3_port, env=args.env, log=log, watch=args.watch,
        apply_migrations=args.apply_migrations, shutdown_timeout=args.shutdown_timeout,
        vars=parse_vars(args.var), allowed_hosts=args.allowed_hosts,
        request_body_limit=args.request_body_limit, strict_runtime=args.strict_runtime)
    signals = (signal.SIGINT, signal.SIGTERM)
    starting = asyncio.ensure_future(emulator.start())
    received: list[int] = []

    def on_signal(signum: int) -> None:
        # Runs on the loop (never raises there: an exception from a signal handler would
        # tear the loop down mid-request, with a traceback per cancelled task).
        nonlocal exit_code
        received.append(signum)
        name = signal.Signals(signum).name
        if len(received) >= 3:
            # "Now, really": leave as kill -9 would; the stores are crash-safe, so nothing
            # acknowledged is lost and unfinished work is redelivered at the next start.
            os.write(2, f"{name} received again: exiting at once\n".encode())
            os._exit(128 + signum)
        if not starting.done():
            exit_code = 128 + signum
            if len(received) == 1:
                log.info("dev", f"{name} received: abandoning the start")
                starting.cancel()
            return
        if len(received) == 1 and not stop.is_set():
            log.info("dev", f"{name} received: stopping gracefully")
            stop.set()
            return
        # A second signal means "now": in-flight work is cancelled and stays persisted.
        exit_code = 128 + signum
        log.warn("dev", "stopping now; unfinished work stays persisted for redelivery")
        emulator.hurry()

    # Installed before the (slow) start, so a signal during start-up stops it cleanly.
    for sig in signals:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        try:
            await starting
        except asyncio.CancelledError:
            log.info("dev", "start abandoned")
            return exit_code
        except ConfigError as exc:
            # `check`'s rendering already carries wrangler's `✘ [ERROR]` headings.
            raise CliError(exc.diagnostics, rendered=exc.report is not None) from None
        except (StartError, OSError) as exc:
            raise CliError(str(exc)) from None
        try:
            await stop.wait()
        finally:
            await emulator.stop()
            log.info("dev", "stopped")
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
    return exit_code
