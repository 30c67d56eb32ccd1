"""Synchronous app code that needs an awaitable's result (Pyodide's ``run_sync``).

Production Python Workers suspend the WebAssembly stack while a promise settles (JSPI), so
synchronous code — a WSGI app reading its body, Django's ORM calling D1 through
``run_sync`` — can wait for async work without blocking the isolate. CPython cannot
suspend a thread's stack, so the emulator runs such synchronous code in a worker thread
(``run_sync_code``) and lets ``run_blocking`` hand awaitables back to the app's event loop
while the worker thread waits (docs/python-workers.md, "Interop").
"""

from __future__ import annotations

import asyncio
import contextvars
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from collections.abc import Awaitable, Callable, Coroutine

T = TypeVar("T")

# The event loop a worker thread running synchronous app code belongs to.
_owner_loop: contextvars.ContextVar[asyncio.AbstractEventLoop | None] = contextvars.ContextVar(
    "cf_emulator_owner_loop", default=None)
# For `run_blocking` called on an event loop's own thread: a small pool of helper threads,
# each running the awaitable on a fresh loop.
_helpers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="cf-emulator-run-sync")


async def run_sync_code(fn: Callable[..., T], *args: Any) -> T:
    """Run synchronous app code ``fn(*args)`` in a worker thread, as the current app.

    The thread sees the caller's context (``workers.env``, the running invocation) and may
    call ``run_blocking`` to await things on this loop.
    """
    from emulator.runtime.invocation import Invocation, current

    loop = asyncio.get_running_loop()
    ctx = contextvars.copy_context()

    def run() -> T:
        _owner_loop.set(loop)
        inv = current.get()
        if inv is None:
            return fn(*args)
        # A fresh invocation for this thread: the app's output is attributed line by line
        # here too (invocations only capture writes of the thread that entered them).
        with Invocation(inv.host, inv.env, inv.ctx):
            return fn(*args)

    return await loop.run_in_executor(None, ctx.run, run)


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable


def run_blocking(awaitable: Awaitable[T]) -> T:
    """The result of ``awaitable``, waiting in the calling (synchronous) code."""
    coro: Coroutine[Any, Any, T] = _as_coroutine(awaitable)
    try:
        asyncio.get_running_loop()
        on_loop_thread = True
    except RuntimeError:
        on_loop_thread = False
    if not on_loop_thread:
        owner = _owner_loop.get()
        if owner is not None and owner.is_running():
            return asyncio.run_coroutine_threadsafe(coro, owner).result()
        return asyncio.run(coro)
    # Called inline on a loop's thread: the loop cannot run while this frame waits, so the
    # awaitable runs on a helper thread's own loop (fine for self-contained work; anything
    # that needs this loop would wait forever, hence the documented limitation).
    ctx = contextvars.copy_context()
    return _helpers.submit(ctx.run, asyncio.run, coro).result()
