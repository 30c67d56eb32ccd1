"""Service bindings in a wrangler config (``[[services]]``): another hosted app as a fetcher."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Mapping

from emulator.bindings import BindingType, ConfigContext, Declaration, str_or_none, tables


@dataclass(frozen=True)
class ServiceBinding:
    binding: str
    service: str
    entrypoint: str | None = None


@dataclass(frozen=True)
class ServicesConfig:
    services: tuple[ServiceBinding, ...] = ()


class ServicesType(BindingType[ServicesConfig]):
    name = "services"
    title = "Services"
    config_keys = ("services",)
    noun = "service binding"

    def read(self, config: Mapping[str, Any], ctx: ConfigContext) -> ServicesConfig:
        return ServicesConfig(tuple(
            ServiceBinding(binding=s["binding"], service=s["service"], entrypoint=str_or_none(s.get("entrypoint")))
            for s in tables(config.get("services"), "binding", "service")))

    def declarations(self, cfg: ServicesConfig) -> list[Declaration]:
        return [Declaration(s.binding, s.service, "Worker") for s in cfg.services]


TYPE = ServicesType()


def services_config(app: Any) -> ServicesConfig:
    return TYPE.of(app)
