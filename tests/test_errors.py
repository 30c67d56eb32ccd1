"""One error hierarchy: every exception class of ours derives from ``EmulatorError``, except
the few that must not (listed with why); the errors apps see are JavaScript errors."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any
from collections.abc import Callable

import pytest

import emulator
from emulator.errors import CliError, EmulatorError, JsError, StartError

# Exception classes defined in emulator/ that are not ours to put under EmulatorError.
OUTSIDE = {
    # The SDK's classes, which app code raises (workers.workflows, `DurableObject.ctx.abort`).
    "emulator.bindings.workflows.entrypoint.NonRetryableError",
    "emulator.bindings.workflows.entrypoint.NonRetryableDelayError",
    "emulator.bindings.durable_objects.entrypoint.DurableObjectAbort",
    # An aiohttp HTTP response raised from a handler, not an error.
    "emulator.internal_api.RequestError",
    # Control flow inside one module, and a guard against a bug of ours.
    "emulator.config.tomlpos._Stop",
    "emulator.bindings.r2.store._ReadOnlyKeys",
    "emulator.bindings.d1.engine._RunOnWorker",
}


def exception_classes() -> dict[str, type[BaseException]]:
    """Every exception class defined in a module of the ``emulator`` package."""
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(emulator.__path__, "emulator."):
        if info.name == "emulator.__main__":  # importing it runs the CLI
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == info.name:
                found[f"{info.name}.{value.__qualname__}"] = value
    return found


def test_every_error_of_ours_is_an_emulator_error() -> None:
    classes = exception_classes()
    assert "emulator.bindings.d1.errors.D1Error" in classes and len(classes) > 40
    stray = sorted(name for name, cls in classes.items()
                   if not issubclass(cls, EmulatorError) and name not in OUTSIDE)
    assert stray == []
    assert set(classes) >= OUTSIDE  # the list names classes that exist


def test_one_cli_error_class() -> None:
    cli_errors = {name for name, cls in exception_classes().items()
                  if ".cli." in name or name.startswith("emulator.cli")}
    # A verb's own failures are CliError itself; what the CLI plumbing raises derives from it.
    assert cli_errors == {"emulator.cli._common.StateDirBusy", "emulator.cli._common.ServerError",
                          "emulator.cli.output.NotInteractive"}
    assert all(issubclass(exception_classes()[name], CliError)
               for name in cli_errors - {"emulator.cli._common.ServerError"})


def _d1() -> BaseException:
    from emulator.bindings.d1.errors import D1Error

    return D1Error("D1_ERROR: no such table: t: SQLITE_ERROR", "no such table: t")


def _r2() -> BaseException:
    from emulator.bindings.r2.errors import R2Error

    return R2Error("NoSuchKey", "get")


def _kv() -> BaseException:
    from emulator.bindings.kv.errors import KVError

    return KVError("KV GET failed: 414 UTF-8 encoded length of 513 exceeds key length limit of 512.")


def _queues() -> BaseException:
    from emulator.bindings.queues.errors import QueueSendError

    return QueueSendError("Queue send failed: message length of 128001 bytes exceeds limit of 128000")


def _workflows() -> BaseException:
    from emulator.bindings.workflows.errors import WorkflowError

    return WorkflowError("(instance.not_found) Instance does not exist")


def _durable_objects() -> BaseException:
    from emulator.bindings.durable_objects.errors import DurableObjectError

    return DurableObjectError("Durable Object storage operation exceeded timeout", "TypeError")


@pytest.mark.parametrize(("make", "text", "name"), [
    (_d1, "D1_ERROR: no such table: t: SQLITE_ERROR", "Error"),
    (_r2, "get: The specified key does not exist. (10007)", "Error"),
    (_kv, "Error: KV GET failed: 414 UTF-8 encoded length of 513 exceeds key length limit of 512.", "Error"),
    (_queues, "Queue send failed: message length of 128001 bytes exceeds limit of 128000", "Error"),
    (_workflows, "(instance.not_found) Instance does not exist", "WorkflowError"),
    (_durable_objects, "TypeError: Durable Object storage operation exceeded timeout", "TypeError"),
])
def test_errors_apps_see_are_js_exceptions(make: Callable[[], Any], text: str, name: str) -> None:
    from emulator.runtime.jsproxy import JsException

    error = make()
    # `except pyodide.ffi.JsException` in app code catches them, as in production; str()
    # keeps each binding's established text.
    assert isinstance(error, JsException) and isinstance(error, JsError) and isinstance(error, EmulatorError)
    assert str(error) == text and error.name == name
    assert text.endswith(error.message)


def test_errors_that_are_also_builtins_keep_both_bases() -> None:
    from emulator.bindings.queues.errors import QueueNotFound
    from emulator.runtime.body import RequestBodyTooLarge
    from emulator.server import PortInUseError
    from emulator.state import StatePathError

    # App code catches a body over the limit as the TypeError production raises.
    assert isinstance(RequestBodyTooLarge(10), TypeError)
    assert isinstance(StatePathError("../x"), ValueError) and isinstance(QueueNotFound("q"), LookupError)
    taken = PortInUseError(98, "port 8787 is in use")
    assert isinstance(taken, StartError) and isinstance(taken, OSError) and taken.errno == 98
