"""Workflows in a wrangler config (``[[workflows]]``), plus CFE111/CFE112."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Mapping

from emulator.bindings import BindingType, ConfigContext, Declaration, str_or_none, tables
from emulator.config.diagnostics import DiagnosticTree
from emulator.config.rules import defined_here, field_base, main_module_names


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
        main = config.get("main")
        workflows = config.get("workflows")
        if not isinstance(main, str) or not main.endswith(".py") or not isinstance(workflows, list):
            return
        local = defined_here(workflows, config.get("name"))
        if not local:
            return
        base = field_base(raw, env_name, "workflows")
        found = main_module_names(tree, raw, env_name, main, config_path, "workflow classes")
        if found is None:
            return
        names, shown = found
        for i, w in local:
            if w["class_name"] not in names:
                tree.error(f'Workflow "{w.get("name")}" (binding "{w.get("binding")}") uses class_name '
                           f'"{w["class_name"]}", but main module {shown} defines no such class.',
                           base + (i, "class_name"), "CFE111")


TYPE = WorkflowsType()


def workflows_config(app: Any) -> WorkflowsConfig:
    return TYPE.of(app)
