"""``--strict-runtime``: what production Python Workers lack, reported or refused locally.

Apps run on CPython here, where threads, subprocesses and sockets work and old Pyodide
idioms are tolerated; deployed, they fail (docs/python-workers.md, "Strict mode"). This
module is how "works locally" is kept close to "works deployed":

- **Legacy idioms** on values the SDK already converted (``results.to_py()``,
  ``buf.to_bytes()``, see ``emulator.jsobject``): ``legacy_idiom`` raises production's
  ``AttributeError`` when the running app's platform is strict; otherwise it reports the
  idiom once per app (a warning in the log) and lets the call succeed.
- **Capabilities production lacks**: ``RuntimeMonitor`` (installed once per process when a
  strict platform starts) watches audit events (``sys.addaudithook``: subprocesses, socket
  connects, first imports) and ``threading.Thread.start``. An event counts only while a
  strict app's code is running (``invocation.current``) and when the first frame outside
  the standard library belongs to the app or a library it called, not to the emulator;
  each (app, kind, code location) is reported once, as a warning.
- ``scan_imports`` finds, ahead of time, imports of standard modules production does not
  ship (``import fcntl`` fails there) in an app's own source files.

Findings are data (``Finding``); hosts render them into the log.
"""

from __future__ import annotations

import ast
import os
import sys
import sysconfig
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any
from collections.abc import Iterable

from emulator.runtime.invocation import current
from emulator.runtime.loader import is_app_module

if TYPE_CHECKING:
    from emulator.runtime.host import BaseHost

# Standard modules production Python Workers do not include: importing them fails there
# (Cloudflare's "Standard library" page of the Python Workers docs). ``pty`` and ``tty``
# are shipped but fail to import (they need ``termios``).
UNAVAILABLE_MODULES = frozenset({
    "curses", "dbm", "ensurepip", "fcntl", "grp", "idlelib", "lib2to3", "msvcrt", "pwd",
    "resource", "syslog", "termios", "tkinter", "turtle", "turtledemo", "venv", "winreg",
    "winsound", "pty", "tty",
})

# Libraries whose network use production routes through `fetch` (the runtime patches them
# or they speak JS fetch on Pyodide), so their socket use is no finding.
HTTP_CLIENT_PACKAGES = frozenset({"urllib3", "requests", "httpx", "httpcore", "aiohttp", "h11", "anyio"})
# Libraries whose threads production runs inline instead: the SDK patches
# `anyio.to_thread.run_sync` to call the function directly (FastAPI's sync routes).
INLINE_THREAD_PACKAGES = frozenset({"anyio", "starlette"})

KIND_TEXT = {
    "thread": ("starts a thread",
               "production Python Workers are single-threaded: starting a thread raises "
               "`RuntimeError: can't start new thread`"),
    "subprocess": ("starts a subprocess",
                   "there are no processes to start in the Workers runtime"),
    "socket": ("opens a raw socket",
               "production Python Workers have no raw sockets before the Python 3.14 runtime "
               "(flag python_workers_20260610); use `workers.fetch`, httpx or aiohttp"),
    "import": ("imports a module production lacks",
               "this standard module is not included in production Python Workers: the import fails"),
}

_EVENT_KINDS = {
    "subprocess.Popen": "subprocess", "os.system": "subprocess", "os.exec": "subprocess",
    "os.spawn": "subprocess", "os.posix_spawn": "subprocess", "os.fork": "subprocess",
    "os.forkpty": "subprocess",
    "socket.connect": "socket", "socket.bind": "socket",
    "import": "import",
}


@dataclass(frozen=True)
class Finding:
    """One use of something production lacks, attributed to app code."""

    kind: str          # a key of KIND_TEXT
    location: str      # "src/entry.py:12" (or a library's file when no app frame called it)
    detail: str = ""   # e.g. the module name of an import

    def message(self) -> str:
        what, why = KIND_TEXT[self.kind]
        subject = f"{what} ({self.detail})" if self.detail else what
        return f"--strict-runtime: {self.location} {subject}: {why}"


