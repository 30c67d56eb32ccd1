"""The state directory: one subfolder per binding type.

Which directory a command uses is decided by one rule (``emulator.config.statedir``,
docs/state.md): the workspace's for an app it lists, else `.emulator/` next to the app's
config; `--persist-to DIR` moves it. Layout::

    <state>/queues/queues.sqlite3      queue broker (WAL)
    <state>/r2/<bucket>/...            R2 objects and their metadata
    <state>/d1/<database>.sqlite3      one SQLite file per D1 database (WAL)
    <state>/workflows/workflows.sqlite3
    <state>/lock                       who holds the directory (see ``StateLock``)
    <state>/durable_objects/<script>-<Class>/   one <id>.sqlite3 per object, metadata.sqlite3
    <state>/server.json                address of a running `dev` (for the CLI)
    <state>/tmp/                       uploaded file parts spilled to disk (anonymous files)

One process at a time owns a state directory (docs/cli.md, "One process per state
directory"): an emulator (`dev`, the pytest plugin, any ``Emulator``) for its whole life,
or a CLI verb while it works on the files itself. Ownership is an exclusive ``flock`` on
``<state>/lock``: the kernel drops it when the process ends, ``kill -9`` included, so a
crashed owner never leaves a stale lock behind. The lock file's content names the owner
(pid, role, command) for the messages of whoever finds it taken; ``server.json`` is
trusted only when it carries the token of the lock currently held.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from emulator.errors import EmulatorError

try:
    import fcntl
except ImportError:  # Windows: no flock; the lock is a no-op there (docs/cli.md)
    fcntl = None  # type: ignore[assignment]  # Windows: see above

DEFAULT_STATE_DIRNAME = ".emulator"
LOCK_FILENAME = "lock"
Role = Literal["emulator", "cli"]


# Also a ValueError: the name is a bad value (a user's binding or key name), which the
# internal API's handlers answer with 400 as any other bad value.
class StatePathError(EmulatorError, ValueError):
    """A name would resolve outside the state directory."""


def safe_component(name: str) -> str:
    """A file-system-safe, reversible-enough name for a resource (queue, bucket, database).

    Resource names may hold `/` or spaces (Miniflare tests use ``"my/ Queue"``); they must
    never escape the state directory.
    """
    cleaned = re.sub(r"[^A-Za-z0-9._-]", lambda m: f"%{ord(m.group()):02X}", name)
    if cleaned in {"", ".", ".."}:
        cleaned = cleaned.replace(".", "%2E") or "%00"
    return cleaned


@dataclass(frozen=True)
class StateDir:
    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root).resolve())

    def binding_dir(self, binding_type: str) -> Path:
        path = self.root / safe_component(binding_type)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def inside(self, *parts: str) -> Path:
        """A path under the state root; refuses anything that would leave it."""
        path = self.root.joinpath(*parts).resolve()
        if path != self.root and self.root not in path.parents:
            raise StatePathError(f"{'/'.join(parts)!r} is outside the state directory")
        return path

    @property
    def tmp_dir(self) -> Path:
        """Where big uploaded file parts spill (created on first use; the files have no name
        on Linux and are gone when closed, so nothing accumulates here)."""
        return self.root / "tmp"

    # --- who owns the directory, and the address of a running `dev` -----------------
    @property
    def lock_file(self) -> Path:
        return self.root / LOCK_FILENAME

    @property
    def server_file(self) -> Path:
        return self.root / "server.json"

    def lock_holder(self) -> LockHolder | None:
        """Who holds the lock right now, or None when nobody does.

        Probes with a shared lock, so it never takes the directory from anyone; for that
        instant an exclusive ``try_acquire`` elsewhere fails, which its callers absorb by
        retrying while the holder is unknown (``LockHolder.known``).
        """
        if fcntl is None:
            return None
        try:
            fd = os.open(self.lock_file, os.O_RDONLY)
        except OSError:
            return None  # no lock file: nobody ever held it, or the directory is gone
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return LockHolder.read(self.lock_file)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    def write_server_info(self, info: dict[str, Any], lock: StateLock) -> None:
        """Publish the running server's address; only the holder of ``lock`` may."""
        if lock.state.root != self.root or not lock.held:
            raise RuntimeError("server.json is written only by the process holding the state directory")
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.server_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({**info, "pid": os.getpid(), "lock_token": lock.token}))
        tmp.replace(self.server_file)

    def read_server_info(self) -> dict[str, Any] | None:
        """The running server's address, or None when no emulator serves this directory.

        ``server.json`` counts only while an emulator holds the lock and the file carries
        that lock's token: a file left by a killed process, or naming a pid that does not
        hold the lock, is ignored.
        """
        try:
            info = json.loads(self.server_file.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(info, dict):
            return None
        if fcntl is None:  # no lock to check against (Windows): a live pid is all we have
            pid = info.get("pid")
            return info if isinstance(pid, int) and process_alive(pid) else None
        holder = self.lock_holder()
        if holder is None or holder.role != "emulator" or not holder.known:
            return None
        if info.get("lock_token") != holder.token or info.get("pid") != holder.pid:
            return None
        return info

    def clear_server_info(self) -> None:
        try:
            self.server_file.unlink()
        except FileNotFoundError:
            pass


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, alive
    except OSError:
        return False
    return True


def describe_process(argv: list[str] | None = None) -> str:
    """A short, secret-free description of this process for lock messages.

    The program's name and its first words up to the first option (``cf-emulator queues
    send``, ``pytest tests/e2e``): arguments after that may hold SQL, message bodies or
    ``--var`` values, which do not belong in another process's error message.
    """
    args = list(sys.argv if argv is None else argv)
    if not args:
        return "python"
    first = Path(args[0])
    name = f"python -m {first.parent.name}" if first.name == "__main__.py" else first.name
    if name == "emulator" or name == "python -m emulator":
        name = "cf-emulator"
    words = [name]
    for arg in args[1:]:
        if arg.startswith("-") or len(words) == 3:
            break
        words.append(arg)
    return " ".join(words)


@dataclass(frozen=True)
class LockHolder:
    """The process holding a state directory's lock, as its lock file describes it.

    ``known`` is False when the content names nobody alive: the holder took the lock an
    instant ago and has not written its name yet, or the holder is a ``lock_holder``
    probe and the content is a dead process's.
    """

    pid: int | None
    role: str
    command: str
    token: str
    known: bool

    @classmethod
    def read(cls, path: Path) -> LockHolder:
        try:
            data = json.loads(path.read_text(encoding="utf-8") or "null")
        except (OSError, ValueError):
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("pid"), int):
            return cls(None, "", "", "", False)
        pid = data["pid"]
        return cls(pid, str(data.get("role", "")), str(data.get("command", "")), str(data.get("token", "")),
                   process_alive(pid))

    def describe(self) -> str:
        """``pid 1234 (cf-emulator dev)``, or what can be said of an unknown holder."""
        if not self.known or self.pid is None:
            return "another process"
        return f"pid {self.pid} ({self.command})" if self.command else f"pid {self.pid}"


