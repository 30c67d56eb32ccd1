"""``workers.wsgi``: serve a WSGI app (Django, Flask, ...) from a Worker's ``fetch``.

``await wsgi.fetch(application, request, self.env)`` builds the SDK's environ (PEP 3333
plus ``environ["workers.env"]``), reads the request body lazily through ``wsgi.input``
and streams the response body from the app's iterable (docs/python-workers.md, "ASGI and
WSGI").

Production runs the WSGI app inline and suspends the WebAssembly stack whenever
``wsgi.input`` waits for body bytes (JSPI). CPython cannot suspend a thread, so the app
runs in a worker thread as the same app (``workers.env``, logs) while the event loop keeps
serving; ``wsgi.input`` and ``pyodide.ffi.run_sync`` hand their awaits back to the loop.
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from collections.abc import AsyncIterator
from urllib.parse import unquote, urlsplit

from emulator.runtime.http import Response, header_pairs
from emulator.runtime.sync_bridge import run_blocking, run_sync_code
from workers import Context, WorkerEntrypoint
from workers.gateway import BaseOptions

__all__ = ["Options", "build_environ", "entrypoint", "fetch"]

logger = logging.getLogger("wsgi")
NULL_BODY_STATUSES = frozenset({101, 103, 204, 205, 304})
_END = object()


@dataclass(frozen=True, kw_only=True)
class Options(BaseOptions):
    """Options of the WSGI adapter (see ``workers.gateway.BaseOptions``)."""


DEFAULT_OPTIONS = Options()


def _native(value: str) -> str:
    """A PEP 3333 "native string": the UTF-8 bytes of ``value`` as latin-1 characters."""
    return value.encode("utf-8").decode("latin-1")


class _StreamInput(io.RawIOBase):
    """``wsgi.input``: the request body read from its stream as the app asks for it."""

    def __init__(self, body: Any) -> None:
        self._chunks = body.__aiter__()
        self._buffer = bytearray()
        self._eof = False

    def readable(self) -> bool:
        return True

    def _fill(self) -> None:
        while not self._buffer and not self._eof:
            try:
                chunk = run_blocking(self._chunks.__anext__())
            except StopAsyncIteration:
                self._eof = True
            else:
                self._buffer.extend(chunk.to_bytes())

    def readinto(self, b: Any) -> int:
        self._fill()
        n = min(len(b), len(self._buffer))
        b[:n] = self._buffer[:n]
        del self._buffer[:n]
        return n


def _make_input(req: Any) -> io.IOBase:
    body = req.body
    if not body:
        return io.BytesIO(b"")
    return io.BufferedReader(_StreamInput(body))


def build_environ(req: Any, env: Any, body: Any) -> dict[str, Any]:
    """The SDK's environ; ``CONTENT_LENGTH`` is synthesized only for a buffered body."""
    if isinstance(body, (bytes, bytearray)):
        wsgi_input: Any = io.BytesIO(body)
        fallback_length: int | None = len(body)
    else:
        wsgi_input, fallback_length = body, None
    url = urlsplit(req.url)
    if not url.scheme:
        raise ValueError(f"Request URL is not absolute: {req.url!r}")
    method = req.method
    environ: dict[str, Any] = {
        "REQUEST_METHOD": str(method.value) if hasattr(method, "value") else str(method),
        "SCRIPT_NAME": "",
        "PATH_INFO": _native(unquote(url.path or "/")),
        "QUERY_STRING": url.query,
        "SERVER_NAME": url.hostname,
        "SERVER_PORT": str(url.port) if url.port else ("443" if url.scheme == "https" else "80"),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": url.scheme,
        "wsgi.input": wsgi_input,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "workers.env": env,
    }
    for key, value in header_pairs(req.headers):
        name = key.upper().replace("-", "_")
        if name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[name] = value
        else:
            http_name = "HTTP_" + name
            environ[http_name] = environ[http_name] + "," + value if http_name in environ else value
    if "CONTENT_LENGTH" not in environ and fallback_length:
        environ["CONTENT_LENGTH"] = str(fallback_length)
    return environ


@dataclass
class _Started:
    status: str
    headers: list[tuple[str, str]]
    chunks: Iterator[bytes]
    close: Callable[[], None]


def _start(app: Any, environ: dict[str, Any]) -> _Started:
    """Call the app until its status is known (runs in the worker thread)."""
    state: dict[str, Any] = {"status": None, "headers": None}
    written: list[bytes] = []

    def write(chunk: bytes) -> None:
        if state["status"] is None:
            raise AssertionError("write() called before start_response()")
        if chunk:
            written.append(chunk)

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if exc_info is not None:
            try:
                if state["status"] is not None:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif state["status"] is not None:
            raise AssertionError("start_response() called more than once")
        state["status"], state["headers"] = status, headers
        return write

    result = app(environ, start_response)
    iterator = iter(result)
    closed = False

    def close() -> None:
        nonlocal closed
        if closed:
            return
        closed = True
        try:
            closer = getattr(result, "close", None)
            if closer is not None:
                closer()
        finally:
            try:
                environ["wsgi.input"].close()
            except Exception:
                logger.exception("Failed to close wsgi.input")

    try:
        first: Any = _END
        for chunk in iterator:  # some apps call start_response with their first chunk
            if chunk:
                first = chunk
                break
    except Exception:
        close()
        raise
    if state["status"] is None:
        close()
        raise RuntimeError("The WSGI application did not call start_response()")

    def chunks() -> Iterator[bytes]:
        yield from written
        if first is not _END:
            yield first
        for chunk in iterator:
            if chunk:
                yield chunk

    return _Started(state["status"], list(state["headers"]), chunks(), close)


async def _stream(started: _Started) -> AsyncIterator[bytes]:
    chunks = started.chunks
    try:
        while True:
            chunk = await run_sync_code(next, chunks, _END)
            if chunk is _END:
                return
            yield bytes(chunk)
    except Exception:
        logger.exception("Exception while streaming WSGI response body")
        raise
    finally:
        await run_sync_code(started.close)


async def fetch(app: Any, req: Any, env: Any, ctx: Context | None = None, *,
                options: Options | None = None) -> Response:
    """Serve ``req`` with the WSGI ``app``; ``env`` is ``environ["workers.env"]``."""
    logger.debug("WSGI request: %s %s", req.method, req.url)
    environ = build_environ(req, env, _make_input(req))
    try:
        started = await run_sync_code(_start, app, environ)
    except Exception:
        logger.exception("WSGI request failed")
        raise
    code_text, _, reason = started.status.partition(" ")
    code = int(code_text)
    extra = (options or DEFAULT_OPTIONS).response_init()
    if code in NULL_BODY_STATUSES:
        await run_sync_code(started.close)
        response = Response(None, status=code, status_text=reason, headers=started.headers)
    else:
        response = Response(_stream(started), status=code, status_text=reason, headers=started.headers)
    if extra.get("encodeBody"):
        response.encode_body = extra["encodeBody"]
    return response


def entrypoint(app: Any, *, options: Options | None = None) -> type[WorkerEntrypoint]:
    """A ``Default`` Worker entrypoint class serving the WSGI ``app``."""

    class Default(WorkerEntrypoint):
        async def fetch(self, request: Any) -> Any:
            return await fetch(app, request, self.env, options=options)

    return Default
