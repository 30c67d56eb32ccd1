"""``import_from_javascript`` and ``patch_env``.

``import_from_javascript("cloudflare:workers")`` gives the module apps reach bindings
through without the SDK's wrapper: its ``env`` holds raw JS values (``.to_py()`` on
results is valid there), its ``waitUntil`` is the event's. ``patch_env`` overrides values
of that env (and of ``workers.env``) for the current task inside a ``with`` block, as
workerd's ``pythonPatchEnv`` does for the async context (docs/python-workers.md).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

__all__ = ["import_from_javascript", "patch_env"]

# Overrides set by `patch_env`, innermost last (per task: contextvars follow asyncio tasks).
_env_patch: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "cf_emulator_env_patch", default=None)


def current_env() -> Any:
    """The env ``workers.env`` shows now: the running app's, with ``patch_env`` overrides."""
    from emulator.runtime.invocation import current

    inv = current.get()
    if inv is None:
        raise RuntimeError(
            "workers.env is only available while app code runs (inside a handler or while the "
            "app's modules are imported)")
    patch = _env_patch.get()
    if not patch:
        return inv.env
    patched = type(inv.env)(inv.env) if isinstance(inv.env, dict) else dict(vars(inv.env))
    patched.update(patch)
    return patched


class _CloudflareWorkersModule:
    """``cloudflare:workers`` as Python sees it: ``env``, ``waitUntil`` and the base classes."""

    def __getattr__(self, name: str) -> Any:
        if name == "env":
            from emulator.runtime.jsproxy import RawEnv

            return RawEnv(current_env())
        if name == "waitUntil":
            from emulator.runtime.invocation import current

            inv = current.get()
            if inv is None:
                raise RuntimeError("waitUntil is only available while app code runs")
            return inv.ctx.waitUntil
        if name in ("WorkerEntrypoint", "DurableObject", "WorkflowEntrypoint"):
            import workers

            return getattr(workers, name)
        raise AttributeError(f"cloudflare:workers has no export {name!r} in cf-emulator")

    def __repr__(self) -> str:
        return "<JsProxy module cloudflare:workers>"


class _CloudflareSocketsModule:
    """``cloudflare:sockets``: importable, but TCP sockets are not emulated."""

    def connect(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            "cloudflare:sockets connect() is not emulated by cf-emulator: outbound TCP sockets "
            "are not available locally. Use workers.fetch (HTTP) instead.")

    def __repr__(self) -> str:
        return "<JsProxy module cloudflare:sockets>"


_MODULES: dict[str, Any] = {
    "cloudflare:workers": _CloudflareWorkersModule(),
    "cloudflare:sockets": _CloudflareSocketsModule(),
}


def import_from_javascript(module_name: str) -> Any:
    """A JavaScript module: ``cloudflare:workers`` and ``cloudflare:sockets`` only here."""
    module = _MODULES.get(module_name)
    if module is None:
        raise ImportError(
            f"Failed to import '{module_name}': cf-emulator runs Python Workers on CPython, without "
            "a JavaScript runtime, so only 'cloudflare:workers' and 'cloudflare:sockets' can be "
            "imported.")
    return module


@contextlib.contextmanager
def patch_env(d: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
              **kwds: Any) -> Iterator[None]:
    """Override env values (``workers.env``, ``cloudflare:workers`` env) inside the block."""
    if d:
        kwds = dict(d) | kwds
    outer = _env_patch.get() or {}
    token = _env_patch.set({**outer, **kwds})
    try:
        yield
    finally:
        _env_patch.reset(token)