class StateLock:
    """An exclusive lock on a state directory, held until ``release`` or process exit.

    ``fcntl.flock`` on ``<state>/lock``: per open file, so two holders inside one process
    (an in-process ``Emulator`` and a CLI verb run by a test) exclude each other too, and
    released by the kernel when the process dies. Advisory: only cf-emulator honours it,
    and network file systems may not support it (docs/cli.md).
    """

    def __init__(self, state: StateDir) -> None:
        self.state = state
        self.token = ""
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None or (fcntl is None and bool(self.token))

    def try_acquire(self, role: Role, command: str | None = None) -> bool:
        """Take the lock if nobody holds it; True when this object now holds it."""
        if self.held:
            return True
        self.state.root.mkdir(parents=True, exist_ok=True)
        token = secrets.token_hex(8)
        if fcntl is None:
            self.token = token
            return True
        fd = os.open(self.state.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        content = json.dumps({"pid": os.getpid(), "role": role, "command": command or describe_process(),
                              "token": token, "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}).encode()
        # Written in one call at offset 0 and then cut to length, so the file is never
        # empty while we hold it; a reader catching a torn write sees invalid JSON, an
        # unknown holder, and retries.
        os.pwrite(fd, content, 0)
        os.ftruncate(fd, len(content))
        self._fd = fd
        self.token = token
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        self.token = ""
        if fd is None or fcntl is None:
            return
        try:
            # Emptied first: after a clean release the file names nobody, so a later
            # reader cannot mistake a past holder for a live one.
            os.ftruncate(fd, 0)
        except OSError:
            pass
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
