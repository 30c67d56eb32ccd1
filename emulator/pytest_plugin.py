"""pytest plugin: the whole emulator in-process, with fake time, for integration tests.

Registered through the ``pytest11`` entry point (``cf_emulator``), so any project with
cf-emulator installed gets the ``cf_emulator`` fixture::

    async def test_upload_is_compacted(cf_emulator):
        emu = await cf_emulator("wrangler.toml")          # a workspace, an app config or a folder
        await emu.queue("jobs").send({"id": 1})
        await emu.drain()                                 # nothing pending, in flight or runnable
        await emu.clock.advance(30)                       # batch timeouts, retry delays, sleeps
        resp = await emu.fetch("web", "/api/status")
        assert resp.status == 200 and resp.json()["done"]
        assert "QUEUE jobs 1/1" in " ".join(emu.log_messages(source="queues"))

The emulator listens on free loopback ports (``port=0``, ``s3_port=0``), keeps its state
in the test's ``tmp_path`` and runs on a ``FakeClock``: time moves only when the test calls
``advance`` (Miniflare's fake timers; docs/testing.md, "Testing your app"). It is stopped after the test.
When a test fails, the emulator's log is attached to the failure report.

Importing this module must stay cheap (pytest imports every ``pytest11`` plugin at start-up,
for every project in the environment), so the emulator itself is imported on first use.
"""

from __future__ import annotations

import itertools
import json as _json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from collections.abc import AsyncIterator, Awaitable

import pytest

from emulator.errors import EmulatorError

if TYPE_CHECKING:
    import aiohttp
    from multidict import CIMultiDict

    from emulator.clock import Clock, FakeClock
    from emulator.emulator import Emulator
    from emulator.logs import EventLog, LogRecord
    from emulator.platform import Platform

__all__ = ["EmulatorHandle", "EmulatorFactory", "FetchResponse", "LookupFailed", "cf_emulator"]

_LEVEL_ORDER = {"debug": 10, "info": 20, "warn": 30, "error": 40}
_HANDLES = pytest.StashKey[list["EmulatorHandle"]]()


# --- options and report --------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cf-emulator", "cf-emulator (in-process Cloudflare emulator)")
    group.addoption("--cf-emulator-log-level", default="info",
                    choices=sorted(_LEVEL_ORDER, key=_LEVEL_ORDER.__getitem__),
                    help="lowest level of emulator log lines attached to failed tests (default: info)")
    group.addoption("--cf-emulator-log-lines", type=int, default=200,
                    help="how many of the last emulator log lines a failed test shows (default: 200)")
    group.addoption("--cf-emulator-strict-runtime", action="store_true", default=False,
                    help="start every emulator with strict_runtime=True (like `cf-emulator dev --strict-runtime`)")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    # The call phase is reported before fixtures tear down, so the emulators still exist.
    if report.when == "call" and report.failed:
        for handle in item.stash.get(_HANDLES, []):
            text = handle.format_logs(
                min_level=item.config.getoption("cf_emulator_log_level", "info"),
                last=item.config.getoption("cf_emulator_log_lines", 200),
            )
            if text:
                report.sections.append((f"cf-emulator log ({handle.describe()})", text))
    return report


# --- what the test gets --------------------------------------------------------------
@dataclass
class FetchResponse:
    """An app's answer, fully read: ``status``, ``headers`` (case-insensitive, repeated ones
    kept: ``headers.getall("set-cookie")``), ``body`` (bytes), ``text``, ``json()``."""

    status: int
    headers: CIMultiDict[str]
    body: bytes
    url: str = ""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return _json.loads(self.body)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


# Also a LookupError: a failed look-up by name, like KeyError, which tests may expect as such.
class LookupFailed(EmulatorError, LookupError):
    """A binding or app named in a test does not exist; the message lists what does."""


