"""A stand-in for the ``pyodide`` package: only ``pyodide.ffi`` is provided."""

from __future__ import annotations

from . import ffi

__all__ = ["ffi"]