def is_strict() -> bool:
    """Whether the app code running now belongs to a ``--strict-runtime`` platform."""
    inv = current.get()
    return inv is not None and bool(getattr(inv.host.platform, "strict_runtime", False))


# --- legacy idioms ----------------------------------------------------------------------------

_ADVICE = {
    "to_py": "the SDK already converts binding results to Python values; drop `.to_py()`",
    "to_bytes": "the SDK already hands buffers over as memoryview; use `bytes(value)` or `value.tobytes()`",
    "to_memoryview": "the SDK already hands buffers over as memoryview; use the value itself",
    "to_string": "the SDK already hands buffers over as memoryview; use `bytes(value).decode()`",
}

# Reported once per host and idiom (weak: a reloaded or stopped host takes its set along).
_reported: weakref.WeakKeyDictionary[BaseHost, set[Any]] = weakref.WeakKeyDictionary()


def legacy_idiom(production_type: str, attr: str) -> None:
    """``value.<attr>()`` on a converted value: raise as production does, or report once."""
    inv = current.get()
    if inv is None:
        return  # not app code (tests poking at bindings directly)
    advice = _ADVICE.get(attr, "")
    error = f"'{production_type}' object has no attribute '{attr}'"
    if getattr(inv.host.platform, "strict_runtime", False):
        raise AttributeError(f"{error} (cf-emulator --strict-runtime, as in production: {advice})")
    key = ("legacy", production_type, attr)
    if _first_time(inv.host, key):
        where = app_location(sys._getframe(2), inv.host)
        inv.host.platform.log.warn(
            inv.host.log_source,
            f"{where}: `.{attr}()` on a binding result works here but fails in production "
            f"(AttributeError: {error}): {advice}. `dev --strict-runtime` makes it fail locally too.")


def _first_time(host: BaseHost, key: Any) -> bool:
    seen = _reported.get(host)
    if seen is None:
        seen = _reported[host] = set()
    if key in seen:
        return False
    seen.add(key)
    return True


# --- attributing a call to app code -------------------------------------------------------------

def _real(path: str) -> str:
    return os.path.realpath(path)


_STDLIB = tuple({_real(p) + os.sep for p in (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])})
_EMULATOR = _real(str(Path(__file__).resolve().parent.parent)) + os.sep
_THIS_FILE = _real(__file__)
_classified: dict[str, str] = {}


def _classify(filename: str) -> str:
    """'stdlib', 'emulator' or 'other' (app code and third-party libraries) for a code file."""
    kind = _classified.get(filename)
    if kind is None:
        if filename.startswith("<"):  # <frozen importlib._bootstrap>, <string>
            kind = "stdlib" if filename.startswith("<frozen") else "other"
        else:
            real = _real(filename)
            if real.startswith(_EMULATOR):
                kind = "emulator"
            elif real.startswith(_STDLIB) and "site-packages" not in real and "dist-packages" not in real:
                kind = "stdlib"
            else:
                kind = "other"
        if len(_classified) < 50_000:
            _classified[filename] = kind
    return kind


def _is_app_frame(frame: FrameType) -> bool:
    # App modules have plain or private names (docs/hosting.md, "Module names"); what marks
    # them is the loader that imported them.
    return is_app_module(frame.f_globals)


def app_location(frame: FrameType | None, host: BaseHost) -> str:
    """``file:line`` of the innermost app frame from ``frame`` outward (or the first frame)."""
    first = frame
    while frame is not None:
        if _is_app_frame(frame):
            return _describe(frame, host)
        frame = frame.f_back
    return _describe(first, host) if first is not None else "app code"


def _describe(frame: FrameType, host: BaseHost) -> str:
    filename = frame.f_code.co_filename
    try:
        rel = os.path.relpath(filename, host.config.root)
        if not rel.startswith(".."):
            filename = rel
    except ValueError:  # another drive (Windows)
        pass
    return f"{filename}:{frame.f_lineno}"


