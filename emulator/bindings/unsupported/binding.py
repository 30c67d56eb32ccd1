"""The `env` object of a binding cf-emulator does not emulate: every use says so by name."""

from __future__ import annotations

from typing import Any, NoReturn

from emulator.errors import EmulatorError


class NotEmulatedError(EmulatorError, AttributeError):
    """A binding of a type cf-emulator does not emulate was used.

    Also an ``AttributeError``, so ``getattr(env.AI, "run", None)`` and ``hasattr`` probes in
    app code behave as they would on a missing attribute, while a direct use reads clearly.
    """


class NotEmulatedBinding:
    """``env.<NAME>`` for a binding type we don't emulate (AI, Vectorize, Hyperdrive, ...)."""

    __slots__ = ("_binding", "_type", "_resource", "_app")

    def __init__(self, binding: str, type_label: str, resource: str, app: str) -> None:
        object.__setattr__(self, "_binding", binding)
        object.__setattr__(self, "_type", type_label)
        object.__setattr__(self, "_resource", resource)
        object.__setattr__(self, "_app", app)

    def _refuse(self, what: str) -> NoReturn:
        resource = f" ({self._resource})" if self._resource else ""
        raise NotEmulatedError(
            f"env.{self._binding}{resource} of app {self._app!r}: {self._type} bindings are not emulated "
            f"locally by cf-emulator ({what}). Use it only in deployed code, or give the app a stand-in "
            f"for local runs (e.g. a service binding or a var).")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)  # protocol probes (copy, pickle, inspect) stay quiet
        self._refuse(f"tried to use .{name}")

    def __setattr__(self, name: str, value: Any) -> None:
        self._refuse(f"tried to set .{name}")

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._refuse("tried to call it")

    def __getitem__(self, key: Any) -> NoReturn:
        self._refuse("tried to index it")

    def __repr__(self) -> str:
        return f"<{self._type} binding {self._binding}: not emulated by cf-emulator>"
