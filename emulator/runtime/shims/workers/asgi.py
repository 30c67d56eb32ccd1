"""``workers.asgi``: serve an ASGI app (FastAPI, Starlette, ...) from a Worker's ``fetch``.

``await asgi.fetch(app, request, self.env)`` does what the SDK's adapter does
(docs/python-workers.md, "ASGI and WSGI"): one lifespan cycle around each request
(``lifespan.startup`` before, ``lifespan.shutdown`` after — in ``waitUntil`` when the
response streams), an HTTP scope with exactly the SDK's keys (``scope["env"]`` is the env
passed in), the request body as ``http.request`` messages, and a response that is
buffered when the app sends its body in one message and streamed otherwise.

Differences, kept small on purpose: the request body is fed to the app chunk by chunk as
it arrives instead of being read completely first (the messages are the same), and
streamed response chunks wait in a bounded queue (the app's ``send`` waits when the client
reads slowly, as the SDK's TransformStream writer does).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any
from collections.abc import AsyncIterator
from urllib.parse import unquote, urlsplit

from emulator.runtime.http import Response, header_pairs
from workers import Context, WorkerEntrypoint
from workers.gateway import BaseOptions

__all__ = ["Options", "entrypoint", "fetch", "websocket"]

ASGI = {"spec_version": "2.0", "version": "3.0"}
NULL_BODY_STATUSES = frozenset({101, 103, 204, 205, 304})
logger = logging.getLogger("asgi")
background_tasks: set[asyncio.Future[Any]] = set()
_STREAM_QUEUE = 16  # response chunks buffered before the app's send() waits for the client


@dataclass(frozen=True, kw_only=True)
class Options(BaseOptions):
    """Options of the ASGI adapter (see ``workers.gateway.BaseOptions``)."""


DEFAULT_OPTIONS = Options()


def run_in_background(coro: Awaitable[Any]) -> asyncio.Future[Any]:
    future = asyncio.ensure_future(coro)
    background_tasks.add(future)

    def done(f: asyncio.Future[Any]) -> None:
        background_tasks.discard(f)
        if not f.cancelled() and f.exception() is not None:
            logger.error("Unhandled exception in background task", exc_info=f.exception())

    future.add_done_callback(done)
    return future


def request_to_scope(req: Any, env: Any, ws: bool = False, state: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ASGI connection scope the SDK builds (no ``client``, ``server`` or ``root_path``)."""
    url = urlsplit(req.url)
    scope: dict[str, Any] = {
        "asgi": ASGI,
        "headers": [(k.lower().encode(), v.encode()) for k, v in header_pairs(req.headers)],
        "http_version": "1.1",
        "method": str(req.method),
        "scheme": url.scheme,
        "path": unquote(url.path or "/"),
        "raw_path": (url.path or "/").encode(),
        "query_string": url.query.encode(),
        "type": "websocket" if ws else "http",
        "env": env,
    }
    if state is not None:
        scope["state"] = dict(state)  # ASGI: a shallow copy of the lifespan state per request
    return scope


