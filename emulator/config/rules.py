"""Checks beyond wrangler's, each with an id of ours (``CFE1xx``) so users can tell them apart.

Wrangler accepts configs that the platform rejects later (at deploy, or when Miniflare builds
its queue broker). We report those up front:

=======  ========  =========================================================================
id       severity  rule
=======  ========  =========================================================================
CFE101   error     ``max_batch_size`` must be an integer 1–100
CFE102   error     ``max_batch_timeout`` must be 0–60 (seconds)
CFE103   error     ``max_retries`` must be an integer 0–100
CFE104   error     consumer ``retry_delay`` must be an integer 0–86400 (seconds)
CFE105   error     producer ``delivery_delay`` must be an integer 0–86400 (seconds)
CFE106   error     ``max_concurrency`` must be an integer ≥ 1
CFE107   error     a dead-letter queue equal to its own queue (Miniflare's message)
CFE108   error     ``queues.consumers`` inside a Pages ``[env.*]`` section (build-env misses it)
CFE110   error     two consumers for one queue among the checked apps (Miniflare's message)
CFE111   error     a workflow class missing from the app's Python ``main`` module
CFE112   warning   the Python ``main`` module could not be read to look for workflow classes
CFE120   warning   a consumer whose queue nothing produces to (a dead-letter queue counts)
CFE121   warning   a producer whose queue nobody consumes
CFE122   warning   a dead-letter queue nobody consumes
CFE130+  —         workspace file rules (see ``emulator.config.workspace``)
=======  ========  =========================================================================

CFE120–122 only run over a set of apps (a workspace, or two or more configs passed to
``check``): a single app legitimately produces to queues that another deployment consumes.
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.config.diagnostics import DiagnosticTree, KeyPath
from emulator.config.jsvalues import UNDEF, get, is_record, typeof


@dataclass
class QueueUse:
    queue: str
    key_path: KeyPath
    dead_letter_queue: str | None = None
    dlq_path: KeyPath = ()


@dataclass
class AppFacts:
    """What the cross-app checks need to know about one checked app config."""

    name: str
    tree: DiagnosticTree
    producers: list[QueueUse] = field(default_factory=list)
    consumers: list[QueueUse] = field(default_factory=list)


def field_base(raw: dict[str, Any], env_name: str | None, field_name: str) -> KeyPath:
    """Where the active value of a non-inheritable field lives in the file."""
    if env_name:
        env = get(get(raw, "env"), env_name)
        if is_record(env):
            return ("env", env_name, field_name)
    return (field_name,)


def _is_int(value: Any) -> bool:
    return typeof(value) == "number" and float(value).is_integer()


def _range_rule(tree: DiagnosticTree, rule_id: str, label: str, value: Any, low: float,
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


def check_app(tree: DiagnosticTree, raw: dict[str, Any], config: dict[str, Any], env_name: str | None,
              is_pages: bool, facts: AppFacts) -> None:
    """Per-app CFE rules; also collects the queue facts for the cross-app rules."""
    queues = config.get("queues", UNDEF)
    base = field_base(raw, env_name, "queues")
    label_base = ".".join(str(p) for p in base)
    consumers = get(queues, "consumers")
    if isinstance(consumers, list):
        for i, c in enumerate(consumers):
            if not is_record(c):
                continue
            p = base + ("consumers", i)
            label = f"{label_base}.consumers[{i}]"
            _range_rule(tree, "CFE101", f"{label}.max_batch_size", c.get("max_batch_size", UNDEF), 1, 100, True,
                        " messages per batch", p + ("max_batch_size",))
            _range_rule(tree, "CFE102", f"{label}.max_batch_timeout", c.get("max_batch_timeout", UNDEF), 0, 60,
                        False, " seconds", p + ("max_batch_timeout",))
            _range_rule(tree, "CFE103", f"{label}.max_retries", c.get("max_retries", UNDEF), 0, 100, True,
                        " retries", p + ("max_retries",))
            _range_rule(tree, "CFE104", f"{label}.retry_delay", c.get("retry_delay", UNDEF), 0, 86400, True,
                        " seconds", p + ("retry_delay",))
            _range_rule(tree, "CFE106", f"{label}.max_concurrency", c.get("max_concurrency", UNDEF), 1, None, True,
                        " concurrent consumer invocations", p + ("max_concurrency",))
            queue, dlq = c.get("queue"), c.get("dead_letter_queue")
            if isinstance(queue, str):
                if isinstance(dlq, str) and dlq == queue:
                    # Miniflare: QueuesError ERR_DEAD_LETTER_QUEUE_CYCLE
                    tree.error(f'Dead letter queue for queue "{queue}" cannot be itself',
                               p + ("dead_letter_queue",), "CFE107")
                facts.consumers.append(QueueUse(queue, p + ("queue",),
                                                dlq if isinstance(dlq, str) else None,
                                                p + ("dead_letter_queue",)))
    producers = get(queues, "producers")
    if isinstance(producers, list):
        for i, prod in enumerate(producers):
            if not is_record(prod):
                continue
            p = base + ("producers", i)
            _range_rule(tree, "CFE105", f"{label_base}.producers[{i}].delivery_delay",
                        prod.get("delivery_delay", UNDEF), 0, 86400, True, " seconds", p + ("delivery_delay",))
            name = prod.get("queue") if isinstance(prod.get("queue"), str) else prod.get("binding")
            if isinstance(name, str) and name:
                facts.producers.append(QueueUse(name, p + ("queue",) if "queue" in prod else p))
    if is_pages:
        envs = get(raw, "env")
        if is_record(envs):
            for env, section in envs.items():
                if env == env_name:
                    continue  # the active env is judged by wrangler's own Pages rule already
                env_consumers = get(get(section, "queues"), "consumers")
                if isinstance(env_consumers, list) and env_consumers:
                    tree.error('Configuration file for Pages projects does not support "queues.consumers" '
                               f'(found in "env.{env}.queues.consumers"; Pages CI does not check environment '
                               "sections, but Pages cannot consume queues in any environment)",
                               ("env", env, "queues", "consumers"), "CFE108")


def _module_names(source: str) -> set[str]:
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


def check_workflow_classes(tree: DiagnosticTree, raw: dict[str, Any], config: dict[str, Any],
                           env_name: str | None, config_path: Path) -> None:
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
    shown = _relative(main_path, config_path.parent)
    try:
        names = _module_names(main_path.read_text(encoding="utf-8"))
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


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def check_app_set(apps: list[AppFacts], cross_warnings: bool) -> None:
    """CFE110 over all checked apps; CFE120–122 when checking a set of apps together."""
    first_consumer: dict[str, AppFacts] = {}
    for app in apps:
        for use in app.consumers:
            owner = first_consumer.get(use.queue)
            if owner is None:
                first_consumer[use.queue] = app
            else:
                # Miniflare: QueuesError ERR_MULTIPLE_CONSUMERS
                app.tree.error(f'Multiple consumers defined for queue "{use.queue}": "{owner.name}" and '
                               f'"{app.name}"', use.key_path, "CFE110")
    if not cross_warnings:
        return
    consumed = set(first_consumer)
    produced = {p.queue for a in apps for p in a.producers}
    produced |= {c.dead_letter_queue for a in apps for c in a.consumers if c.dead_letter_queue}
    for app in apps:
        for use in app.consumers:
            if use.queue not in produced:
                app.tree.warn(f'Queue "{use.queue}" has a consumer in "{app.name}" but no checked app produces '
                              "to it (and it is no consumer's dead-letter queue).", use.key_path, "CFE120")
            if use.dead_letter_queue and use.dead_letter_queue not in consumed:
                app.tree.warn(f'Dead-letter queue "{use.dead_letter_queue}" of queue "{use.queue}" has no '
                              "consumer in the checked apps: failed messages will pile up unseen.",
                              use.dlq_path, "CFE122")
        for use in app.producers:
            if use.queue not in consumed:
                app.tree.warn(f'Queue "{use.queue}" is produced to by "{app.name}" but no checked app consumes '
                              "it: messages will never be delivered.", use.key_path, "CFE121")


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
