"""The service bindings plugin: no state, one fetcher per ``[[services]]`` entry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emulator.bindings import BindingPlugin
from emulator.bindings.services.binding import ServiceFetcher
from emulator.bindings.services.config import services_config

if TYPE_CHECKING:
    from emulator.config.model import AppConfig

__all__ = ["Plugin"]


class Plugin(BindingPlugin):
    name = "services"

    def bindings_for(self, app: AppConfig) -> dict[str, Any]:
        return {s.binding: ServiceFetcher(self.platform, s, app.name) for s in services_config(app).services}

    def health(self) -> dict[str, Any]:
        hosted = set(self.platform.hosts)
        targets = sorted({s.service for app in self.platform.apps for s in services_config(app).services})
        return {"state": "running", "targets": {t: t in hosted for t in targets}}