async def start_application(app: Any) -> tuple[Any, dict[str, Any]]:
    """Run the lifespan startup; return ``(shutdown, state)``.

    An app without lifespan support (it returns or raises before acknowledging startup)
    is served anyway; ``lifespan.startup.failed`` raises ``RuntimeError``.
    """
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    state: dict[str, Any] = {}
    startup: asyncio.Future[bool] = loop.create_future()
    shutdown_done: asyncio.Future[None] = loop.create_future()
    await inbox.put({"type": "lifespan.startup"})

    async def receive() -> dict[str, Any]:
        return await inbox.get()

    async def send(message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "lifespan.startup.complete":
            if not startup.done():
                startup.set_result(True)
        elif kind == "lifespan.startup.failed":
            if not startup.done():
                startup.set_exception(RuntimeError(message.get("message") or "ASGI lifespan startup failed"))
        elif kind == "lifespan.shutdown.complete":
            if not shutdown_done.done():
                shutdown_done.set_result(None)
        elif kind == "lifespan.shutdown.failed":
            if not shutdown_done.done():
                shutdown_done.set_exception(RuntimeError(message.get("message") or "ASGI lifespan shutdown failed"))
        else:
            raise RuntimeError(f"Unexpected lifespan event {kind}")

    async def run_lifespan() -> None:
        try:
            await app({"asgi": ASGI, "state": state, "type": "lifespan"}, receive, send)
            if not startup.done():
                startup.set_result(False)  # returned without acknowledging: no lifespan support
            elif not shutdown_done.done():
                shutdown_done.set_result(None)
        except Exception as exc:
            if not startup.done():
                logger.debug("ASGI lifespan raised before startup; serving without lifespan", exc_info=exc)
                startup.set_result(False)
                return
            logger.exception("Exception in ASGI lifespan application", exc_info=exc)
            if not shutdown_done.done():
                shutdown_done.set_result(None)

    run_in_background(run_lifespan())
    if not await startup:
        async def no_shutdown() -> None:
            return None

        return no_shutdown, state

    async def shutdown() -> None:
        await inbox.put({"type": "lifespan.shutdown"})
        await shutdown_done

    return shutdown, state


class _StreamedBody:
    """The response body of an app that sends ``more_body=True``: chunks through a bounded queue."""

    _END = object()

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=_STREAM_QUEUE)
        self.closed = False

    async def put(self, chunk: bytes) -> None:
        if chunk:
            await self.queue.put(bytes(chunk))

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            await self.queue.put(self._END)

    def close_nowait(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self.queue.put_nowait(self._END)
            except asyncio.QueueFull:
                run_in_background(self.queue.put(self._END))

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            item = await self.queue.get()
            if item is self._END:
                return
            yield item


async def process_request(app: Any, req: Any, env: Any, ctx: Context | None,
                          state: dict[str, Any] | None = None,
                          options: Options = DEFAULT_OPTIONS) -> tuple[Response, asyncio.Future[None]]:
    """Serve one HTTP request; ``(response, task)`` — the task ends when the app does."""
    loop = asyncio.get_running_loop()
    result: asyncio.Future[Response] = loop.create_future()
    finished = asyncio.Event()
    status: int | None = None
    headers: list[tuple[str, str]] = []
    stream: _StreamedBody | None = None
    extra = options.response_init()

    body = req.body
    chunks = body.__aiter__() if body is not None else None
    request_done = False

    async def receive() -> dict[str, Any]:
        nonlocal chunks, request_done
        if chunks is not None:
            try:
                chunk = await chunks.__anext__()
            except StopAsyncIteration:
                chunks = None
            else:
                return {"type": "http.request", "body": chunk.to_bytes(), "more_body": True}
        if not request_done:
            request_done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    def respond(body_value: Any) -> Response:
        response = Response(body_value, status=status, headers=headers)
        if extra.get("encodeBody"):
            response.encode_body = extra["encodeBody"]
        return response

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, headers, stream
        kind = message["type"]
        if kind == "http.response.start":
            status = message["status"]
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", [])]
        elif kind == "http.response.body":
            chunk = message.get("body", b"")
            more = message.get("more_body", False)
            if stream is not None:
                await stream.put(chunk)
                if not more:
                    await stream.close()
                    finished.set()
            elif more:
                stream = _StreamedBody()
                result.set_result(respond(stream))
                await stream.put(chunk)
            elif status in NULL_BODY_STATUSES:
                result.set_result(respond(None))
                finished.set()
            else:
                result.set_result(respond(bytes(chunk)))
                finished.set()

    async def run_app() -> None:
        try:
            await app(request_to_scope(req, env, state=state), receive, send)
            if not result.done():
                raise RuntimeError("The application did not generate a response")
        except Exception as exc:
            if not result.done():
                result.set_exception(exc)
                finished.set()
            else:
                logger.exception("Exception in ASGI application after response started")
                finished.set()
                if stream is not None:
                    stream.close_nowait()  # the client sees the body end instead of hanging

    task = asyncio.ensure_future(run_app())
    try:
        response = await result
    except Exception:
        await task
        raise
    if stream is None:
        await task  # buffered: finish the request before returning
    return response, task


def _wait_until(ctx: Context | None, awaitable: Awaitable[Any]) -> None:
    if ctx is not None and hasattr(ctx, "waitUntil"):
        ctx.waitUntil(awaitable)
        return
    import workers

    workers.wait_until(awaitable)


async def fetch(app: Any, req: Any, env: Any, ctx: Context | None = None, *,
                options: Options | None = None) -> Response:
    """Serve ``req`` with the ASGI ``app``; ``env`` becomes ``scope["env"]``."""
    logger.debug("ASGI request: %s %s", req.method, req.url)
    shutdown, state = await start_application(app)
    try:
        response, task = await process_request(app, req, env, ctx, state=state, options=options or DEFAULT_OPTIONS)
    except Exception:
        logger.exception("ASGI request failed")
        await shutdown()
        raise
    if task.done():
        await shutdown()
    else:
        async def finalize() -> None:
            try:
                await task
            finally:
                await shutdown()

        _wait_until(ctx, run_in_background(finalize()))
    return response


async def websocket(app: Any, req: Any, env: Any = None) -> Response:
    """Serve a WebSocket upgrade with the ASGI ``app`` (a ``WebSocketPair`` per connection)."""
    from js import WebSocketPair

    client, server = WebSocketPair.new().object_values()
    server.accept()
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    inbox.put_nowait({"type": "websocket.connect"})
    app_closed = False

    def on_message(event: Any) -> None:
        data = event.data
        if isinstance(data, str):
            inbox.put_nowait({"type": "websocket.receive", "text": data})
        else:
            inbox.put_nowait({"type": "websocket.receive", "bytes": bytes(data)})

    def on_close(event: Any) -> None:
        inbox.put_nowait({"type": "websocket.disconnect", "code": event.code, "reason": event.reason})

    server.addEventListener("message", on_message)
    server.addEventListener("close", on_close)

    async def ws_receive() -> dict[str, Any]:
        return await inbox.get()

    async def ws_send(message: dict[str, Any]) -> None:
        nonlocal app_closed
        kind = message["type"]
        if kind == "websocket.accept":
            return  # the pair is accepted before the upgrade response goes out
        if kind == "websocket.send":
            if message.get("bytes") is not None:
                server.send(message["bytes"])
            if message.get("text") is not None:
                server.send(message["text"])
        elif kind == "websocket.close":
            app_closed = True
            server.close(message.get("code", 1000), message.get("reason", ""))
        else:
            logger.warning("ASGI websocket message %s is not implemented", kind)

    task = run_in_background(app(request_to_scope(req, env if env is not None else {}, ws=True),
                                 ws_receive, ws_send))

    def close_transport(done: asyncio.Future[Any]) -> None:
        if not app_closed:
            failed = not done.cancelled() and done.exception() is not None
            try:
                server.close(1011 if failed else 1000, "")
            except Exception:  # noqa: BLE001 - the peer may have gone already
                pass

    task.add_done_callback(close_transport)
    _wait_until(None, task)
    return Response(None, status=101, web_socket=client)


def entrypoint(app: Any, *, options: Options | None = None) -> type[WorkerEntrypoint]:
    """A ``Default`` Worker entrypoint class serving the ASGI ``app``."""

    class Default(WorkerEntrypoint):
        async def fetch(self, request: Any) -> Any:
            if (request.headers.get("upgrade") or "").lower() == "websocket":
                return await websocket(app, request, self.env)
            return await fetch(app, request, self.env, self.ctx, options=options)

    return Default


def __getattr__(name: str) -> Any:
    if name == "env":
        # FastAPI dependency: `def handler(env=asgi.env)` gets `request.scope["env"]`.
        from fastapi import Depends, Request

        async def env(request: Request) -> Any:
            return request.scope["env"]

        return Depends(env)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