def attribute(frame: FrameType | None, kind: str) -> FrameType | None:
    """The frame ``kind`` is blamed on, or None when it is the emulator's doing or allowed.

    Walking outward from the event: a library production lets do it (HTTP clients'
    sockets, anyio's threads) anywhere before the app's own code → allowed; otherwise the
    first frame outside the standard library decides: the emulator's (its D1 threads, its
    fetch) → not the app's; anything else (the app, or a library it called) → the app's.
    """
    allowed = HTTP_CLIENT_PACKAGES if kind == "socket" else INLINE_THREAD_PACKAGES if kind == "thread" else ()
    first: tuple[FrameType, str] | None = None
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename != _THIS_FILE:
            where = _classify(filename)
            if where != "stdlib":
                if first is None:
                    first = (frame, where)
                if _is_app_frame(frame):
                    break
                if where == "other" and str(frame.f_globals.get("__name__", "")).partition(".")[0] in allowed:
                    return None
        frame = frame.f_back
    if first is None or first[1] == "emulator":
        return None
    return first[0]


# --- the process-wide monitor ---------------------------------------------------------------

class RuntimeMonitor:
    """Audit hook + ``Thread.start`` wrapper; installed once, active only for strict apps."""

    _installed = False
    _lock = threading.Lock()

    @classmethod
    def install(cls) -> None:
        with cls._lock:
            if cls._installed:
                return
            # An audit hook cannot be removed again: it stays for the process's lifetime and
            # returns at once unless a strict app's code is running (`is_strict`).
            sys.addaudithook(_audit)
            original = threading.Thread.start

            def start(self: threading.Thread) -> None:
                if current.get() is not None:
                    _observe("thread", sys._getframe(1), "")
                original(self)

            start.__wrapped__ = original  # type: ignore[attr-defined]  # the original method, for inspect.unwrap
            threading.Thread.start = start  # type: ignore[method-assign]  # the --strict-runtime thread check, undone on exit
            cls._installed = True


def _audit(event: str, args: tuple[Any, ...]) -> None:
    kind = _EVENT_KINDS.get(event)
    if kind is None or current.get() is None:
        return
    detail = ""
    if kind == "import":
        name = str(args[0]) if args else ""
        top = name.partition(".")[0]
        if top not in UNAVAILABLE_MODULES:
            return
        detail = top
    _observe(kind, sys._getframe(1), detail)


def _observe(kind: str, frame: FrameType, detail: str) -> None:
    inv = current.get()
    if inv is None or not getattr(inv.host.platform, "strict_runtime", False):
        return
    blamed = attribute(frame, kind)
    if blamed is None:
        return
    host = inv.host
    if kind == "socket" and host.config.has_flag("python_workers_20260610"):
        return  # the Python 3.14 runtime routes sockets through cloudflare:sockets
    finding = Finding(kind, app_location(blamed, host), detail)
    if _first_time(host, finding):
        host.platform.log.warn(host.log_source, finding.message())


# --- static checks at load time -----------------------------------------------------------------

def scan_imports(paths: Iterable[Path], root: Path) -> list[Finding]:
    """Imports of modules production lacks in these source files (unparsable files skipped)."""
    findings: list[Finding] = []
    for path in paths:
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (OSError, SyntaxError, ValueError):
            continue
        try:
            shown = str(path.relative_to(root))
        except ValueError:
            shown = str(path)
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                if top in UNAVAILABLE_MODULES:
                    findings.append(Finding("import", f"{shown}:{node.lineno}", top))
    return findings


def app_sources(folder: Path, limit: int = 2000) -> list[Path]:
    """The app's own ``.py`` files under its import root (bounded; no vendored trees)."""
    out: list[Path] = []
    skip = {"__pycache__", "node_modules", "python_modules", ".venv", ".venv-workers", ".git"}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d not in skip and not d.startswith(".")]
        for name in filenames:
            if name.endswith(".py"):
                out.append(Path(dirpath) / name)
                if len(out) >= limit:
                    return out
    return out


def report_findings(host: BaseHost, findings: Iterable[Finding]) -> None:
    """Log each finding once for ``host`` (a warning)."""
    for finding in findings:
        if _first_time(host, finding):
            host.platform.log.warn(host.log_source, finding.message())
