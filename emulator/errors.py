"""The emulator's error hierarchy: every error of ours derives from ``EmulatorError``.

The message of an ``EmulatorError`` is written for the user (what went wrong and what to do
next), so the edges (CLI, `dev`, the internal API) show it as it is, never a traceback.
Three families sit directly under the base (docs/architecture.md, "Errors"):

- ``StartError``: the emulator cannot start (`dev`, `sync`, the pytest fixture);
- ``CliError``: a `cf-emulator` verb failed; rendered in one place, ``emulator.cli.main``;
- ``JsError``: what app code sees as a JavaScript error (``pyodide.ffi.JsException``);
  each binding's app-facing errors derive from the runtime's ``JsException``.

Other errors of ours (config lookup, cron expressions, state paths, binding engines) derive
from ``EmulatorError`` itself, from their binding's ``errors.py`` where it has one. Where
callers (or app code) catch an error as a builtin type, the class derives from both and
says why.
"""

from __future__ import annotations


class EmulatorError(Exception):
    """Base class of every error the emulator raises on purpose."""


class StartError(EmulatorError):
    """The emulator cannot start; the message says why and what to do."""


class CliError(EmulatorError):
    """A `cf-emulator` verb failed; the message is shown as it is, then the process exits.

    Verbs raise it (and turn the errors of the layers they call into it); only
    ``emulator.cli.main`` prints it: ``✘ [ERROR] <message>`` on stderr, or the verb's JSON
    error document when its flags ask for JSON (``emulator.cli.JsonErrors``).
    ``exit_code`` follows docs/cli.md (1 an error the verb reported, 2 bad usage or no
    config). ``rendered`` marks a message that is already rendered diagnostics, with
    wrangler's own ``✘ [ERROR]`` headings: it is printed without another prefix.
    """

    def __init__(self, message: str, exit_code: int = 1, *, rendered: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.rendered = rendered


class JsError(EmulatorError):
    """An error the platform's JavaScript side raises, as Python Workers code sees it.

    In production such errors reach Python as ``pyodide.ffi.JsException`` with the JS
    error's ``name`` (``"TypeError"``, ``"Error"``...) and ``message``; our shim's
    ``JsException`` (``emulator.runtime.jsproxy``) derives from this class, so
    ``except JsException`` in app code catches them. This class lives here, not in the
    runtime, so code that must not import the runtime can still recognise them.
    """

    def __init__(self, message: str, name: str = "Error") -> None:
        super().__init__(message)
        self.name = name
        self.message = message
