"""Checks of ours beyond wrangler's (ids ``CFE1xx``): the generic ones and shared helpers.

Binding-specific rules live with their binding type (``BindingType.check_app`` /
``check_set`` in ``emulator/bindings/<type>/config.py``: CFE101–110 and CFE120–122 in
queues, CFE111–112 in workflows); workspace rules (CFE130+) in ``emulator.config.workspace``.
What stays here: the entry-point rules wrangler itself raises at deploy (no CFE id), and
the helpers those rules share. docs/check.md lists every id.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path
from typing import Any
from collections.abc import Mapping

from emulator.config.diagnostics import DiagnosticTree, KeyPath
from emulator.config.jsvalues import UNDEF, get, is_record, typeof


def field_base(raw: Mapping[str, Any], env_name: str | None, field_name: str) -> KeyPath:
    """Where the active value of a non-inheritable field lives in the file."""
    if env_name:
        env = get(get(raw, "env"), env_name)
        if is_record(env):
            return ("env", env_name, field_name)
    return (field_name,)


def _is_int(value: Any) -> bool:
    return typeof(value) == "number" and float(value).is_integer()


def range_rule(tree: DiagnosticTree, rule_id: str, label: str, value: Any, low: float,
                high: float | None, integer: bool, unit: str, path: KeyPath) -> None:
    if value is UNDEF or typeof(value) != "number":
        return  # wrong types are wrangler's own errors
    ok = (not integer or _is_int(value)) and value >= low and (high is None or value <= high)
    if ok:
        return
    shown = int(value) if float(value).is_integer() else value
    span = f"{low:g} to {high:g}" if high is not None else f"at least {low:g}"
    kind = "an integer" if integer else "a number"
    tree.error(f'"{label}" is {shown}, but Cloudflare Queues accepts {kind} from {span}{unit}.'
               if high is not None else
               f'"{label}" is {shown}, but Cloudflare Queues requires {kind} {span}{unit}.', path, rule_id)


def module_names(source: str) -> set[str]:
    """Names a Python module defines or imports at top level (what the runtime can export)."""
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.ImportFrom):
            names.update(a.asname or a.name for a in node.names)
        elif isinstance(node, ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def relative_path(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def defined_here(entries: Any, own_name: Any) -> list[tuple[int, dict[str, Any]]]:
    """(index, entry) of the class bindings (Durable Objects, workflows) whose class this app
    defines: a ``class_name``, and no ``script_name`` naming another Worker."""
    if not isinstance(entries, list):
        return []
    return [(i, e) for i, e in enumerate(entries)
            if is_record(e) and isinstance(e.get("class_name"), str)
            and (not isinstance(e.get("script_name"), str) or e.get("script_name") == own_name)]


def main_module_names(tree: DiagnosticTree, raw: Mapping[str, Any], env_name: str | None, main: str,
                      config_path: Path, looked_for: str) -> tuple[set[str], str] | None:
    """The names the Python main module defines, and its path as messages show it; None after
    a CFE112 warning when it cannot be read or parsed (``looked_for``: "workflow classes")."""
    main_path = Path(main)
    shown = relative_path(main_path, config_path.parent)
    try:
        return module_names(main_path.read_text(encoding="utf-8")), shown
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError) as exc:
        reason = "it does not exist" if isinstance(exc, FileNotFoundError) else f"{type(exc).__name__}: {exc}"
        env_section = get(get(raw, "env"), env_name) if env_name else UNDEF
        main_key: KeyPath = ("main",)
        if env_name and is_record(env_section) and "main" in env_section:
            main_key = ("env", env_name, "main")
        tree.warn(f"Could not look for {looked_for} in main module {shown}: {reason}.", main_key, "CFE112")
        return None


def classes_not_in_main(tree: DiagnosticTree, raw: Mapping[str, Any], config: Mapping[str, Any],
                        env_name: str | None, config_path: Path, local: list[tuple[int, dict[str, Any]]],
                        looked_for: str) -> tuple[list[tuple[int, dict[str, Any]]], str]:
    """The class bindings of ``local`` (``defined_here``) whose ``class_name`` the app's Python
    main module does not define, and the module's path as messages show it: the rule behind
    CFE111 (workflows) and CFE113 (Durable Objects), whose messages stay with their types.

    Nothing when there is nothing to look for or ``main`` is no Python module; nothing after
    ``main_module_names``' CFE112 warning when the module cannot be read.
    """
    main = config.get("main")
    if not local or not isinstance(main, str) or not main.endswith(".py"):
        return [], ""
    found = main_module_names(tree, raw, env_name, main, config_path, looked_for)
    if found is None:
        return [], ""
    names, shown = found
    return [(i, e) for i, e in local if e["class_name"] not in names], shown


_JS_EXPORT_CLASS = re.compile(r"^\s*export\s+(?:default\s+)?(?:abstract\s+)?class\s+([A-Za-z_$][\w$]*)", re.M)
_JS_EXPORT_DECL = re.compile(r"^\s*export\s+(?:async\s+)?(?:function\*?|const|let|var)\s+([A-Za-z_$][\w$]*)", re.M)
_JS_EXPORT_LIST = re.compile(r"export\s*(?:type\s*)?\{([^}]*)\}", re.M)
_JS_EXPORT_STAR = re.compile(r"^\s*export\s*\*\s*from", re.M)


def _js_exports(source: str) -> set[str] | None:
    """Names a JS/TS entry module exports, or None when re-exports make that unknowable here."""
    if _JS_EXPORT_STAR.search(source):
        return None
    names = set(_JS_EXPORT_CLASS.findall(source)) | set(_JS_EXPORT_DECL.findall(source))
    for group in _JS_EXPORT_LIST.findall(source):
        for item in group.split(","):
            parts = item.strip().split()
            if parts:
                names.add(parts[-1])
    return names


def check_entrypoint_exports(tree: DiagnosticTree, config: dict[str, Any], cwd: Path) -> None:
    """What ``wrangler deploy`` checks after bundling a JS/TS entry: Durable Object and Workflow
    classes this Worker defines must be exported (wrangler's own UserError, so no CFE id).

    Python entry points are not bundled by wrangler; CFE111 covers them.
    """
    main = config.get("main")
    if not isinstance(main, str) or main.endswith(".py"):
        return
    try:
        exports = _js_exports(Path(main).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if exports is None:
        return
    rel = os.path.relpath(main, cwd)
    dos = get(config.get("durable_objects", UNDEF), "bindings")
    for kind, bindings, key in (("Durable Objects", dos, "durable_objects"),
                                ("Workflows", config.get("workflows"), "workflows")):
        if not isinstance(bindings, list):
            continue
        missing = [b["class_name"] for b in bindings if is_record(b) and isinstance(b.get("class_name"), str)
                   and not b.get("script_name") and b["class_name"] not in exports]
        if missing:
            tree.error(f"Your Worker depends on the following {kind}, which are not exported in your entrypoint "
                       f"file: {', '.join(missing)}.\nYou should export these objects from your entrypoint, {rel}.",
                       (key,))
            return  # wrangler throws at the first finding


def check_entry_point(tree: DiagnosticTree, config: dict[str, Any], file_name: str, today: str) -> bool:
    """``wrangler deploy`` without ``main``, ``assets`` or ``site``: its UserError (no CFE id).

    Returns True when the error was reported. ``today`` stands in for wrangler's
    ``getTodaysCompatDate()`` in the suggested snippet.
    """
    if isinstance(config.get("main"), str) or is_record(config.get("assets")) or is_record(config.get("site")):
        return False
    head: dict[str, Any] = {}
    if not isinstance(config.get("name"), str) or not config.get("name"):
        head["name"] = "worker-name"
    if not config.get("compatibility_date"):
        head["compatibility_date"] = today

    def snippet(extra: dict[str, Any]) -> str:
        value = {**head, **extra}
        if file_name != "wrangler.toml":
            import json
            return json.dumps(value, indent=2)
        lines = [f"{k} = {json_str(v)}" for k, v in value.items() if not isinstance(v, dict)]
        for k, v in value.items():
            if isinstance(v, dict):
                lines.append(f"[{k}]")
                lines.extend(f"{kk} = {json_str(vv)}" for kk, vv in v.items())
        return "\n".join(lines)

    where = f'add the following to your "{file_name}" file:' if file_name != "Wrangler configuration" \
        else 'create a "wrangler.jsonc" file containing:'
    tree.error("Missing entry-point to Worker script or to assets directory\n"
               "If there is code to deploy, you can either:\n"
               "- Specify an entry-point to your Worker script via the command line "
               "(ex: `npx wrangler deploy src/index.ts`)\n"
               f"- Or {where}\n```\n{snippet({'main': 'src/index.ts'})}\n```\n"
               "If are uploading a directory of assets, you can either:\n"
               "- Specify the path to the directory of assets via the command line: "
               "(ex: `npx wrangler deploy --assets=./dist`)\n"
               f"- Or {where}\n```\n{snippet({'assets': {'directory': './dist'}})}\n```", ())
    return True


def compatibility_date_required(file_name: str, today: str) -> str:
    """``wrangler deploy`` (and ``versions upload``) without a ``compatibility_date``: its UserError.

    The text of wrangler 4.86 when it cannot ask (CI, ``--dry-run`` in a script): the date it
    suggests is today's (UTC). The snippet is TOML for ``wrangler.toml`` (TOML.stringify's
    trailing newline leaves an empty line before the closing fence) and compact JSON otherwise.
    """
    import json

    if file_name == "wrangler.toml":
        snippet = f"compatibility_date = {json_str(today)}\n"
    else:
        snippet = json.dumps({"compatibility_date": today}, separators=(",", ":"))
    return (f"A compatibility_date is required when publishing. Add the following to your {file_name} file:\n"
            f"    ```\n    {snippet}\n    ```\n"
            f"    Or you could pass it in your terminal as `--compatibility-date {today}`\n"
            "See https://developers.cloudflare.com/workers/platform/compatibility-dates for more information.")


def compatibility_date_defaulted(file_name: str, today: str) -> str:
    """``wrangler dev`` without a ``compatibility_date``: a warning, and today's date is used."""
    return (f"No compatibility_date was specified. Using today's date: {today}.\n"
            f"❯❯ Add one to your {file_name} file: compatibility_date = \"{today}\"\n"
            "See https://developers.cloudflare.com/workers/platform/compatibility-dates/ for more information.")


def json_str(value: Any) -> str:
    import json
    return json.dumps(value, ensure_ascii=False)
