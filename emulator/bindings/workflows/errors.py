"""Workflows' errors: what app code catches, and what the engine and the CLI report.

App code sees the platform's errors as JavaScript errors (``pyodide.ffi.JsException``)
named as Cloudflare names them (docs/workflows.md, "Errors"): ``WorkflowError`` from the binding
(``(<code>) <message>``, e.g. ``(instance.not_found) Instance does not exist``),
``WorkflowFatalError`` when an instance fails whatever ``run()`` catches, and
``WorkflowTimeoutError`` when a step attempt or ``wait_for_event`` runs out of time.
``NonRetryableError`` is not here: app code raises it (``workers.workflows``), so it is
the SDK's plain ``Exception`` subclass (``entrypoint.py``).
"""

from __future__ import annotations

from emulator.errors import EmulatorError
from emulator.runtime.jsproxy import JsException


class _WorkflowsJsError(JsException):
    """A Workflows error as app code sees it: ``name`` is the class's, ``str()`` the message.

    ``str()`` is the message alone (``(instance.not_found) ...``), which the engine persists
    as the error's ``message`` and the CLI and the inspection API show.
    """

    name = "Error"

    def __init__(self, message: str = "") -> None:
        super().__init__(type(self).name, message)

    def __str__(self) -> str:
        return self.message


class WorkflowError(_WorkflowsJsError):
    """Errors of the binding API; messages follow Cloudflare's ``(<code>) <message>``."""

    name = "WorkflowError"


class WorkflowFatalError(_WorkflowsJsError):
    """Fails the instance whether or not ``run()`` catches it (Cloudflare: WorkflowFatalError)."""

    name = "WorkflowFatalError"


class WorkflowTimeoutError(_WorkflowsJsError):
    """A step attempt or a ``wait_for_event`` ran past its timeout."""

    name = "WorkflowTimeoutError"


class DefinitionUnavailable(EmulatorError):
    """The workflow class cannot be instantiated right now (its app is not loaded yet)."""


class OfflineActionError(EmulatorError):
    """A change to the state file without a running engine (the CLI's) that cannot be made."""
