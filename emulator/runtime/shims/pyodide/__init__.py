"""A stand-in for the ``pyodide`` package as Python Workers code uses it.

``pyodide.ffi`` (conversions and JS value types), ``pyodide.http`` (``pyfetch``,
``FetchResponse``) and ``pyodide.__version__`` (the Pyodide of production's Python 3.13
runtime). See docs/python-workers.md, "Interop".
"""

from __future__ import annotations

from . import ffi, http

__version__ = "0.28.3"

__all__ = ["ffi", "http", "__version__"]
