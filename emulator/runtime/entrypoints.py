"""``WorkerEntrypoint`` and the other names app classes derive from.

Cloudflare's SDK constructs the ``Default`` class once per event with ``(ctx, env)`` and
calls its ``fetch`` / ``queue`` / ``scheduled`` method; ``self.env`` and ``self.ctx`` are
what handlers use (python-ecosystem.md §1.1). The hosts here do the same.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class WorkerEntrypoint:
    """Base class of a Worker's ``Default`` class (and of named RPC entrypoints)."""

    def __init__(self, ctx: Any, env: Any) -> None:
        self.ctx = ctx
        self.env = env


def handler(fn: F) -> F:
    """The SDK's ``@handler`` marker from the module-level handler era: a no-op here."""
    return fn


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
