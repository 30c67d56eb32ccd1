"""Shared CLI plumbing: where the state directory is, and whether a `dev` is running on it.

Verbs that touch state (`queues`, `d1`, `r2`, `workflows`) work with or without a running
`dev`, never both at once (docs/cli.md, "One process per state directory"): when an
emulator holds the state directory's lock they call its internal API (``/_emulator/...``),
so the running emulator sees the change at once; when nobody holds it they take the lock
themselves and open the files, so a `dev` started meanwhile waits for them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from emulator.state import DEFAULT_STATE_DIRNAME, LockHolder, StateDir, StateLock, describe_process

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


class StateDirBusy(Exception):
    """The state directory stayed unavailable; the message says who holds it."""

CONFIG_NAMES = ("wrangler.json", "wrangler.jsonc", "wrangler.toml")


def add_state_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--persist-to", metavar="DIR", default=None,
                        help="state directory (default: .emulator next to the nearest wrangler config)")
    parser.add_argument("--local", action="store_true",
                        help="accepted for wrangler compatibility; always local here")
    parser.add_argument("-c", "--config", metavar="PATH", default=None,
                        help="wrangler config or workspace file to read bindings from")


def project_root(start: Path | None = None) -> Path:
    """The nearest folder upward holding a wrangler config; else the current folder."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if any((folder / name).is_file() for name in CONFIG_NAMES):
            return folder
    return here


def enclosing_workspace(folder: Path) -> Path | None:
    """The folder of the nearest workspace file (a `wrangler.toml` with `[workspace]`) at or above ``folder``."""
    for candidate in (folder, *folder.parents):
        path = candidate / "wrangler.toml"
        if not path.is_file():
            continue
        try:
            if isinstance(tomllib.loads(path.read_text(encoding="utf-8-sig")).get("workspace"), dict):
                return candidate
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
    return None


def resolve_state_dir(args: argparse.Namespace) -> StateDir:
    """The state directory a verb works on.

    ``--persist-to`` wins. Otherwise an app that belongs to a workspace shares the
    workspace's ``.emulator`` (that is where `cf-emulator dev` at the workspace root keeps
    it), so ``-c apps/workflow/wrangler.toml`` reaches the same databases and queues; an
    app's own ``.emulator`` is used when a `dev` runs on it, or it already exists while the
    workspace's does not.
    """
    persist = getattr(args, "persist_to", None)
    if persist:
        return StateDir(Path(persist))
    config = getattr(args, "config", None)
    root = Path(config).resolve().parent if config else project_root()
    candidates = [root / DEFAULT_STATE_DIRNAME]
    workspace = enclosing_workspace(root)
    if workspace is not None and workspace != root:
        candidates.insert(0, workspace / DEFAULT_STATE_DIRNAME)
    for folder in candidates:
        # Once this verb holds one, it keeps working there.
        if StateDir(folder).root in _held:
            return StateDir(folder)
    for folder in candidates:
        holder = StateDir(folder).lock_holder()
        if holder is not None and holder.known and holder.role == "emulator":
            return StateDir(folder)
    for folder in candidates:
        if folder.is_dir():
            return StateDir(folder)
    return StateDir(candidates[0])


def running_server(state: StateDir) -> str | None:
    """Base URL of the internal API of the emulator serving this state dir; or None, and
    then this process holds the state dir until the verb ends (``release_state_dirs``).

    Decided under the lock, so it is never both: an emulator that holds the directory is
    talked to (once it serves; while it starts or stops the verb waits, up to
    ``STATE_WAIT``); a directory nobody holds is taken, so a `dev` starting meanwhile
    waits for this verb instead of opening the same files. Another verb holding it is
    waited for. ``server.json`` counts only with the token of the lock being held.
    """
    if state.root in _held:
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
            if isinstance(url, str):
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


class ServerError(Exception):
    def __init__(self, status: int, payload: Any) -> None:
        super().__init__(f"{status}: {payload}")
        self.status = status
        self.payload = payload


def call_server(base_url: str, method: str, path: str, body: Any = None,
                raw: bytes | None = None, timeout: float = 30.0,
                content_type: str | None = None) -> Any:
    """Call the running emulator's internal API; JSON in, JSON (or bytes) out.

    Every write carries a Content-Type a web page could not send without a CORS preflight
    (the internal API refuses the others, docs/security.md): JSON for ``body`` and for
    body-less calls, ``content_type`` or ``application/octet-stream`` for ``raw`` bytes —
    urllib would otherwise label them ``application/x-www-form-urlencoded``.
    """
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(base_url.rstrip("/") + path, data=data, method=method)
    if raw is not None:
        req.add_header("content-type", content_type or "application/octet-stream")
    elif body is not None or method.upper() not in ("GET", "HEAD"):
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
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
        raise ServerError(exc.code, detail) from None


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """A plain aligned table, like wrangler's."""
    if not rows:
        return
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for r in rows:
        print("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns))
