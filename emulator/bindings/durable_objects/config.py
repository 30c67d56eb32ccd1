"""Durable Objects in a wrangler config: ``durable_objects.bindings`` and ``migrations``.

A binding names a class (``class_name``) defined by the app itself or, with ``script_name``,
by another hosted app. Which classes an app defines, and whether each is SQLite-backed,
comes from its ``migrations``, walked in order the way ``wrangler dev`` does
(docs/durable_objects.md, "Configuration"): ``deleted_classes``, then ``renamed_classes``,
then ``new_classes`` (KV-backed) and ``new_sqlite_classes`` (SQLite-backed). A rename keeps
the class's objects and data, as in production, so a class is stored under the name it was
first created with (``storage_name``).

Our ``check`` rules (CFE113, CFE114, CFE112's main-module warning) and wrangler's own
migration errors (no id) live here too. This module stays light (stdlib only): every
command imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Mapping

from emulator.bindings import BindingType, ConfigContext, Declaration, nonempty_str, tables
from emulator.config.diagnostics import DiagnosticTree
from emulator.config.jsvalues import UNDEF, get, is_record
from emulator.config.rules import classes_not_in_main, defined_here, field_base
from emulator.errors import EmulatorError

TYPE_LABEL = "Durable Object"


@dataclass(frozen=True)
class DurableObjectBinding:
    binding: str
    class_name: str
    script_name: str | None = None
    environment: str | None = None

    def defining_app(self, app_name: str) -> str:
        """The app whose module holds the class: ``script_name``, else the binding's own app."""
        return self.script_name or app_name


@dataclass(frozen=True)
class ClassInfo:
    """A Durable Object class an app defines, per its migrations."""

    name: str
    sqlite: bool
    storage_name: str  # the name the class was created with (renames keep the data)


@dataclass(frozen=True)
class DurableObjectsConfig:
    bindings: tuple[DurableObjectBinding, ...] = ()
    classes: tuple[ClassInfo, ...] = ()
    has_migrations: bool = False
    migration_error: str | None = None  # wrangler's text, when the migrations do not apply

    def class_info(self, name: str) -> ClassInfo | None:
        for info in self.classes:
            if info.name == name:
                return info
        return None


class ClassMigrationError(EmulatorError):
    """A Durable Object class migration that does not apply (wrangler's ``UserError`` texts).

    Defined here, not in errors.py: `check` imports this module and must stay light.
    """


def apply_migrations(migrations: Any) -> tuple[ClassInfo, ...]:
    """The classes defined after every migration, in order (wrangler's ``class-names-sqlite``)."""
    sqlite: dict[str, bool] = {}
    origin: dict[str, str] = {}
    for migration in migrations if isinstance(migrations, list) else []:
        if not is_record(migration):
            continue
        for deleted in _strings(migration.get("deleted_classes")):
            if deleted not in sqlite:
                raise ClassMigrationError(f"Cannot apply deleted_classes migration to non-existent class {deleted}")
            del sqlite[deleted]
            origin.pop(deleted, None)
        for renamed in migration.get("renamed_classes") or []:
            if not is_record(renamed) or not isinstance(renamed.get("from"), str) \
                    or not isinstance(renamed.get("to"), str):
                continue
            source, target = renamed["from"], renamed["to"]
            if source not in sqlite:
                raise ClassMigrationError(f"Cannot apply renamed_classes migration to non-existent class {source}")
            sqlite[target] = sqlite.pop(source)
            origin[target] = origin.pop(source, source)
        for key, backed in (("new_classes", False), ("new_sqlite_classes", True)):
            for name in _strings(migration.get(key)):
                if name in sqlite:
                    raise ClassMigrationError(f"Cannot apply {key} migration to existing class {name}")
                sqlite[name] = backed
                origin[name] = name
    return tuple(ClassInfo(name, backed, origin.get(name, name)) for name, backed in sqlite.items())


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


class DurableObjectsType(BindingType[DurableObjectsConfig]):
    name = "durable_objects"
    title = "Durable Objects"
    # `migrations` is a top-level key of its own (not a binding); this type is its reader.
    config_keys = ("durable_objects", "migrations")
    accessor = "durable_object"
    noun = "Durable Object namespace"

    def read(self, config: Mapping[str, Any], ctx: ConfigContext) -> DurableObjectsConfig:
        bindings = tuple(
            DurableObjectBinding(binding=b["name"], class_name=b["class_name"],
                                 script_name=nonempty_str(b.get("script_name")),
                                 environment=nonempty_str(b.get("environment")))
            for b in tables(get(config.get("durable_objects", UNDEF), "bindings"), "name", "class_name"))
        migrations = config.get("migrations")
        try:
            classes = apply_migrations(migrations)
            error = None
        except ClassMigrationError as exc:
            classes, error = (), str(exc)
        return DurableObjectsConfig(bindings, classes, isinstance(migrations, list) and bool(migrations), error)

    def declarations(self, cfg: DurableObjectsConfig) -> list[Declaration]:
        return [Declaration(b.binding, b.class_name, TYPE_LABEL,
                            aliases=(f"{b.script_name}-{b.class_name}",) if b.script_name else ())
                for b in cfg.bindings]

    def serves(self, app: Any) -> bool:
        # An app that defines classes hosts their objects (and fires their alarms) even when
        # only other apps bind them.
        return bool(self.of(app).classes)

    def summary(self, cfg: DurableObjectsConfig) -> dict[str, Any]:
        return {b.binding: {"class_name": b.class_name, "script_name": b.script_name} for b in cfg.bindings}

    def restart_needed(self, old: DurableObjectsConfig, new: DurableObjectsConfig) -> str | None:
        # Namespaces (and whether each is SQLite-backed) are set up when the plugin starts.
        return "Durable Object bindings or migrations" if old != new else None

    # --- wrangler's migration errors; CFE112-114 -------------------------------------------
    def check_app(self, tree: DiagnosticTree, raw: Mapping[str, Any], config: Mapping[str, Any],
                  env_name: str | None, is_pages: bool, config_path: Path) -> None:
        migrations = config.get("migrations")
        try:
            classes = apply_migrations(migrations)
        except ClassMigrationError as exc:
            # What `wrangler dev` throws before starting (no CFE id: wrangler's own error).
            tree.error(str(exc), field_base(raw, env_name, "migrations"))
            return
        entries = get(config.get("durable_objects", UNDEF), "bindings")
        if not isinstance(entries, list) or is_pages:
            return
        local = defined_here(entries, config.get("name"))
        if not local:
            return
        base = field_base(raw, env_name, "durable_objects") + ("bindings",)
        if isinstance(migrations, list) and migrations:
            defined = {c.name for c in classes}
            for i, b in local:
                if b["class_name"] not in defined:
                    tree.warn(f'Durable Object class "{b["class_name"]}" (binding "{b.get("name")}") is in no '
                              "migration, so it runs KV-backed (no SQL API). Add it to `new_sqlite_classes` of a "
                              "migration to make it SQLite-backed.", base + (i, "class_name"), "CFE114")
        missing, shown = classes_not_in_main(tree, raw, config, env_name, config_path, local,
                                             "Durable Object classes")
        for i, b in missing:
            tree.error(f'Durable Object binding "{b.get("name")}" uses class_name "{b["class_name"]}", but main '
                       f"module {shown} defines no such class.", base + (i, "class_name"), "CFE113")


TYPE = DurableObjectsType()


def durable_objects_config(app: Any) -> DurableObjectsConfig:
    return TYPE.of(app)
