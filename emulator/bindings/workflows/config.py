"""Workflows in a wrangler config (``[[workflows]]``), plus CFE111/CFE112."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from emulator.bindings import BindingType, ConfigContext, Declaration
from emulator.config.diagnostics import DiagnosticTree, KeyPath
from emulator.config.jsvalues import UNDEF, get, is_record
from emulator.config.rules import field_base, module_names, relative_path


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
                            script_name=w["script_name"] if isinstance(w.get("script_name"), str) else None)
            for w in config.get("workflows") or []
            if is_record(w) and all(isinstance(w.get(k), str) for k in ("binding", "name", "class_name"))))

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
        own_name = config.get("name")
        local = [(i, w) for i, w in enumerate(workflows)
                 if is_record(w) and isinstance(w.get("class_name"), str)
                 and (not isinstance(w.get("script_name"), str) or w.get("script_name") == own_name)]
        if not local:
            return
        base = field_base(raw, env_name, "workflows")
        main_path = Path(main)
        shown = relative_path(main_path, config_path.parent)
        try:
            names = module_names(main_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError) as exc:
            reason = "it does not exist" if isinstance(exc, FileNotFoundError) else f"{type(exc).__name__}: {exc}"
            env_section = get(get(raw, "env"), env_name) if env_name else UNDEF
            main_key: KeyPath = ("main",)
            if env_name and is_record(env_section) and "main" in env_section:
                main_key = ("env", env_name, "main")
            tree.warn(f"Could not look for workflow classes in main module {shown}: {reason}.", main_key, "CFE112")
            return
        for i, w in local:
            if w["class_name"] not in names:
                tree.error(f'Workflow "{w.get("name")}" (binding "{w.get("binding")}") uses class_name '
                           f'"{w["class_name"]}", but main module {shown} defines no such class.',
                           base + (i, "class_name"), "CFE111")


TYPE = WorkflowsType()


def workflows_config(app: Any) -> WorkflowsConfig:
    return TYPE.of(app)
