"""``Emulator``: everything `cf-emulator dev` runs, as one in-process object.

The CLI's ``dev``, the pytest plugin and end-to-end tests all start the emulator through
this class::

    async with Emulator([Path("wrangler.toml")], port=0) as emu:
        url = emu.url("web")

Start order: check the configs (refuse on errors with ``check``'s diagnostics), take the
state directory's lock (one process per state directory, docs/cli.md), say which Python
each app runs in production, install the apps' ``pyproject.toml`` dependencies (or find
them cached; refuse on conflicts), build the ``Platform``, create and load one host per
app, apply pending D1 migrations when asked,
start the binding plugins, listen on one port per app, record the address in
``<state>/server.json`` for the CLI verbs, then start cron triggers and the reload watcher.
``stop()`` undoes it gracefully: the ports close first, in-flight work gets a bounded
time to finish, and whatever is left stays persisted for redelivery on the next start;
``hurry()`` cuts those waits short (a second Ctrl-C). The lock is released last.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import traceback
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from collections.abc import Sequence

from emulator import __version__
from emulator.clock import Clock
from emulator.config.model import AppConfig, WorkspaceConfig
from emulator.config.sizes import parse_size
from emulator.cron import CronError, CronScheduler
from emulator.errors import EmulatorError, StartError
from emulator.logs import EventLog
from emulator.platform import AppHost, Platform
from emulator.server import EmulatorServer, app_bindings, plan_ports
from emulator.state import LockHolder, StateDir, StateLock

if TYPE_CHECKING:
    from emulator.config.statedir import StatePlacement

class ConfigError(StartError):
    """A config has errors; ``diagnostics`` is ``check``'s text rendering of them.

    ``report`` is the ``check`` report when the diagnostics come from it, else None (our
    own one-line reasons, such as two apps with the same name).
    """

    def __init__(self, diagnostics: str, report: Any = None) -> None:
        super().__init__(diagnostics)
        self.diagnostics = diagnostics
        self.report = report


class AppStartError(StartError):
    """An app's code failed to import; the message holds its traceback."""


class StateDirInUse(StartError):
    """Another process holds the state directory; ``holder`` is who (as far as known)."""

    def __init__(self, message: str, holder: LockHolder | None = None) -> None:
        super().__init__(message)
        self.holder = holder


# How long an emulator waits for a CLI verb that works on the state directory's files
# (`queues send` with no `dev` running, ...): such commands take well under a second, so
# a `dev` started meanwhile waits for them rather than failing; past this, it refuses.
CLI_HOLDER_WAIT = 10.0
# How long a holder that names nobody alive is retried: it took the lock an instant ago
# and has not written its name yet, or it is a short `lock_holder` probe.
UNKNOWN_HOLDER_GRACE = 1.0
LOCK_POLL_INTERVAL = 0.05


def in_use_message(state: StateDir, holder: LockHolder) -> str:
    """Why an emulator cannot have ``state``: who holds it, and on which ports it serves."""
    where = f"The state directory {state.root} is in use"
    advice = ("Only one emulator may use a state directory at a time: stop that one, or use "
              "another state directory (`--persist-to DIR`).")
    if not holder.known:
        return (f"{where} by another process (it holds {state.lock_file}). {advice}")
    if holder.role == "cli":
        return (f"{where} by `{holder.command}` (pid {holder.pid}), which did not finish within "
                f"{CLI_HOLDER_WAIT:g}s. Start again once that command has finished.")
    info = state.read_server_info()
    if info is None:
        serving = "still starting (its ports are not bound yet) or stopping"
    else:
        apps = info.get("apps")
        if not isinstance(apps, dict):
            apps = {}
        listed = [f"{name} {entry.get('url')}" for name, entry in apps.items() if isinstance(entry, dict)]
        serving = "serving " + (", ".join(listed) if listed else str(info.get("internal_url")))
        if info.get("s3_endpoint"):
            serving += f" (S3 endpoint {info['s3_endpoint']})"
    return f"{where} by another emulator: {holder.describe()}, {serving}. {advice}"


