"""D1 databases in a wrangler config (``[[d1_databases]]``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Mapping

from emulator.bindings import BindingType, ConfigContext, Declaration, str_or_none, tables


@dataclass(frozen=True)
class D1DatabaseBinding:
    binding: str
    database_name: str | None
    database_id: str | None
    migrations_dir: Path  # absolute; default <config dir>/migrations
    migrations_table: str = "d1_migrations"

    @property
    def local_id(self) -> str:
        """The identity of the local database: one shared file per name across apps.

        Wrangler keys local D1 files by ``preview_database_id ?? database_id ?? binding``;
        we key by ``database_name`` first so that two apps naming the same database meet
        on one file even if only one of them carries the id.
        """
        return self.database_name or self.database_id or self.binding


@dataclass(frozen=True)
class D1Config:
    databases: tuple[D1DatabaseBinding, ...] = ()


class D1Type(BindingType[D1Config]):
    name = "d1"
    title = "D1"
    config_keys = ("d1_databases",)
    accessor = "d1"
    noun = "D1 database"

    def read(self, config: Mapping[str, Any], ctx: ConfigContext) -> D1Config:
        return D1Config(tuple(
            D1DatabaseBinding(
                binding=b["binding"], database_name=str_or_none(b.get("database_name")),
                database_id=str_or_none(b.get("database_id")),
                migrations_dir=ctx.absolute(str_or_none(b.get("migrations_dir")) or "migrations")
                or ctx.root / "migrations",
                migrations_table=str_or_none(b.get("migrations_table")) or "d1_migrations")
            for b in tables(config.get("d1_databases"), "binding")))

    def declarations(self, cfg: D1Config) -> list[Declaration]:
        return [Declaration(d.binding, d.local_id, "D1 Database",
                            aliases=tuple(n for n in (d.database_name, d.database_id) if n and n != d.local_id))
                for d in cfg.databases]


TYPE = D1Type()


def d1_config(app: Any) -> D1Config:
    return TYPE.of(app)
