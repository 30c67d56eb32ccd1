"""R2 buckets in a wrangler config (``[[r2_buckets]]``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Mapping

from emulator.bindings import BindingType, ConfigContext, Declaration, tables


@dataclass(frozen=True)
class R2BucketBinding:
    binding: str
    bucket_name: str  # the binding name when `bucket_name` is omitted


@dataclass(frozen=True)
class R2Config:
    buckets: tuple[R2BucketBinding, ...] = ()


class R2Type(BindingType[R2Config]):
    name = "r2"
    title = "R2"
    config_keys = ("r2_buckets",)
    accessor = "r2"
    noun = "R2 bucket"

    def read(self, config: Mapping[str, Any], ctx: ConfigContext) -> R2Config:
        return R2Config(tuple(
            R2BucketBinding(binding=b["binding"],
                            bucket_name=b["bucket_name"] if isinstance(b.get("bucket_name"), str) else b["binding"])
            for b in tables(config.get("r2_buckets"), "binding")))

    def declarations(self, cfg: R2Config) -> list[Declaration]:
        return [Declaration(b.binding, b.bucket_name, "R2 Bucket") for b in cfg.buckets]


TYPE = R2Type()


def r2_config(app: Any) -> R2Config:
    return TYPE.of(app)
