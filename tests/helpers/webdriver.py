"""A small asynchronous W3C WebDriver client for chromedriver + Debian's chromium.

No selenium: the protocol is a handful of JSON-over-HTTP calls. The client is async on
purpose: the emulator under test serves the browser from the same event loop, so a
blocking WebDriver call would deadlock the page load.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import signal
import socket
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = os.environ.get("CF_EMULATOR_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CF_EMULATOR_CHROMEDRIVER", shutil.which("chromedriver") or "/usr/bin/chromedriver")
ELEMENT_KEY = "element-6066-11e4-a52e-4f735466cecf"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1280,900",
]


class WebDriverError(Exception):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ChromeDriver:
    """A chromedriver process on a free loopback port, and one browser session on it."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: asyncio.subprocess.Process | None = None
        self._http: aiohttp.ClientSession | None = None
        self._profile = tempfile.mkdtemp(prefix="cf-emulator-chromium-")
        self.session_id: str | None = None

    async def start(self, timeout: float = 15.0) -> ChromeDriver:
        try:
            await self._start(timeout)
        except BaseException:
            await self.close()  # never leave chromedriver (or a browser) behind
            raise
        return self

    async def _start(self, timeout: float) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            CHROMEDRIVER, f"--port={self.port}", "--allowed-ips=127.0.0.1",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            # Its own process group, so closing also ends the chromium it started.
            start_new_session=True)
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                status = await self._call("GET", "/status")
                if status.get("ready"):
                    break
            except (aiohttp.ClientError, WebDriverError):
                pass
            if self._proc.returncode is not None:
                raise WebDriverError(f"{CHROMEDRIVER} exited with code {self._proc.returncode}; "
                                     "install chromium and chromium-driver (see .ci/run)")
            if loop.time() > deadline:
                raise WebDriverError("chromedriver did not become ready")
            await asyncio.sleep(0.05)
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM,
                                   "args": [*CHROMIUM_FLAGS, f"--user-data-dir={self._profile}"]},
        }}}
        created = await self._call("POST", "/session", caps)
        self.session_id = created["sessionId"]

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        assert self._http is not None
        async with self._http.request(method, self.url + path, json=body) as resp:
            payload = await resp.json(content_type=None)
        value = payload.get("value") if isinstance(payload, dict) else None
        if resp.status >= 400:
            detail = value.get("message", value) if isinstance(value, dict) else value
            raise WebDriverError(f"{method} {path}: {resp.status} {detail}")
        return value

    async def session(self, method: str, path: str, body: Any = None) -> Any:
        return await self._call(method, f"/session/{self.session_id}{path}", body)

    # --- the commands the tests use -----------------------------------------------------
    async def get(self, url: str) -> None:
        await self.session("POST", "/url", {"url": url})

    async def execute(self, script: str, *args: Any) -> Any:
        return await self.session("POST", "/execute/sync", {"script": script, "args": list(args)})

    async def find(self, css: str) -> str:
        found = await self.session("POST", "/element", {"using": "css selector", "value": css})
        return str(found[ELEMENT_KEY])

    async def click(self, css: str, attempts: int = 5) -> None:
        """Click the element; found again if the page re-rendered it in between (polling tables)."""
        for attempt in range(attempts):
            element = await self.find(css)
            try:
                await self.session("POST", f"/element/{element}/click", {})
                return
            except WebDriverError as exc:
                if "stale element" not in str(exc) or attempt == attempts - 1:
                    raise

    async def text(self, css: str) -> str:
        element = await self.find(css)
        return str(await self.session("GET", f"/element/{element}/text"))

    async def type(self, css: str, text: str) -> None:
        element = await self.find(css)
        await self.session("POST", f"/element/{element}/clear", {})
        await self.session("POST", f"/element/{element}/value", {"text": text})

    async def accept_alert(self) -> None:
        await self.session("POST", "/alert/accept", {})

    async def dismiss_alert(self) -> None:
        await self.session("POST", "/alert/dismiss", {})

    async def alert_text(self) -> str:
        """The text of the open ``alert``/``confirm`` dialog."""
        return str(await self.session("GET", "/alert/text"))

    async def screenshot(self, path: Path) -> bytes:
        data = base64.b64decode(await self.session("GET", "/screenshot"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return data

    async def wait_for(self, script: str, *args: Any, timeout: float = 10.0, what: str = "") -> Any:
        """Poll a JavaScript expression (``return ...``) until it is truthy; its value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = await self.execute(script, *args)
            if value:
                return value
            if loop.time() > deadline:
                raise WebDriverError(f"timed out waiting for {what or script}")
            await asyncio.sleep(0.05)

    def _signal(self, sig: int) -> None:
        assert self._proc is not None
        try:
            os.killpg(self._proc.pid, sig)  # the group we created in start()
        except ProcessLookupError:
            pass

    async def close(self) -> None:
        try:
            if self.session_id is not None:
                await self._call("DELETE", f"/session/{self.session_id}")
        except (aiohttp.ClientError, WebDriverError):
            pass
        finally:
            self.session_id = None
            if self._http is not None:
                await self._http.close()
            if self._proc is not None and self._proc.returncode is None:
                self._signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(self._proc.wait(), 5)
                except TimeoutError:
                    self._signal(signal.SIGKILL)
                    await self._proc.wait()
            shutil.rmtree(self._profile, ignore_errors=True)


def rows_js(table: str, cells: str = "td") -> str:
    """A script returning the text of every cell of table ``#table``'s body, row by row."""
    return (f"return Array.from(document.querySelectorAll('#{table} tbody tr'))"
            f".map(r => Array.from(r.querySelectorAll('{cells}')).map(c => c.textContent));")
