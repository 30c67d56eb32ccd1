"""Wrangler configuration: loading, the typed model, validation and rendering.

Public contract (used by `check`, `dev` and the pytest plugin)::

    report = check_paths([Path("wrangler.toml")], env=None)   # files, dirs or a workspace file
    report.ok            # no errors in any file
    report.files         # [FileReport(path, kind, errors, warnings, app)]
    report.apps          # [AppConfig] of every app that loaded without errors
    report.workspace     # WorkspaceConfig | None

Diagnostics are data (``Diagnostic``: message, path, line, column, id, severity); rendering
to text, JSON or GitHub annotations happens in ``emulator.config.render``.

Paths given to ``check_paths`` may be config files, folders (wrangler's discovery: upward for
``wrangler.json``, then ``.jsonc``, then ``.toml``) or our workspace file (a ``wrangler.toml``
with a ``[workspace]`` table), whose apps are all checked. A path that does not exist or a
folder without any config raises ``ConfigLookupError`` (the CLI's exit code 2); everything
about file contents is reported as diagnostics and never raised. ``FileReport.app`` is the
``AppConfig`` of a file without errors (``None`` otherwise).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulator.config.check import CheckReport, FileReport, check_paths
    from emulator.config.diagnostics import Diagnostic
    from emulator.config.loader import CONFIG_NAMES, ConfigLookupError, find_config
    from emulator.config.model import AppConfig, WorkspaceConfig

__all__ = [
    "AppConfig", "CONFIG_NAMES", "CheckReport", "ConfigLookupError", "Diagnostic", "FileReport",
    "WorkspaceConfig", "check_paths", "find_config",
]

# Each public name's module, imported on first use: a module that needs one light helper
# of this package (``jsvalues.typeof`` in the D1 and queue bindings) does not import the
# checker and wrangler's whole validation with it.
_HOMES = {
    "CheckReport": "check", "FileReport": "check", "check_paths": "check", "Diagnostic": "diagnostics",
    "CONFIG_NAMES": "loader", "ConfigLookupError": "loader", "find_config": "loader",
    "AppConfig": "model", "WorkspaceConfig": "model",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"emulator.config.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'emulator.config' has no attribute {name!r}")
