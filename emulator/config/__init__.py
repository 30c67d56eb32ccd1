"""Wrangler configuration: loading, the typed model, validation and rendering.

Public contract (used by `check`, `dev` and the pytest plugin)::

    report = check_paths([Path("wrangler.toml")], env=None)   # files, dirs or a workspace file
    report.ok            # no errors in any file
    report.files         # [FileReport(path, kind, errors, warnings, app)]
    report.apps          # [AppConfig] of every app that loaded without errors
    report.workspace     # WorkspaceConfig | None

Diagnostics are data (``Diagnostic``: message, path, line, column, id, severity); rendering
to text, JSON or GitHub annotations happens in ``emulator.config.render``.
"""
