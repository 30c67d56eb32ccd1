"""The emulator's error hierarchy: every error of ours derives from ``EmulatorError``.

The message of an ``EmulatorError`` is written for the user (what went wrong and what to do
next), so the edges (CLI, `dev`, the internal API) show it as it is, never a traceback.
Errors that app code sees mirror the platform's own (``D1_ERROR: ...``, R2's codes) and
derive from it too, so one ``except EmulatorError`` catches everything of ours.
"""

from __future__ import annotations


class EmulatorError(Exception):
    """Base class of every error the emulator raises on purpose."""


class StartError(EmulatorError):
    """The emulator cannot start; the message says why and what to do."""


class JsError(EmulatorError):
    """An error the platform's JavaScript side raises, as Python Workers code sees it.

    In production such errors reach Python as ``pyodide.ffi.JsException`` with the JS
    error's ``name`` (``"TypeError"``, ``"Error"``...) and ``message``; our shim's
    ``JsException`` is this class, so ``except JsException`` in app code catches them.
    """

    def __init__(self, message: str, name: str = "Error") -> None:
        super().__init__(message)
        self.name = name
        self.message = message
