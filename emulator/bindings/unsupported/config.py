"""Wrangler binding keys no registered binding type reads: what they declare, for the warnings.

The list of keys and their labels is wrangler's own (``FRIENDLY_BINDING_NAMES`` in the
wrangler port); a key drops out of it as soon as a package in ``BINDING_TYPES`` claims it
(``BindingType.config_keys``), so adding a binding type needs no change here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Mapping

from emulator.bindings import BindingType, ConfigContext, Declaration
from emulator.config.jsvalues import is_record
from emulator.config.validation import FRIENDLY_BINDING_NAMES, binding_names

# Not bindings on `env` for a Python Worker: vars are plain values (AppConfig.vars), the
# assets binding is the app's own static files (served by the runtime), and the module-
# upload keys only exist for JavaScript service-worker scripts.
_NOT_ENV_BINDINGS = frozenset({"vars", "assets", "data_blobs", "text_blobs", "wasm_modules", "unsafe", "logfwdr"})
# The field naming the resource behind a binding, per wrangler key (shown in the table).
_RESOURCE_FIELDS: dict[str, tuple[str, ...]] = {
    "kv_namespaces": ("id", "preview_id"),
    "durable_objects": ("class_name",),
    "vectorize": ("index_name",),
    "hyperdrive": ("id",),
    "analytics_engine_datasets": ("dataset",),
    "send_email": ("destination_address",),
    "dispatch_namespaces": ("namespace",),
    "mtls_certificates": ("certificate_id",),
    "pipelines": ("pipeline",),
    "secrets_store_secrets": ("secret_name",),
    "ratelimits": ("namespace_id",),
    "vpc_services": ("service_id",),
    "ai_search_namespaces": ("namespace",),
    "ai_search": ("instance_name",),
}


@dataclass(frozen=True)
class UnsupportedConfig:
    declarations: tuple[Declaration, ...] = ()


def _entries(key: str, value: Any) -> list[Any]:
    """The binding records under one wrangler key (arrays, `{bindings: [...]}`, single objects)."""
    if isinstance(value, list):
        return [e for e in value if is_record(e)]
    if is_record(value) and isinstance(value.get("bindings"), list):
        return [e for e in value["bindings"] if is_record(e)]
    return [value] if is_record(value) else []


def _binding_name(entry: Mapping[str, Any]) -> str | None:
    for field in ("binding", "name"):
        if isinstance(entry.get(field), str):
            return str(entry[field])
    return None


class UnsupportedType(BindingType[UnsupportedConfig]):
    name = "unsupported"
    title = "Not emulated"
    config_keys = tuple(k for k, _ in FRIENDLY_BINDING_NAMES if k not in _NOT_ENV_BINDINGS)
    noun = "binding"

    def read(self, config: Mapping[str, Any], ctx: ConfigContext) -> UnsupportedConfig:
        out: list[Declaration] = []
        labels = dict(FRIENDLY_BINDING_NAMES)
        for key in self.config_keys:
            if key in ctx.claimed_keys or key not in config:
                continue
            value = config[key]
            if not binding_names(value):
                continue
            for entry in _entries(key, value):
                binding = _binding_name(entry)
                if binding is None:
                    continue
                resource = next((str(entry[f]) for f in _RESOURCE_FIELDS.get(key, ()) if entry.get(f)), "")
                out.append(Declaration(binding, resource, labels[key], emulated=False))
        return UnsupportedConfig(tuple(out))

    def declarations(self, cfg: UnsupportedConfig) -> list[Declaration]:
        return list(cfg.declarations)

    def summary(self, cfg: UnsupportedConfig) -> dict[str, Any]:
        return {d.binding: {"type": d.type_label, "resource": d.resource, "emulated": False}
                for d in cfg.declarations}


TYPE = UnsupportedType()
