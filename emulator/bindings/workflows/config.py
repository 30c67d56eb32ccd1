"""Workflows in a wrangler config (``[[workflows]]``), plus CFE111/CFE112."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Mapping

from emulator.bindings import BindingType, ConfigContext, Declaration, str_or_none, tables
from emulator.config.diagnostics import DiagnosticTree
from emulator.config.rules import classes_not_in_main, defined_here, field_base


@dataclass(frozen=True)
class WorkflowBinding:
    binding: str
    name: str
    class_name: str
    script_name: str | None = None


@dataclass(frozen=True)
class WorkflowsConfig:
    workflows: tuple[WorkflowBinding, ...] = ()


class WorkflowsType(BindingType[WorkflowsConfig]):
    name = "workflows"
    title = "Workflows"
    config_keys = ("workflows",)
    accessor = "workflow"
    noun = "workflow"

    def read(self, config: Mapping[str, Any], ctx: ConfigContext) -> WorkflowsConfig:
        return WorkflowsConfig(tuple(
            WorkflowBinding(binding=w["binding"], name=w["name"], class_name=w["class_name"],
                            script_name=str_or_none(w.get("script_name")))
            for w in tables(config.get("workflows"), "binding", "name", "class_name")))

    def declarations(self, cfg: WorkflowsConfig) -> list[Declaration]:
        return [Declaration(w.binding, w.name, "Workflow") for w in cfg.workflows]

    def summary(self, cfg: WorkflowsConfig) -> dict[str, Any]:
        return {w.binding: {"name": w.name, "class_name": w.class_name, "script_name": w.script_name}
                for w in cfg.workflows}

    def restart_needed(self, old: WorkflowsConfig, new: WorkflowsConfig) -> str | None:
        # The engine registers workflow definitions once, at start.
        return "workflows" if old != new else None

    def check_app(self, tree: DiagnosticTree, raw: Mapping[str, Any], config: Mapping[str, Any],
                  env_name: str | None, is_pages: bool, config_path: Path) -> None:
        """CFE111/CFE112: a workflow this app defines must be a class in its Python main module."""
        local = defined_here(config.get("workflows"), config.get("name"))
        missing, shown = classes_not_in_main(tree, raw, config, env_name, config_path, local, "workflow classes")
        base = field_base(raw, env_name, "workflows")
        for i, w in missing:
            tree.error(f'Workflow "{w.get("name")}" (binding "{w.get("binding")}") uses class_name '
                       f'"{w["class_name"]}", but main module {shown} defines no such class.',
                       base + (i, "class_name"), "CFE111")


TYPE = WorkflowsType()


def workflows_config(app: Any) -> WorkflowsConfig:
    return TYPE.of(app)