class EmulatorHandle:
    """One running emulator as a test sees it: bindings, HTTP, time, drain, logs."""

    def __init__(self, emulator: Emulator, log: EventLog, factory_options: dict[str, Any]) -> None:
        self.emulator = emulator
        self._log = log
        self._options = factory_options
        self.logs: list[LogRecord] = []
        self._unsubscribe = log.subscribe(self.logs.append)
        self._sessions: list[aiohttp.ClientSession] = []
        self._fetch_session: aiohttp.ClientSession | None = None

    # --- the platform -----------------------------------------------------------------
    @property
    def platform(self) -> Platform:
        return self.emulator.platform

    @property
    def clock(self) -> Clock:
        """The platform's clock: a ``FakeClock`` unless the test asked for real time."""
        return self.platform.clock

    @property
    def state_dir(self) -> Path:
        return self.emulator.state_dir

    @property
    def apps(self) -> list[str]:
        return [app.name for app in self.platform.apps]

    def describe(self) -> str:
        return ", ".join(self.apps)

    def url(self, app: str) -> str:
        """Base URL of a hosted app (``http://127.0.0.1:<port>``)."""
        return self.emulator.url(app)

    @property
    def dashboard_url(self) -> str:
        return self.emulator.internal_url + "/_emulator/"

    # --- bindings ---------------------------------------------------------------------
    def binding(self, kind: str, name: str) -> Any:
        """The object apps see for resource or binding ``name`` of binding type ``kind``.

        A resource name (queue, bucket, database, workflow, namespace) wins over a binding
        name. Each binding type also has its own accessor (its ``BindingType.accessor``):
        ``emu.queue("jobs")``, ``emu.r2("bucket")``, ``emu.d1("db")``, ``emu.workflow("wf")``.
        """
        from emulator.bindings import binding_type

        noun = binding_type(kind).noun
        plugin = self.platform.plugins.get(kind)
        found = plugin.lookup(name) if plugin is not None else None
        if found is not None:
            return found
        known = sorted(plugin.known_names()) if plugin is not None else []
        listing = ", ".join(repr(n) for n in known) if known else "none"
        raise LookupFailed(f"no {noun} named {name!r} is bound by the hosted apps "
                           f"({self.describe()}); known names: {listing}")

    def stats(self) -> dict[str, Any]:
        """Figures of every running binding type, by type: ``emu.stats()["queues"]["jobs-dlq"]["depth"]``."""
        return {name: plugin.stats() for name, plugin in self.platform.plugins.items()}

    def __getattr__(self, attr: str) -> Any:
        # The per-type accessors (`emu.queue(name)`, `emu.kv(name)`...) and test helpers
        # (`emu.peek(queue)`, `emu.create_message_batch(...)`) come from the registry.
        if not attr.startswith("_") and "emulator" in self.__dict__:
            from emulator.bindings import binding_types

            for plugin in self.platform.plugins.values():
                helper = plugin.test_helpers().get(attr)
                if helper is not None:
                    return helper
            for kind in binding_types():
                if kind.accessor == attr:
                    def accessor(name: str, _kind: str = kind.name) -> Any:
                        return self.binding(_kind, name)

                    accessor.__name__ = attr
                    accessor.__doc__ = f"The {kind.noun} binding for {kind.noun} (or binding) ``name``."
                    return accessor
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {attr!r}")

    def env(self, app: str) -> Any:
        """An app's whole ``env`` (vars and bindings), as its handlers see it."""
        return self.platform.env_for(self.platform.app(app))

    # --- HTTP -------------------------------------------------------------------------
    def client(self, app: str, **session_options: Any) -> aiohttp.ClientSession:
        """An ``aiohttp.ClientSession`` whose relative URLs go to ``app`` (closed after the test)."""
        import aiohttp

        session = aiohttp.ClientSession(base_url=self.url(app), **session_options)
        self._sessions.append(session)
        return session

    async def fetch(self, app: str, path: str = "/", method: str = "GET", **request_options: Any) -> FetchResponse:
        """One request to ``app``; ``json=``, ``data=``, ``headers=``, ``params=`` as in aiohttp."""
        import aiohttp
        from multidict import CIMultiDict

        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        if self._fetch_session is None or self._fetch_session.closed:
            self._fetch_session = aiohttp.ClientSession()
            self._sessions.append(self._fetch_session)
        request_options.setdefault("allow_redirects", False)
        async with self._fetch_session.request(method, self.url(app) + path, **request_options) as resp:
            body = await resp.read()
            return FetchResponse(resp.status, CIMultiDict(resp.headers), body, str(resp.url))

    # --- time and work ----------------------------------------------------------------
    async def drain(self, timeout: float = 30.0) -> None:
        """Return when no message is pending or in flight and no workflow is runnable.

        With the fake clock, work that waits for time (delayed messages, retry delays,
        batch timeouts, workflow sleeps) is not runnable until ``clock.advance()``.
        """
        await self.emulator.drain(timeout=timeout)

    async def advance(self, seconds: float, timeout: float = 30.0) -> None:
        """``clock.advance(seconds)`` then ``drain()``: move time and let the work it started finish."""
        clock: Any = self.clock
        if not hasattr(clock, "advance"):
            raise TypeError("this emulator runs on the real clock; start it with the default FakeClock to advance time")
        await clock.advance(seconds)
        await self.drain(timeout=timeout)

    async def advance_to_next(self, timeout: float = 30.0) -> float | None:
        """Move the fake clock to its next timer (a batch timeout, a retry delay, a workflow
        sleep, an alarm...), let the work it starts finish, and return the seconds moved;
        ``None`` when no timer is waiting."""
        clock = self._fake_clock()
        await self.drain(timeout=timeout)
        deadline = clock.next_deadline()
        if deadline is None:
            return None
        step = max(0.0, deadline - clock.now())
        await clock.advance(step)
        await self.drain(timeout=timeout)
        return step

    async def run_until_idle(self, max_time: float = 24 * 3600.0, timeout: float = 30.0) -> float:
        """``advance_to_next()`` until no timer is left or ``max_time`` seconds of fake time
        have passed (cron triggers always have a next run, so they end at ``max_time``);
        returns the seconds moved. Retry schedules, delays and sleeps play out in order."""
        clock = self._fake_clock()
        start = clock.now()
        while True:
            # Work already running (a full batch dispatched at send time) arms its timers
            # (a retry delay) only when it ends: let it end before asking for the next one.
            await self.drain(timeout=timeout)
            deadline = clock.next_deadline()
            if deadline is None or deadline - start > max_time:
                break
            await self.advance_to_next(timeout=timeout)
        return clock.now() - start

    def _fake_clock(self) -> FakeClock:
        from emulator.clock import FakeClock

        clock = self.clock
        if not isinstance(clock, FakeClock):
            raise TypeError("this emulator runs on the real clock; start it with the default FakeClock to move time")
        return clock

    # --- logs -------------------------------------------------------------------------
    def log_messages(self, source: str | None = None, level: str | None = None,
                     contains: str | None = None) -> list[str]:
        """Messages logged since start, filtered by exact ``source`` ("queues", "http",
        "app:<name>", ...), exact ``level`` and a substring."""
        return [r.message for r in self.log_records(source, level, contains)]

    def log_records(self, source: str | None = None, level: str | None = None,
                    contains: str | None = None) -> list[LogRecord]:
        return [
            r for r in list(self.logs)
            if (source is None or r.source == source) and (level is None or r.level == level)
            and (contains is None or contains in r.message)
        ]

    def format_logs(self, min_level: str = "debug", last: int = 200) -> str:
        floor = _LEVEL_ORDER.get(min_level, 0)
        records = [r for r in list(self.logs) if _LEVEL_ORDER.get(r.level, 0) >= floor][-last:]
        return "\n".join(f"{r.level.upper():5} {r.source}: {r.message}" for r in records)

    # --- lifecycle --------------------------------------------------------------------
    async def restart(self) -> None:
        """Stop and start again on the same state directory and clock (durability tests)."""
        from emulator.emulator import Emulator

        await self._close_sessions()
        old = self.emulator
        await old.stop()
        self.emulator = Emulator(old.config_paths, **self._options)
        await self.emulator.start()

    async def _close_sessions(self) -> None:
        sessions, self._sessions = self._sessions, []
        self._fetch_session = None
        for session in sessions:
            await session.close()

    async def stop(self) -> None:
        await self._close_sessions()
        await self.emulator.stop()

    def __repr__(self) -> str:
        return f"<cf-emulator {self.describe()}>"


