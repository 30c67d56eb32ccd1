"""``pyodide.http``: ``pyfetch`` and its ``FetchResponse``, over the emulator's ``fetch``."""

from __future__ import annotations

from typing import Any

from emulator.runtime.http import FetchResponse, fetch

__all__ = ["FetchResponse", "pyfetch"]


async def pyfetch(url: Any, /, **kwargs: Any) -> FetchResponse:
    """``await pyfetch(url, method=..., headers=..., body=...)``: an outbound request.

    A network failure raises ``OSError``, as in Pyodide.
    """
    return await fetch(url, **kwargs)
