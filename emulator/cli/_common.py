"""Shared CLI plumbing: where the state directory is, whether a `dev` is running on it,
and what the verb's config declares.

The state directory comes from the one rule of `dev`, the verbs and the pytest plugin
(``placement``: ``emulator.config.statedir``, docs/state.md). Verbs that touch state
(`queues`, `d1`, `r2`, `kv`, `workflows`) work with or without a running `dev`, never both
at once (docs/cli.md, "One process per state directory"): when an emulator holds the state
directory's lock they call its internal API (``/_emulator/...``), so the running emulator
sees the change at once; when nobody holds it they take the lock themselves and open the
files, so a `dev` started meanwhile waits for them. Reading verbs pass ``create=False`` to
``running_server`` and so never create the directory; writing verbs check their names
(``config_apps``, ``unknown_name``) before they take it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Callable, Iterable

from emulator.errors import CliError, EmulatorError
from emulator.state import LockHolder, StateDir, StateLock, describe_process

if TYPE_CHECKING:
    from emulator.config.model import AppConfig
    from emulator.config.statedir import StatePlacement

# How long a verb waits for the state directory: for an emulator that holds it but does
# not serve yet (starting, or stopping), or for another verb working on the files.
STATE_WAIT = 30.0
# A holder whose lock file names nobody alive is retried this long (see `LockHolder`).
UNKNOWN_HOLDER_GRACE = 1.0
# Waiting this long prints one line, so a slow start does not look like a hang.
ANNOUNCE_AFTER = 1.0
_POLL = 0.05

# State directories this process holds (a verb working on the files), by root.
_held: dict[Path, StateLock] = {}


class StateDirBusy(CliError):
    """The state directory stayed unavailable; the message says who holds it."""


def add_state_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--persist-to", metavar="DIR", default=None,
                        help="state directory (default: the workspace's, else .emulator next to the "
                             "wrangler config; see docs/state.md)")
    parser.add_argument("--local", action="store_true",
                        help="accepted for wrangler compatibility; always local here")
    parser.add_argument("-c", "--config", metavar="PATH", default=None,
                        help="wrangler config, app folder or workspace file (default: found upward "
                             "from the current folder)")


def add_json_argument(parser: argparse.ArgumentParser, what: str = "the result") -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON")


def add_command_group(subparsers: Any, name: str, dest: str, **kwargs: Any) -> Any:
    """A command that only groups others (``kv``, ``r2 object``, ``workflows instances``):
    its own sub-commands, to which the caller adds; given none, it prints its help and
    exits 2 (bad usage, docs/cli.md)."""
    group: argparse.ArgumentParser = subparsers.add_parser(name, **kwargs)

    def usage(_args: argparse.Namespace) -> int:
        group.print_help()
        return 2

    group.set_defaults(func=usage)
    return group.add_subparsers(dest=dest, metavar="COMMAND")


def nearest_config(start: Path | None = None) -> Path | None:
    """The config wrangler would find from ``start`` (default: the current folder), None if
    none: ``wrangler.json`` in this folder or any above, then ``wrangler.jsonc``, then
    ``wrangler.toml`` (by file name first, then nearest folder; docs/check.md). The one
    discovery rule of `check`, `dev`, `sync` and every verb that takes ``-c``.

    (Importing the config package here, not at the top, keeps verbs that never read a config
    fast; every caller goes on to load the config anyway.)
    """
    from emulator.config.loader import find_config

    return find_config(start or Path.cwd())


def config_path(args: argparse.Namespace) -> Path | None:
    """The config a verb was pointed at: ``-c``, else the nearest one upward (None: none)."""
    config = getattr(args, "config", None)
    return Path(config) if config else nearest_config()


def require_config(args: argparse.Namespace, instead: str) -> Path:
    """``config_path``, which must exist; the error names ``instead``, the flag that does
    without a config (``--namespace-id``)."""
    found = config_path(args)
    if found is None or not found.exists():
        raise CliError(f"No wrangler config found: pass -c PATH, or {instead}.")
    return found


def placement(args: argparse.Namespace) -> StatePlacement:
    """Where a verb's state directory is: the one rule of `dev` and the pytest plugin too
    (``emulator.config.statedir.place_state``, docs/state.md)."""
    from emulator.config.statedir import place_state

    config = getattr(args, "config", None)
    return place_state([Path(config)] if config else [], getattr(args, "persist_to", None))


_warned_stray: set[Path] = set()


def resolve_state_dir(args: argparse.Namespace) -> StateDir:
    """The state directory a verb works on (``placement``); warns once about an app's own
    ``.emulator`` that the workspace's state directory replaced."""
    found = placement(args)
    if found.stray is not None and found.stray not in _warned_stray:
        _warned_stray.add(found.stray)
        from emulator.cli.output import warn

        workspace = found.workspace.path if found.workspace else ""
        warn(f"{found.stray} is not used: this app belongs to the workspace {workspace}, "
             f"whose state directory is {found.root} (docs/state.md).")
    return StateDir(found.root)


