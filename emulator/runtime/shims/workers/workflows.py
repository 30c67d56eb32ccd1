"""``workers.workflows``: the one extra submodule of the SDK (``NonRetryableError``)."""

from __future__ import annotations

from emulator.bindings.workflows.entrypoint import NonRetryableError

__all__ = ["NonRetryableError"]
