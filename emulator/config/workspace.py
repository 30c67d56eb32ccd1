"""The workspace file: our top-level ``wrangler.toml`` naming the apps ``dev`` hosts together.

Format (recognised by its ``[workspace]`` table)::

    [workspace]
    apps = ["apps/web", "apps/workflow"]   # folders (config found in the folder) or config files
    apply_migrations = true                # apply pending D1 migrations when `dev` starts
    persist_to = ".emulator"               # optional state directory; `--persist-to` wins
    request_body_limit = "200MB"           # optional; `--request-body-limit` wins (docs/hosting.md)

The request body limit is set here rather than in an app's ``[dev]`` table because wrangler
warns about unknown ``[dev]`` keys (so does ``check``), and this file is ours alone.

Paths are relative to the workspace file. Rules (ids of ours):

- CFE130 error: ``apps`` missing, not an array of strings, or empty.
- CFE131 error: an app path that does not exist, or a folder without a wrangler config.
- CFE132 warning: unknown keys in ``[workspace]`` or next to it.
- CFE133 error: ``apply_migrations`` not a boolean / ``persist_to`` not a string /
  ``request_body_limit`` not a size (bytes, or a string such as ``"200MB"``).
- CFE134 warning: the same app listed twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emulator.config.diagnostics import DiagnosticTree
from emulator.config.jsvalues import stringify
from emulator.config.loader import CONFIG_NAMES, find_config
from emulator.config.model import WorkspaceConfig
from emulator.config.sizes import parse_size

WORKSPACE_KEYS = ("apps", "apply_migrations", "persist_to", "request_body_limit")


def resolve_app_entry(root: Path, entry: str) -> Path | None:
    """An ``apps`` entry → its config file: a file as is, a folder by wrangler's file-name order.

    Only the folder itself is searched (not upwards), so an app folder without a config never
    resolves to the workspace file above it.
    """
    try:
        target = (root / entry).resolve()
        if target.is_file():
            return target
        if target.is_dir():
            return find_config(target, upward=False)
    except (OSError, ValueError):  # NUL bytes, unencodable names: simply not found
        return None
    return None


def parse_workspace(raw: dict[str, Any], path: Path, tree: DiagnosticTree) -> WorkspaceConfig:
    """Validate the workspace table into ``tree`` and return what could be understood."""
    root = path.parent
    table: dict[str, Any] = raw.get("workspace", {})
    others = [k for k in raw if k != "workspace"]
    if others:
        tree.warn("Unexpected fields found next to [workspace]: " + ",".join(f'"{k}"' for k in others)
                  + ". A workspace file only names apps; put app settings in each app's own config.",
                  (others[0],), "CFE132")
    unknown = [k for k in table if k not in WORKSPACE_KEYS]
    if unknown:
        tree.warn("Unexpected fields found in workspace field: " + ",".join(f'"{k}"' for k in unknown),
                  ("workspace", unknown[0]), "CFE132")
    apps: list[Path] = []
    entries = table.get("apps")
    if not isinstance(entries, list) or not entries or not all(isinstance(e, str) for e in entries):
        got = "nothing" if entries is None else stringify(entries)
        tree.error(f'"workspace.apps" should be a non-empty array of app folders or config files but got {got}.',
                   ("workspace", "apps") if entries is not None else ("workspace",), "CFE130")
    else:
        seen: set[Path] = set()
        for i, entry in enumerate(entries):
            config = resolve_app_entry(root, entry)
            if config is None:
                target = root / entry
                try:
                    exists = target.exists()
                except (OSError, ValueError):
                    exists = False
                why = ("does not exist" if not exists
                       else "holds no " + ", ".join(CONFIG_NAMES[:-1]) + " or " + CONFIG_NAMES[-1])
                tree.error(f'"workspace.apps[{i}]" = {stringify(entry)} {why}.', ("workspace", "apps", i), "CFE131")
                continue
            if config in seen:
                tree.warn(f'"workspace.apps[{i}]" = {stringify(entry)} names an app already listed.',
                          ("workspace", "apps", i), "CFE134")
                continue
            seen.add(config)
            apps.append(config)
    apply = table.get("apply_migrations", False)
    if not isinstance(apply, bool):
        tree.error(f'"workspace.apply_migrations" should be a boolean but got {stringify(apply)}.',
                   ("workspace", "apply_migrations"), "CFE133")
        apply = False
    persist = table.get("persist_to")
    persist_path: Path | None = None
    if persist is not None:
        if isinstance(persist, str):
            persist_path = (root / persist).resolve()
        else:
            tree.error(f'"workspace.persist_to" should be a string but got {stringify(persist)}.',
                       ("workspace", "persist_to"), "CFE133")
    limit = table.get("request_body_limit")
    limit_bytes: int | None = None
    if limit is not None:
        try:
            limit_bytes = parse_size(limit)
        except ValueError:
            tree.error(f'"workspace.request_body_limit" should be a size in bytes (a positive integer, or a '
                       f'string such as "200MB" or "1GiB") but got {stringify(limit)}.',
                       ("workspace", "request_body_limit"), "CFE133")
    return WorkspaceConfig(path=path.resolve(), apps=tuple(apps), apply_migrations=apply,
                           persist_to=persist_path, request_body_limit=limit_bytes)
