"""Queues' errors: a send the platform refuses, a configuration it refuses, an unknown queue.

App code sees a refused send as a JavaScript error (``pyodide.ffi.JsException``, name
``Error``) whose message is Cloudflare's: ``Queue send failed: ...`` or ``Queue sendBatch
failed: ...`` (docs/queues.md, "Errors").
"""

from __future__ import annotations

from emulator.errors import EmulatorError
from emulator.runtime.jsproxy import JsException


class QueueSendError(JsException):
    """A send the broker refused; ``str()`` is the platform's message alone."""

    def __init__(self, message: str) -> None:
        super().__init__("Error", message)

    def __str__(self) -> str:
        return self.message


class QueuesError(EmulatorError):
    """A queue configuration the platform refuses (Miniflare's ``QueuesError``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# Also a LookupError: a failed look-up by name, like KeyError, for code that asks for any
# name (the inspection API and the CLI catch it by its own name).
class QueueNotFound(EmulatorError, LookupError):
    """No queue (or no message in a queue) by that name."""
