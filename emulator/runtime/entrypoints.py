"""``WorkerEntrypoint`` and the other names app classes derive from.

Cloudflare's SDK constructs the ``Default`` class once per event with ``(ctx, env)`` and
calls its ``fetch`` / ``queue`` / ``scheduled`` method; ``self.env`` and ``self.ctx`` are
what handlers use (docs/python-workers.md, "The workers module"). The hosts here do the
same. ``DurableObject`` is the Durable Objects binding's own base class, re-exported
(docs/durable_objects.md).
"""

from __future__ import annotations

import functools
from typing import Any, TypeVar
from collections.abc import Callable

from emulator.bindings.durable_objects.entrypoint import DurableObject

__all__ = ["DurableObject", "ScheduledController", "WorkerEntrypoint", "handler"]

F = TypeVar("F", bound=Callable[..., Any])


class WorkerEntrypoint:
    """Base class of a Worker's ``Default`` class (and of named RPC entrypoints)."""

    def __init__(self, ctx: Any, env: Any) -> None:
        self.ctx = ctx
        self.env = env


def handler(func: F) -> F:
    """The SDK's ``@handler`` for module-level handlers (``on_fetch(request, env)``).

    In production it wraps a JS ``Request`` argument as ``workers.Request`` and ``env`` in
    the SDK's binding wrapper. Here the request and env a handler gets are those already,
    so the wrapper passes its arguments through unchanged.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]  # functools.wraps keeps the signature the caller sees


class ScheduledController:
    """``controller`` of ``scheduled(controller, env, ctx)``: ``cron`` and ``scheduledTime``."""

    def __init__(self, cron: str, scheduled_time_ms: int) -> None:
        self.cron = cron
        self.scheduledTime = scheduled_time_ms
        self.scheduled_time = scheduled_time_ms
        self.no_retry = False

    def noRetry(self) -> None:  # noqa: N802 - Cloudflare spelling
        self.no_retry = True

    def __repr__(self) -> str:
        return f"ScheduledController(cron={self.cron!r}, scheduledTime={self.scheduledTime})"
