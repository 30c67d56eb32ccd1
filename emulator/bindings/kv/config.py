"""KV namespaces in a wrangler config (``[[kv_namespaces]]``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Mapping

from emulator.bindings import BindingType, ConfigContext, Declaration, nonempty_str, tables


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


class KVType(BindingType[KVConfig]):
    name = "kv"
    title = "KV"
    config_keys = ("kv_namespaces",)
    accessor = "kv"
    noun = "KV namespace"

    def read(self, config: Mapping[str, Any], ctx: ConfigContext) -> KVConfig:
        return KVConfig(tuple(
            KVNamespaceBinding(binding=n["binding"], id=nonempty_str(n.get("id")),
                               preview_id=nonempty_str(n.get("preview_id")))
            for n in tables(config.get("kv_namespaces"), "binding")))

    def declarations(self, cfg: KVConfig) -> list[Declaration]:
        return [Declaration(n.binding, n.local_id, "KV Namespace",
                            aliases=tuple(i for i in (n.id, n.preview_id) if i and i != n.local_id))
                for n in cfg.namespaces]


TYPE = KVType()


def kv_config(app: Any) -> KVConfig:
    return TYPE.of(app)