# --- what the config declares ----------------------------------------------------------------
@dataclass
class ConfigApps:
    """The apps of the config a verb was pointed at (``-c``, else found upward)."""

    apps: list[AppConfig]
    # Why some declarations may be missing (a config with errors), for error messages.
    problem: str | None = None


_apps_cache: dict[tuple[str | None, str | None, str], ConfigApps] = {}


def config_apps(args: argparse.Namespace) -> ConfigApps:
    """Every app of the verb's config (a workspace file: all its apps), loaded as `check`
    loads them; apps with errors are left out and named in ``problem``."""
    config = getattr(args, "config", None)
    key = (config, getattr(args, "env", None), str(Path.cwd()))
    if key in _apps_cache:
        return _apps_cache[key]
    from emulator.config import ConfigLookupError, check_paths
    target = Path(config) if config else nearest_config()
    if target is None:
        found = ConfigApps([], None)
    else:
        try:
            report = check_paths([target], getattr(args, "env", None))
        except ConfigLookupError as exc:
            found = ConfigApps([], str(exc))
        else:
            broken = [f.path for f in report.files if f.errors]
            problem = (f"{', '.join(str(p) for p in broken)} has errors (`cf-emulator check` shows them), "
                       "so what it declares is not known" if broken else None)
            found = ConfigApps(list(report.apps), problem)
    _apps_cache[key] = found
    return found


def unknown_name(noun: str, name: str, known: Iterable[str], problem: str | None = None) -> str:
    """The error for a name neither the config nor the state directory knows."""
    names = sorted(set(known))
    plural = noun + ("es" if noun.endswith("s") else "s")
    listing = (f"Known {plural}: {', '.join(names)}." if names
               else f"No {plural} are declared in the config or stored in the state directory.")
    text = f'No {noun} named "{name}" in the config or the state directory. {listing}'
    return f"{text} ({problem})" if problem else text


def running_server(state: StateDir, create: bool = True) -> str | None:
    """Base URL of the internal API of the emulator serving this state dir; or None, and
    then this process holds the state dir until the verb ends (``release_state_dirs``).

    ``create=False`` (reading verbs): a state directory that does not exist, or was never
    held (no lock file), is neither created nor locked; None then means "no emulator
    serves it", and the verb reads what exists without creating anything.

    Decided under the lock, so it is never both: an emulator that holds the directory is
    talked to (once it serves; while it starts or stops the verb waits, up to
    ``STATE_WAIT``); a directory nobody holds is taken, so a `dev` starting meanwhile
    waits for this verb instead of opening the same files. Another verb holding it is
    waited for. ``server.json`` counts only with the token of the lock being held.
    """
    if state.root in _held:
        return None
    if not create and not state.lock_file.is_file():
        # Every holder creates the lock file, so nobody serves this directory.
        return None
    lock = StateLock(state)
    started = time.monotonic()
    announced = False
    while True:
        if lock.try_acquire("cli", describe_process()):
            _held[state.root] = lock
            return None
        holder = LockHolder.read(state.lock_file)
        if holder.known and holder.role == "emulator":
            info = state.read_server_info()
            url = info.get("internal_url") if info else None
            # Only an http:// address is called (the emulator writes one): a damaged or edited
            # server.json must not point urllib at file:// or another scheme.
            if isinstance(url, str) and url.startswith("http://"):
                return url
        waited = time.monotonic() - started
        if waited > (STATE_WAIT if holder.known else UNKNOWN_HOLDER_GRACE):
            raise StateDirBusy(_busy_message(state, holder))
        if holder.known and not announced and waited > ANNOUNCE_AFTER:
            announced = True
            what = ("the emulator to finish starting or stopping" if holder.role == "emulator"
                    else f"`{holder.command}` to finish")
            print(f"Waiting for {what} (pid {holder.pid}; state directory {state.root})...", file=sys.stderr)
        time.sleep(_POLL)


def _busy_message(state: StateDir, holder: LockHolder) -> str:
    where = f"The state directory {state.root}"
    if not holder.known:
        return f"{where} is locked by another process (it holds {state.lock_file}); try again."
    if holder.role == "emulator":
        return (f"{where} belongs to an emulator ({holder.describe()}) that is not serving after "
                f"{STATE_WAIT:g}s (still starting, or stopping). Try again once it prints `ready:`, or stop it.")
    return (f"{where} is in use by `{holder.command}` (pid {holder.pid}), still running after "
            f"{STATE_WAIT:g}s. Try again once it has finished.")


def release_state_dirs() -> None:
    """Give back the state directories this process took for a verb (`main` does, at its end)."""
    while _held:
        _root, lock = _held.popitem()
        lock.release()


# --- the state a verb works on ------------------------------------------------------------
# Files are not written behind a running emulator's back: its live state would not see the
# change (docs/cli.md, "One process per state directory").
STARTED_MEANWHILE = "An emulator started on this state directory meanwhile; run the command again."