class EmulatorFactory(Protocol):
    def __call__(self, *config_paths: str | Path, **options: Any) -> Awaitable[EmulatorHandle]: ...


@dataclass
class _Factory:
    """Starts emulators for one test and stops them all afterwards."""

    tmp_path: Path
    search_dirs: list[Path]
    handles: list[EmulatorHandle] = field(default_factory=list)
    strict_runtime: bool = False
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    def _resolve(self, path: str | Path) -> Path:
        candidate = Path(path)
        if candidate.is_absolute():
            return candidate
        for folder in self.search_dirs:
            if (folder / candidate).exists():
                return (folder / candidate).resolve()
        tried = ", ".join(str(d) for d in self.search_dirs)
        raise FileNotFoundError(f"cf_emulator: {str(path)!r} not found (looked in {tried})")

    async def __call__(self, *config_paths: str | Path, real_time: bool = False,
                       **options: Any) -> EmulatorHandle:
        from emulator.clock import FakeClock, RealClock
        from emulator.emulator import Emulator
        from emulator.logs import EventLog

        if not config_paths:
            raise TypeError("cf_emulator() needs a wrangler config, a workspace file or an app folder")
        paths = [self._resolve(p) for p in config_paths]
        n = next(self._counter)
        options.setdefault("state_dir", self.tmp_path / ("cf-emulator-state" + (f"-{n}" if n else "")))
        options.setdefault("clock", RealClock() if real_time else FakeClock())
        options.setdefault("port", 0)
        options.setdefault("s3_port", 0)
        # Tests are short-lived: a stuck request should not hold the teardown for long.
        options.setdefault("shutdown_timeout", 5.0)
        options.setdefault("strict_runtime", self.strict_runtime)
        log = options.pop("log", None) or EventLog(capacity=10_000)
        options["log"] = log
        emulator = Emulator(paths, **options)
        handle = EmulatorHandle(emulator, log, options)
        await emulator.start()
        self.handles.append(handle)
        return handle

    async def close(self) -> None:
        errors: list[BaseException] = []
        for handle in reversed(self.handles):
            try:
                await handle.stop()
            except Exception as exc:  # noqa: BLE001 - stop the others, then report
                errors.append(exc)
        self.handles.clear()
        if errors:
            raise errors[0]


async def _cf_emulator(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EmulatorFactory]:
    test_dir = request.path.parent if getattr(request, "path", None) else Path.cwd()
    factory = _Factory(tmp_path, [Path.cwd(), test_dir, request.config.rootpath],
                       strict_runtime=bool(request.config.getoption("cf_emulator_strict_runtime", False)))
    request.node.stash[_HANDLES] = factory.handles
    try:
        yield factory
    finally:
        await factory.close()


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - pytest-asyncio ships with the `test` extra
    @pytest.fixture
    def cf_emulator() -> None:
        pytest.fail("the cf_emulator fixture is async and needs pytest-asyncio: pip install pytest-asyncio",
                    pytrace=False)
else:
    # The same fixture name either way; the fallback above is a sync function.
    cf_emulator = pytest_asyncio.fixture(_cf_emulator, name="cf_emulator")  # type: ignore[assignment]  # see the comment above