def format_table(header: list[str], rows: Sequence[tuple[str, ...]]) -> str:
    """Columns padded to their widest cell, two spaces apart (wrangler's plain table)."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in (header, *rows)]
    return "\n".join(lines)


def _failing_plugin(exc: BaseException) -> str | None:
    """Name of the binding plugin whose code raised ``exc`` (innermost frame wins), if any."""
    from emulator.bindings import BindingPlugin

    name: str | None = None
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        owner = frame.f_locals.get("self")
        if isinstance(owner, BindingPlugin):
            name = owner.name
    return name


def plugin_error_text(exc: BaseException) -> str:
    """What `dev` prints when a binding plugin cannot start (never a traceback).

    An ``EmulatorError`` is phrased for the user already (a ``QueuesError`` is the
    platform's own refusal, in Miniflare's wording): its message is shown exactly. Plugins
    that already phrase their failure for the user (``RuntimeError``, e.g. the S3
    endpoint's port) keep their text; anything else is named with its plugin.
    """
    if isinstance(exc, EmulatorError):
        return str(exc)
    if type(exc) is RuntimeError:
        return str(exc)
    plugin = _failing_plugin(exc)
    where = f"the {plugin} binding" if plugin else "a binding plugin"
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    hint = ""
    if isinstance(exc, sqlite3.DatabaseError):
        hint = ("\nA state file under the state directory is damaged; move the state directory away "
                "(or pick another one with --persist-to) and start again.")
    return f"Could not start {where}: {text}{hint}"


class Emulator:
    """The whole emulator for a set of apps: platform, hosts, ports, crons, reload."""

    def __init__(
        self,
        config_paths: list[Path] | list[str],
        state_dir: Path | str | None = None,
        clock: Clock | None = None,
        ip: str = "127.0.0.1",
        port: int | None = None,
        s3_port: int | None = 0,
        env: str | None = None,
        log: EventLog | None = None,
        watch: bool = False,
        apply_migrations: bool | None = None,
        shutdown_timeout: float = 10.0,
        vars: dict[str, str] | None = None,
        allowed_hosts: list[str] | None = None,
        request_body_limit: int | str | None = None,
        strict_runtime: bool = False,
    ) -> None:
        self.config_paths = [Path(p).resolve() for p in config_paths]
        # The edge's request body limit (bytes, or "200MB"); None: the workspace's, else
        # Cloudflare's default (docs/hosting.md, "Request bodies").
        self._request_body_limit_arg = None if request_body_limit is None else parse_size(request_body_limit)
        # `dev --var KEY:VALUE`: given to every hosted app, over its vars and dev secrets.
        self.var_overrides = dict(vars or {})
        # `dev --strict-runtime`: report what production Python Workers lack, fail the
        # legacy idioms (docs/python-workers.md, "Strict mode").
        self.strict_runtime = strict_runtime
        self._state_dir_arg = Path(state_dir) if state_dir is not None else None
        self.clock = clock
        self.ip = ip
        # Extra Host names the internal API and S3 endpoint answer (`dev --allowed-host`).
        self.allowed_hosts = list(allowed_hosts or [])
        self.port = port
        self.s3_port = s3_port
        self.env = env
        self.log = log or EventLog()
        self.watch = watch
        self._apply_migrations_arg = apply_migrations
        # Bound on how long a stop waits for in-flight requests and batches.
        self.shutdown_timeout = shutdown_timeout
        self.workspace: WorkspaceConfig | None = None
        # Decided at start by the state-directory rule (see `placement()`).
        self.state_placement: StatePlacement | None = None
        self.report: Any = None
        self._platform: Platform | None = None
        self._server: EmulatorServer | None = None
        self.crons: CronScheduler | None = None
        self._reloader: Any = None
        self._started = False
        self._lock: StateLock | None = None
        # Set by `hurry()`: the waits of a stop in progress end at once.
        self._hurry = asyncio.Event()
        # The apps' installed dependencies while started (emulator.runtime.dependencies).
        self._dependencies: Any = None

    # --- public accessors -------------------------------------------------------------
    @property
    def platform(self) -> Platform:
        if self._platform is None:
            raise RuntimeError("the emulator is not started; call `await emu.start()` first")
        return self._platform

    @property
    def apps(self) -> list[AppConfig]:
        return list(self.platform.apps)

    @property
    def hosts(self) -> dict[str, AppHost]:
        return self.platform.hosts

    @property
    def state_dir(self) -> Path:
        return self.platform.state.root

    def url(self, app_name: str) -> str:
        server = self._require_server()
        try:
            return server.urls[app_name]
        except KeyError:
            raise KeyError(f"no hosted app named {app_name!r}; apps: {', '.join(server.urls)}") from None

    @property
    def urls(self) -> dict[str, str]:
        return dict(self._require_server().urls)

    @property
    def internal_url(self) -> str:
        """Base URL of the internal API (any app's port serves it; the first one's)."""
        return next(iter(self._require_server().urls.values()))

    @property
    def s3_endpoint(self) -> str | None:
        plugin = self.platform.plugins.get("r2") if self._platform is not None else None
        endpoint = getattr(plugin, "s3_endpoint", None) if plugin is not None else None
        return endpoint if isinstance(endpoint, str) else None

    @property
    def server(self) -> EmulatorServer:
        """The running listeners (``internal_routes()`` lists the internal API)."""
        return self._require_server()

    def _require_server(self) -> EmulatorServer:
        if self._server is None:
            raise RuntimeError("the emulator is not started; call `await emu.start()` first")
        return self._server

    # --- lifecycle ----------------------------------------------------------------------
    def load_config(self) -> list[AppConfig]:
        """Check every config; raise ``ConfigError`` with the rendered diagnostics on errors."""
        from emulator.config import check_paths
        from emulator.config.loader import ConfigLookupError
        from emulator.config.render import render_for_dev

        try:
            # Judged as `wrangler dev` does: deploy-only errors (no compatibility_date) are
            # warnings here, and such an app runs with today's date.
            report = check_paths(self.config_paths, self.env, command="dev")
        except ConfigLookupError as exc:
            raise ConfigError(str(exc)) from None
        self.report = report
        if not report.ok:
            raise ConfigError(render_for_dev(report), report)
        if any(f.warnings for f in report.files):
            # Like wrangler, warnings do not stop `dev`, but they are shown once at start.
            self.log.warn("config", render_for_dev(report))
        self.workspace = report.workspace
        apps: list[AppConfig] = [self.with_overrides(app) for app in report.apps]
        if not apps:
            where = ", ".join(str(p) for p in self.config_paths)
            raise ConfigError(f"No app to host: {where} holds no Worker or Pages config.")
        seen: set[str] = set()
        for app in apps:
            if app.name in seen:
                raise ConfigError(
                    f'Two apps are named "{app.name}". Each hosted app needs its own name '
                    "(service bindings and logs refer to apps by name).")
            seen.add(app.name)
        return apps

    def with_overrides(self, app: AppConfig) -> AppConfig:
        """The app as hosted: its config plus the ``--var`` values of this run."""
        if not self.var_overrides:
            return app
        return dataclasses.replace(app, var_overrides=dict(self.var_overrides))

    def placement(self) -> StatePlacement:
        """Where this emulator keeps its state and whether a workspace's ``apply_migrations``
        applies: the one state-directory rule (``emulator.config.statedir``, docs/state.md)."""
        from emulator.config.statedir import place_state

        return place_state(self.config_paths, self._state_dir_arg)

    async def _claim_state_dir(self, state: StateDir) -> StateLock:
        """Take the state directory's lock, or raise ``StateDirInUse`` saying who has it.

        Another emulator: refused at once (never touching its ``server.json``). A CLI verb
        working on the files: waited for up to ``CLI_HOLDER_WAIT``. Real time on purpose:
        this waits for another process, which no injected clock governs.
        """
        lock = StateLock(state)
        loop = asyncio.get_running_loop()
        started = loop.time()
        announced = False
        while not lock.try_acquire("emulator"):
            holder = LockHolder.read(state.lock_file)
            waited = loop.time() - started
            if holder.known and holder.role != "cli":
                raise StateDirInUse(in_use_message(state, holder), holder)
            if holder.known and not announced:
                announced = True
                self.log.info("dev", f"waiting for `{holder.command}` (pid {holder.pid}) to finish with "
                                     f"the state directory {state.root}")
            if waited > (CLI_HOLDER_WAIT if holder.known else UNKNOWN_HOLDER_GRACE):
                raise StateDirInUse(in_use_message(state, holder), holder)
            await asyncio.sleep(LOCK_POLL_INTERVAL)
        # Ours now: a server.json still there was left by a process that died.
        state.clear_server_info()
        return lock

    def _release_state_dir(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.release()
    async def install_dependencies(self, apps: list[AppConfig] | None = None, force: bool = False) -> Any:
        """Install the apps' ``[project] dependencies`` (what `cf-emulator sync` does).

        Says per app which Python production runs (warnings when this interpreter or the
        app's ``requires-python`` disagree), refuses requirements that cannot share this
        interpreter, and installs the set under ``<state>/python-deps/`` unless it is cached.
        Returns the ``InstalledSet``; raises ``StartError`` with the reason.
        """
        from packaging.utils import canonicalize_name

        from emulator.config.python_version import findings
        from emulator.runtime import dependencies as deps

        apps = self.load_config() if apps is None else apps
        projects = []
        try:
            for app in apps:
                project = deps.read_app_requirements(app.name, app.root)
                where = deps.shown_path(project.pyproject) if project is not None else deps.PYPROJECT
                # Pages Functions run JavaScript in production: the version rule is the Workers'.
                for finding in (findings(app.compatibility_date, app.compatibility_flags,
                                         project.requires_python if project is not None else None, where)
                                if app.kind == "worker" else []):
                    self.log.emit(finding.level, "dev", f"[{app.name}] {finding.message}", app=app.name)
                if project is None:
                    continue
                for warning in project.warnings:
                    self.log.warn("dev", f"[{app.name}] {warning}", app=app.name)
                for name in project.skipped:
                    self.log.debug("dev", f"[{app.name}] {name} in {where} is not installed: "
                                          f"{deps.PROVIDED[canonicalize_name(name)]}", app=app.name)
                projects.append(project)
            plan = deps.plan_dependencies(projects)
            for have in plan.from_environment.values():
                self.log.debug("dev", f"{have.name} {have.version} comes from cf-emulator's own environment")
            installed = await deps.install(plan, self.placement().root, self.log, force=force)
        except deps.DependencyError as exc:
            raise StartError(str(exc)) from None
        for wanted in plan.apps:
            compiled = [d for d in deps.not_pure_python(installed)
                        if canonicalize_name(d.name) in deps.reachable(wanted.requirements, installed.distributions)]
            if compiled:
                # docs/dependencies.md: production installs only pure-Python wheels and Pyodide's builds.
                self.log.warn("dev", f"[{wanted.app}] not pure Python: "
                                     + ", ".join(f"{d.name} {d.version}" for d in compiled)
                                     + ". Production can use these only if Pyodide builds them "
                                       "(`pywrangler sync` fails otherwise).", app=wanted.app)
        return installed

    async def start(self) -> Emulator:
        if self._started:
            return self
        apps = self.load_config()
        self.state_placement = self.placement()
        state = StateDir(self.state_placement.root)
        self._lock = await self._claim_state_dir(state)
        self._announce_placement(self.state_placement)
        self._hurry = asyncio.Event()  # bound to this start's loop
        try:
            return await self._start(apps, state)
        except BaseException:
            # A failed or cancelled (Ctrl-C) start leaves the directory to the next process.
            self._release_state_dir()
            raise

    async def _start(self, apps: list[AppConfig], state: StateDir) -> Emulator:
        from emulator.runtime import AppLoadError, create_host
        from emulator.runtime.dependencies import DependencyError, activate

        installed = await self.install_dependencies(apps)
        if installed.cached:
            self.log.info("dev", "Python packages (installed before): "
                          + ", ".join(f"{d.name} {d.version}" for d in installed.distributions.values()),
                          folder=str(installed.folder))
        try:
            self._dependencies = activate(installed, [app.name for app in apps])
        except DependencyError as exc:
            raise StartError(str(exc)) from None
        try:
            platform = Platform(apps, state.root, clock=self.clock, log=self.log,
                                ip=self.ip, s3_port=self.s3_port, allowed_hosts=self.allowed_hosts,
                                request_body_limit=self.request_body_limit, strict_runtime=self.strict_runtime,
                                apply_migrations=self._should_apply_migrations())
        except Exception as exc:  # noqa: BLE001 - a binding plugin refused the apps while being built
            self.log.debug("dev", "start failed:\n" + "".join(traceback.format_exception(exc)))
            self._forget_dependencies()
            raise StartError(plugin_error_text(exc)) from None
        self._platform = platform
        try:
            for app in apps:
                host = create_host(app, platform)
                try:
                    host.load()
                except AppLoadError as exc:
                    raise AppStartError(f"App {app.name!r} failed to load:\n{exc.with_traceback_text()}") from None
                platform.attach_host(host)
            await platform.start()
        except (StartError, asyncio.CancelledError):
            await self._abandon_start(platform)
            raise
        except Exception as exc:  # noqa: BLE001 - see below
            # `check` catches almost every such config first; what still reaches a plugin
            # (e.g. a queue consumed by two apps given with separate -c options, a damaged
            # state file opened while an app's env is built) must read as a clear message,
            # never a traceback. The traceback stays available at --log-level debug.
            self.log.debug("dev", "start failed:\n" + "".join(traceback.format_exception(exc)))
            await self._abandon_start(platform)
            raise StartError(plugin_error_text(exc)) from None
        try:
            self._server = EmulatorServer(platform, self.health, ip=self.ip,
                                          shutdown_timeout=self.shutdown_timeout)
            await self._server.bind(apps, plan_ports(apps, self.port))
            self._start_crons(platform)
        except BaseException:
            if self.crons is not None:
                await self.crons.stop()
            if self._server is not None:
                await self._server.close()
            await platform.stop()
            self._server = None
            self._forget_dependencies()
            raise
        self._started = True
        assert self._lock is not None
        platform.state.write_server_info(self.server_info(), self._lock)
        self._announce_bindings(platform)
        for name, url in self._server.urls.items():
            self.log.info("dev", f"ready: {name} {url}", app=name, url=url)
        if self.s3_endpoint:
            self.log.info("dev", f"S3 endpoint: {self.s3_endpoint}", s3_endpoint=self.s3_endpoint)
        platform.serving()
        if self.watch:
            from emulator.reload import AppReloader

            self._reloader = AppReloader(self)
            self._reloader.start()
        return self

    def _announce_placement(self, placement: StatePlacement) -> None:
        """Say when a workspace decides the state directory of an app named on its own."""
        note = placement.describe()
        if note:
            self.log.info("dev", note, state_dir=str(placement.root),
                          workspace=str(placement.workspace.path) if placement.workspace else None)
        if placement.stray is not None:
            self.log.warn("dev", f"{placement.stray} is not used: it holds state from a run of this app on "
                                 f"its own, before the workspace's state directory applied. Move what you need "
                                 f"into {placement.root} or delete it (docs/state.md).")

    def _announce_bindings(self, platform: Platform) -> None:
        """wrangler's "Your Worker has access to the following bindings" table, per app.

        A binding type we don't emulate also gets a warning: its `env` object raises on use.
        """
        from emulator.bindings import binding_rows

        for app in platform.apps:
            rows = binding_rows(app)
            if not rows:
                continue
            noun = "Worker" if app.kind == "worker" else "Pages project"
            self.log.info("dev", f"[{app.name}] Your {noun} has access to the following bindings:\n"
                          + format_table(["Binding", "Resource", "Type", "Local"], rows),
                          app=app.name, bindings=rows)
            missing = [r for r in rows if r[3] != "emulated"]
            if missing:
                listing = ", ".join(f"{r[0]} ({r[2]})" for r in missing)
                self.log.warn("dev", f"[{app.name}] not emulated locally: {listing}. Using them raises an "
                              "error naming the binding; everything else runs.", app=app.name)

    async def _abandon_start(self, platform: Platform) -> None:
        """Undo a start that failed half way: stop the plugins, forget the loaded apps."""
        # `Platform.stop()` only runs after a complete start; the plugins started before the
        # failing one (an S3 listener, an open broker, open databases) are stopped one by one.
        for plugin in reversed(list(platform.plugins.values())):
            try:
                await plugin.stop()
            except Exception as exc:  # noqa: BLE001 - best effort: the start error is what the user must see
                self.log.debug("dev", f"stopping the {plugin.name} plugin after a failed start: {exc!r}")
        self._unload_apps(platform)
        self._platform = None
        self._forget_dependencies()

    def _unload_apps(self, platform: Platform) -> None:
        """Forget the hosted apps' modules (stop, or a failed start): their plain module names
        (``import hello_django``) must not outlive this emulator in a process that goes on."""
        for host in list(platform.hosts.values()):
            try:
                host.unload()  # type: ignore[attr-defined]  # the runtime's hosts (BaseHost); AppHost is the plugins' view
            except Exception as exc:  # noqa: BLE001 - best effort: stopping goes on
                self.log.debug("dev", f"unloading {host.config.name}: {exc!r}")

    def declared_requirements(self, app_name: str) -> list[Any]:
        """The requirements of ``app_name`` that the running set was installed for."""
        if self._dependencies is None:
            return []
        for app in self._dependencies.installed.plan.apps:
            if app.app == app_name:
                return list(app.requirements)
        return []

    def _forget_dependencies(self) -> None:
        """Take the apps' installed packages off ``sys.path`` (stop, or a failed start)."""
        if self._dependencies is not None:
            self._dependencies.deactivate()
            self._dependencies = None

    @property
    def request_body_limit(self) -> int | None:
        """The limit this run uses: the argument, else the workspace's (None: the default)."""
        if self._request_body_limit_arg is not None:
            return self._request_body_limit_arg
        return self.workspace.request_body_limit if self.workspace is not None else None

    def _should_apply_migrations(self) -> bool:
        if self._apply_migrations_arg is not None:
            return self._apply_migrations_arg
        placement = self.state_placement
        return placement.apply_migrations if placement is not None else bool(
            self.workspace is not None and self.workspace.apply_migrations)

    def _start_crons(self, platform: Platform) -> None:
        def on_error(app_name: str, cron: str, exc: BaseException) -> None:
            self.log.error(f"app:{app_name}", f"scheduled handler for {cron!r} raised {exc!r}")

        self.crons = CronScheduler(platform.clock, on_error=on_error)
        for app in platform.apps:
            self.register_crons(app)
        self.crons.start()

    def register_crons(self, app: AppConfig) -> None:
        """(Re-)arm an app's cron triggers; invalid expressions are logged, not fatal."""
        assert self.crons is not None
        self.crons.remove_owner(app.name)
        if app.kind != "worker":
            return  # Pages has no cron triggers (wrangler rejects "triggers" for Pages)
        for cron in app.crons:
            try:
                self.crons.add(app.name, cron, self._scheduled_runner(app.name))
            except CronError as exc:
                self.log.error("dev", f"[{app.name}] cron trigger {cron!r} ignored: {exc}")

    def _scheduled_runner(self, app_name: str) -> Any:
        async def run(cron: str, scheduled_time_ms: int) -> None:
            loop = asyncio.get_running_loop()
            started = loop.time()
            await self.platform.hosts[app_name].scheduled(cron, scheduled_time_ms)
            ms = round((loop.time() - started) * 1000)
            self.log.info("http", f'[{app_name}] scheduled "{cron}" ({ms}ms)',
                          app=app_name, cron=cron, scheduled_time=scheduled_time_ms, duration_ms=ms)
        return run

    def server_info(self) -> dict[str, Any]:
        server = self._require_server()
        return {
            "internal_url": self.internal_url,
            "apps": {name: {"url": url, "port": server.ports[name]} for name, url in server.urls.items()},
            "s3_endpoint": self.s3_endpoint,
            "version": __version__,
        }

    def health(self, app_name: str | None = None) -> dict[str, Any]:
        platform = self.platform
        urls = self._server.urls if self._server is not None else {}
        plugins: dict[str, Any] = {}
        for name, plugin in platform.plugins.items():
            try:
                plugins[name] = plugin.health()
            except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the health check
                plugins[name] = {"state": "error", "error": f"{type(exc).__name__}: {exc}"}
        return {
            "status": "ok",
            "version": __version__,
            "app": app_name,
            "apps": {
                app.name: {
                    "url": urls.get(app.name),
                    "kind": app.kind,
                    "config": str(app.config_path),
                    "bindings": app_bindings(app),
                    "crons": list(app.crons),
                }
                for app in platform.apps
            },
            "s3": {"endpoint": self.s3_endpoint},
            "request_bodies": platform.request_bodies.health(),
            "state_dir": str(platform.state.root),
            "plugins": plugins,
        }

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until no binding has pending, runnable or in-flight work."""
        await self.platform.drain(timeout=timeout)

    def hurry(self) -> None:
        """Make a stop in progress (or the next one) skip its waits: in-flight requests,
        scheduled handlers and batches are cancelled at once; the plugins still stop and
        close their stores, so unfinished work stays persisted for redelivery."""
        self._hurry.set()
        if self._server is not None:
            self._server.hurry()

    async def stop(self) -> None:
        """Graceful stop: close ports, let in-flight work finish (bounded), stop plugins."""
        if not self._started:
            return
        self._started = False
        # No longer serving: CLI verbs now wait for the lock (and then work on the files)
        # instead of calling a server that is closing.
        self.platform.state.clear_server_info()
        if self._reloader is not None:
            await self._reloader.stop()
            self._reloader = None
        server = self._server
        if server is not None:
            # Closing the listeners first: no new request starts while we wind down.
            await server.stop_accepting()
        platform = self.platform
        try:
            if self.crons is not None:
                await self._bounded(self.crons.stop(), "scheduled handlers")
            if server is not None:
                # In-flight requests get `shutdown_timeout` to finish, then are cancelled
                # (at once after `hurry()`: the server itself cuts its wait short).
                await self._bounded(server.close(), "in-flight requests", hurried=False)
            # Batches already handed to a consumer get the same bound to finish (their
            # acks are then persisted); stopping the plugins cancels whatever still runs,
            # and the unacknowledged messages are redelivered at the next start.
            await self._bounded(self._in_flight_settled(), "in-flight batches")
            # Not cut short by `hurry()`: this is where the stores close.
            await self._bounded(platform.stop(), "binding plugins", hurried=False)
        finally:
            platform.state.clear_server_info()
            self._release_state_dir()
            self._unload_apps(platform)
            self._forget_dependencies()

    def in_flight(self) -> int:
        """Messages or steps a binding plugin reports as being processed right now."""
        return self.platform.in_flight()

    async def _in_flight_settled(self) -> None:
        # Real time on purpose: this bounds how long a stop may take, whatever the clock.
        while self.in_flight():  # noqa: ASYNC110 - plugins report a count, not an event; polled only while stopping
            await asyncio.sleep(0.02)

    async def _bounded(self, work: Any, what: str, hurried: bool = True) -> None:
        """Await ``work`` for at most ``shutdown_timeout`` (less once ``hurry()`` is called)."""
        task = asyncio.ensure_future(work)
        waiters: set[asyncio.Future[Any]] = {task}
        hurry = asyncio.ensure_future(self._hurry.wait()) if hurried else None
        if hurry is not None:
            waiters.add(hurry)
        try:
            await asyncio.wait(waiters, timeout=self.shutdown_timeout, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            if hurry is not None:
                hurry.cancel()
        if task.done():
            task.result()  # its exception, if any, is the caller's
            return
        task.cancel()
        # Cancelling lets its cleanup run (aiohttp cancels the request handlers); bounded
        # too, so a handler that ignores cancellation cannot hold the stop.
        await asyncio.wait({task}, timeout=self.shutdown_timeout)
        if not task.done():
            self.log.debug("dev", f"{what}: still running after being cancelled")
        elif not task.cancelled() and task.exception() is not None:
            self.log.debug("dev", f"{what}: {task.exception()!r} while being cancelled")
        if self._hurry.is_set():
            self.log.warn("dev", f"stopping now: {what} cancelled; unfinished work stays persisted for redelivery")
        else:
            self.log.warn("dev", f"{what} did not finish within {self.shutdown_timeout}s; "
                                 "unfinished work stays persisted for redelivery")

    async def __aenter__(self) -> Emulator:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()
