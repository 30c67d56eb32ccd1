"""D1's errors: what app code catches, and what `migrations` commands report.

App code sees D1 failures as JavaScript errors (``pyodide.ffi.JsException``, name
``Error``) whose message carries D1's prefix: ``D1_ERROR: ...``, ``D1_TYPE_ERROR: ...``,
``D1_EXEC_ERROR: ...`` (docs/d1.md, "Errors"). Migration failures are ours: the message is
wrangler's, and `dev` or the `d1 migrations` verbs show it.
"""

from __future__ import annotations

from emulator.errors import EmulatorError
from emulator.runtime.jsproxy import JsException


class D1Error(JsException):
    """A D1 failure; ``str(exc)`` is the message with D1's prefix (``D1_ERROR: ...``).

    ``str()`` is the message alone, not ``"Error: D1_ERROR: ..."``: apps and tests match
    the prefix at the start (``^D1_ERROR``). ``cause`` is workerd's ``cause``: an error
    whose message is the bare SQLite message.
    """

    def __init__(self, message: str, cause: str | None = None) -> None:
        super().__init__("Error", message)
        self.cause = Exception(cause) if cause is not None else None

    def __str__(self) -> str:
        return self.message


class MigrationError(EmulatorError):
    """A migration could not be listed or applied (message is wrangler's)."""
