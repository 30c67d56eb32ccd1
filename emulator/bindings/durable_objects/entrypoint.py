"""What Durable Object code derives from and raises: ``DurableObject``, ``DurableObjectAbort``.

App code reaches ``DurableObject`` through the ``workers`` shim (``from workers import
DurableObject``). The SDK's base class only stores its two arguments: the object's context
(``self.ctx``: id, storage, WebSockets, ``blockConcurrencyWhile``...) and the app's
``env``; the runtime constructs a subclass once per activation (docs/durable_objects.md,
"The class"). This module stays light: app modules import it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DurableObject", "DurableObjectAbort"]


class DurableObjectAbort(BaseException):
    """Raised by ``ctx.abort()``: a ``BaseException``, so ``except Exception`` does not stop it
    (the SDK's own class). The object is reset; its caller gets the abort's error."""


class DurableObject:
    """Base class of a Durable Object: ``class Counter(DurableObject)``, constructed with
    ``(ctx, env)``; public methods are callable over RPC through a stub."""

    ctx: Any
    env: Any

    def __init__(self, ctx: Any, env: Any) -> None:
        self.ctx = ctx
        self.env = env