class StateTarget:
    """The state a verb works on: the internal API of the emulator serving the state
    directory (``url``), else the directory's files.

    Names are checked before anything is created: until a writing verb knows its names are
    good and calls ``writable``, the directory is only looked at (``create=False``).
    Binding types subclass it with how their state is opened and what names it holds.
    """

    def __init__(self, args: argparse.Namespace, reading: bool, url: str | None = None) -> None:
        self.args = args
        self.reading = reading
        self.state = resolve_state_dir(args)
        self.url = url or running_server(self.state, create=False)

    def writable(self) -> None:
        """Take the state directory for a write (creating it), unless an emulator serves it."""
        if not self.url:
            self.url = running_server(self.state)

    def hold_files(self) -> None:
        """Take the state directory before writing its files; an emulator that started
        serving it since the verb looked is an error."""
        self.writable()
        if self.url:
            raise CliError(STARTED_MEANWHILE)

    def unknown(self, noun: str, name: str, known: Iterable[str]) -> CliError:
        """The error for a name neither the config nor the state holds (``unknown_name``)."""
        return CliError(unknown_name(noun, name, known, config_apps(self.args).problem))


class ServerError(EmulatorError):
    """The running emulator's internal API answered an error; verbs phrase it for the user."""

    def __init__(self, status: int, payload: Any) -> None:
        super().__init__(f"{status}: {payload}")
        self.status = status
        self.payload = payload

    @property
    def message(self) -> str:
        """What the answer says went wrong: its JSON ``message`` (or ``error``), else its text
        (docs/internal-api.md: errors are ``{"error": ..., "status": ..., "message": ...}``)."""
        payload = self.payload
        if isinstance(payload, dict):
            return str(payload.get("message") or payload.get("error") or payload)
        return str(payload)


Verb = Callable[[argparse.Namespace], int]
# A binding's own errors as the user reads them: the message, or None for "not mine".
ErrorMessages = Callable[[Exception], str | None]


def cli_errors(verb: Verb, known: ErrorMessages | None = None) -> Verb:
    """``verb`` with what the layers it calls raise turned into ``CliError``: first what
    ``known`` (the binding's own errors) phrases, then the running emulator's answer
    (``ServerError``), a binding's error as app code would see it (``JsError``: its
    message), a file that cannot be read or written (``OSError``, naming the file). A
    closed stdout passes through: `cf-emulator` exits 141 (docs/cli.md)."""
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return int(verb(args) or 0)
        except BrokenPipeError:
            raise
        except Exception as exc:  # re-raised below unless a message is known for it
            message = known(exc) if known is not None else None
            if message is None:
                message = _message(exc)
            if message is None:
                raise
            raise CliError(message) from None
    wrapped.__name__ = verb.__name__
    return wrapped


def _message(exc: Exception) -> str | None:
    from emulator.errors import JsError

    if isinstance(exc, (JsError, ServerError)):
        return exc.message
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)
    return None


def api_path(url: str, area: str, *parts: str) -> str:
    """The internal API path of ``area`` (``"queues"``, ``"r2"``...) and ``parts`` (each
    quoted), for the emulator at ``url``: ``/_emulator/<area>/<part>...``.

    server.json's ``internal_url`` is an app's base URL; one already ending in
    ``/_emulator`` is tolerated.
    """
    prefix = f"/{area}" if url.rstrip("/").endswith("/_emulator") else f"/_emulator/{area}"
    return prefix + "".join("/" + urllib.parse.quote(p, safe="") for p in parts)


_RAISE: Any = object()


def call_server(base_url: str, method: str, path: str, body: Any = None,
                raw: bytes | None = None, timeout: float = 30.0,
                content_type: str | None = None, missing: Any = _RAISE) -> Any:
    """Call the running emulator's internal API; JSON in, JSON (or bytes) out.

    An error answer raises ``ServerError``; with ``missing``, a 404 (no such thing) answers
    ``missing`` instead, for verbs that have a result for "not there".

    Every write carries a Content-Type a web page could not send without a CORS preflight
    (the internal API refuses the others, docs/security.md): JSON for ``body`` and for
    body-less calls, ``content_type`` or ``application/octet-stream`` for ``raw`` bytes —
    urllib would otherwise label them ``application/x-www-form-urlencoded``.
    """
    import urllib.error
    import urllib.request

    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(base_url.rstrip("/") + path, data=data, method=method)  # noqa: S310 - base_url is the running emulator's http:// URL (running_server checks it)
    if raw is not None:
        req.add_header("content-type", content_type or "application/octet-stream")
    elif body is not None or method.upper() not in ("GET", "HEAD"):
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - see the Request above
            payload = resp.read()
            if resp.headers.get_content_type() == "application/json":
                return json.loads(payload or b"null")
            return payload
    except urllib.error.HTTPError as exc:
        text = exc.read()
        try:
            detail: Any = json.loads(text)
        except ValueError:
            detail = text.decode(errors="replace")
        if exc.code == 404 and missing is not _RAISE:
            return missing
        raise ServerError(exc.code, detail) from None
