"""Which Python a Worker runs in production, and how that compares with the emulator's.

Production picks the Python (Pyodide) release from the app's ``compatibility_date`` and
flags (docs/dependencies.md, "Python version"):

- the ``python_workers_20260610`` flag → Python 3.14 (Pyodide 314);
- the ``python_workers_20250116`` flag, or a date on or after 2025-09-29 (the flag is implied
  by ``python_workers`` from then on, unless ``no_python_workers_20250116`` is set) → 3.13;
- otherwise → 3.12.

The emulator runs every app on its own interpreter (one process), so it can only *report*
the difference: ``findings`` returns what `cf-emulator dev` prints per app.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from typing import Literal
from collections.abc import Sequence

from packaging.specifiers import InvalidSpecifier, SpecifierSet

PYTHON_WORKERS_FLAG = "python_workers"
FLAG_314 = "python_workers_20260610"
FLAG_313 = "python_workers_20250116"
NO_FLAG_313 = "no_python_workers_20250116"
# From this date `python_workers` implies FLAG_313.
DATE_313 = "2025-09-29"
# The CPython version inside each production Pyodide release (what `requires-python` and a
# package's Requires-Python are compared with, as pywrangler's resolver does).
FULL_VERSIONS = {"3.12": "3.12.7", "3.13": "3.13.2", "3.14": "3.14.2"}


@dataclass(frozen=True)
class ProductionPython:
    version: str  # "3.12", "3.13" or "3.14"
    reason: str  # why, in the words a developer would look for in their config

    @property
    def full_version(self) -> str:
        return FULL_VERSIONS[self.version]


def production_python(compatibility_date: str | None, flags: Sequence[str]) -> ProductionPython:
    """The Python production runs for these settings (``None`` date: wrangler dev's today)."""
    if FLAG_314 in flags:
        return ProductionPython("3.14", f"the {FLAG_314} flag")
    if FLAG_313 in flags:
        return ProductionPython("3.13", f"the {FLAG_313} flag")
    if NO_FLAG_313 in flags:
        return ProductionPython("3.12", f"the {NO_FLAG_313} flag")
    if compatibility_date is not None and compatibility_date >= DATE_313:
        return ProductionPython("3.13", f"compatibility_date {compatibility_date} is on or after {DATE_313}")
    return ProductionPython("3.12", f"compatibility_date {compatibility_date} is before {DATE_313}"
                            if compatibility_date else "no compatibility_date")


Level = Literal["info", "warn"]


@dataclass(frozen=True)
class Finding:
    level: Level
    message: str


def local_python() -> str:
    return platform.python_version()


def findings(compatibility_date: str | None, flags: Sequence[str], requires_python: str | None,
             pyproject_name: str = "pyproject.toml", local: str | None = None) -> list[Finding]:
    """What `dev` says about an app's Python: the production version, and warnings when the
    emulator's interpreter differs or ``requires-python`` excludes either interpreter.

    These are warnings, never refusals: code that runs on both interpreters runs here (the
    official examples declare ``requires-python = ">=3.12"`` and run on 3.11 as far as their
    code allows).
    """
    if PYTHON_WORKERS_FLAG not in flags:
        return []  # not a Python Worker: production runs no Python for it
    local = local or local_python()
    prod = production_python(compatibility_date, flags)
    local_minor = ".".join(local.split(".")[:2])
    out: list[Finding] = []
    if local_minor == prod.version:
        out.append(Finding("info", f"Python {prod.version} in production ({prod.reason}); "
                                   f"this emulator runs Python {local}."))
    else:
        out.append(Finding("warn", f"Python {prod.version} in production ({prod.reason}), but this emulator "
                                   f"runs Python {local}: code that needs {prod.version} (or breaks on it) "
                                   f"is not caught here."))
    if requires_python:
        try:
            spec = SpecifierSet(requires_python)
        except InvalidSpecifier:
            out.append(Finding("warn", f"{pyproject_name}: requires-python {requires_python!r} is not a valid "
                                       "version specifier; pywrangler cannot resolve the dependencies."))
            return out
        if not spec.contains(prod.full_version, prereleases=True):
            out.append(Finding("warn", f"{pyproject_name}: requires-python \"{requires_python}\" excludes Python "
                                       f"{prod.version}, which production runs for this app ({prod.reason}); "
                                       "`pywrangler sync` would fail. Change requires-python, or the "
                                       "compatibility date/flags."))
        if not spec.contains(local, prereleases=True):
            out.append(Finding("warn", f"{pyproject_name}: requires-python \"{requires_python}\" excludes this "
                                       f"emulator's Python {local}; the app still runs here as far as its code "
                                       "allows."))
    return out
