"""The plugin of bindings we don't emulate: loud `env` objects and a health entry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emulator.bindings import BindingPlugin
from emulator.bindings.unsupported.binding import NotEmulatedBinding
from emulator.bindings.unsupported.config import TYPE

if TYPE_CHECKING:
    from emulator.config.model import AppConfig

__all__ = ["Plugin"]


class Plugin(BindingPlugin):
    name = "unsupported"

    def bindings_for(self, app: AppConfig) -> dict[str, Any]:
        return {d.binding: NotEmulatedBinding(d.binding, d.type_label, d.resource, app.name)
                for d in TYPE.declarations(TYPE.of(app))}

    def health(self) -> dict[str, Any]:
        return {"state": "not emulated",
                "bindings": [{"app": app.name, "binding": d.binding, "type": d.type_label, "resource": d.resource}
                             for app in self.platform.apps for d in TYPE.declarations(TYPE.of(app))]}
