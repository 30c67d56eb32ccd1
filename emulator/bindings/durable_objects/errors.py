"""Durable Objects' errors, with the platform's names and texts (docs/durable_objects.md, "Errors").

What app code catches is a ``JsError`` (the shim's ``pyodide.ffi.JsException``) whose
``name`` is the JS error's (``TypeError``, ``RangeError``, ``Error``, ``DataCloneError``),
except where the Python SDK raises Python exceptions itself (``TypeError`` for tuples sent
over RPC, ``DurableObjectAbort``).
"""

from __future__ import annotations

from emulator.errors import EmulatorError
from emulator.runtime.jsproxy import JsException


class DurableObjectError(JsException):
    """An error of the Durable Objects runtime (storage, ids, stubs, WebSockets).

    ``durable_object_reset`` mirrors workerd's ``durableObjectReset`` property: the object
    was reset (aborted, or its storage failed) and this call's effects were discarded.
    """

    def __init__(self, message: str, name: str = "Error", *, reset: bool = False) -> None:
        super().__init__(name, message)
        self.durable_object_reset = reset
        self.durableObjectReset = reset
        self.remote = False


class DataCloneError(DurableObjectError):
    """A value the platform cannot serialize (structured clone).

    Pyodide shows JS exceptions as ``"<name>: <message>"``, and tests of the platform match
    ``^DataCloneError``: so does ``str()`` here.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, "DataCloneError")

    def __str__(self) -> str:
        return f"DataCloneError: {self.message}"


def not_serializable(type_name: str) -> DataCloneError:
    return DataCloneError(f'Could not serialize object of type "{type_name}". This type does not support '
                          "serialization.")


class DurableObjectsConfigError(EmulatorError):
    """A Durable Object binding cannot be served (its class or defining app is missing).

    Raised when the plugin starts (``dev`` refuses to start, the message says what to fix)
    and when a binding is used while its defining app is not loaded.
    """
