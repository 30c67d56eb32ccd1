"""KV namespaces in a wrangler config (``[[kv_namespaces]]``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Mapping

from emulator.bindings import BindingType, ConfigContext, Declaration
from emulator.config.jsvalues import is_record


@dataclass(frozen=True)
class KVNamespaceBinding:
    binding: str
    id: str | None = None
    preview_id: str | None = None

    @property
    def local_id(self) -> str:
        """The namespace's identity locally: ``preview_id ?? id ?? binding`` (what `wrangler dev`
        uses, docs/kv.md), so two apps binding the same id share its keys."""
        return self.preview_id or self.id or self.binding


@dataclass(frozen=True)
class KVConfig:
    namespaces: tuple[KVNamespaceBinding, ...] = ()


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class KVType(BindingType[KVConfig]):
    name = "kv"
    title = "KV"
    config_keys = ("kv_namespaces",)
    accessor = "kv"
    noun = "KV namespace"

    def read(self, config: Mapping[str, Any], ctx: ConfigContext) -> KVConfig:
        return KVConfig(tuple(
            KVNamespaceBinding(binding=n["binding"], id=_str(n.get("id")), preview_id=_str(n.get("preview_id")))
            for n in config.get("kv_namespaces") or [] if is_record(n) and isinstance(n.get("binding"), str)))

    def declarations(self, cfg: KVConfig) -> list[Declaration]:
        return [Declaration(n.binding, n.local_id, "KV Namespace",
                            aliases=tuple(i for i in (n.id, n.preview_id) if i and i != n.local_id))
                for n in cfg.namespaces]


TYPE = KVType()


def kv_config(app: Any) -> KVConfig:
    return TYPE.of(app)
