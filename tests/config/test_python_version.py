"""Which Python production runs for an app, and what `dev` says about it."""

from __future__ import annotations

import pytest

from emulator.config.python_version import findings, production_python


@pytest.mark.parametrize("date, flags, version", [
    ("2025-01-01", ["python_workers"], "3.12"),
    ("2025-09-28", ["python_workers"], "3.12"),
    ("2025-09-29", ["python_workers"], "3.13"),  # python_workers implies python_workers_20250116 from here
    ("2024-06-01", ["python_workers", "python_workers_20250116"], "3.13"),
    ("2026-01-01", ["python_workers", "no_python_workers_20250116"], "3.12"),
    ("2025-01-01", ["python_workers", "python_workers_20260610"], "3.14"),
    ("2026-06-01", ["python_workers", "python_workers_20260610"], "3.14"),
    (None, ["python_workers"], "3.12"),
])
def test_production_version_rule(date: str | None, flags: list[str], version: str) -> None:
    assert production_python(date, flags).version == version


def test_same_minor_is_information_only() -> None:
    (only,) = findings("2025-10-01", ["python_workers"], None, local="3.13.0")
    assert only.level == "info"
    assert only.message == ("Python 3.13 in production (compatibility_date 2025-10-01 is on or after 2025-09-29); "
                            "this emulator runs Python 3.13.0.")


def test_a_different_interpreter_and_an_excluding_requires_python_are_warnings() -> None:
    out = findings("2025-10-01", ["python_workers"], ">=3.12", local="3.11.9")
    assert [f.level for f in out] == ["warn", "warn"]
    assert out[0].message.startswith("Python 3.13 in production (compatibility_date 2025-10-01 is on or after "
                                     "2025-09-29), but this emulator runs Python 3.11.9")
    assert out[1].message == ('pyproject.toml: requires-python ">=3.12" excludes this emulator\'s Python 3.11.9; '
                              "the app still runs here as far as its code allows.")


def test_requires_python_that_excludes_production_says_pywrangler_would_fail() -> None:
    out = findings("2025-01-01", ["python_workers"], ">=3.13", pyproject_name="api/pyproject.toml", local="3.13.1")
    assert [f.level for f in out] == ["warn", "warn"]
    assert out[1].message.startswith('api/pyproject.toml: requires-python ">=3.13" excludes Python 3.12, which '
                                     "production runs for this app (compatibility_date 2025-01-01 is before "
                                     "2025-09-29); `pywrangler sync` would fail.")


def test_apps_without_the_python_flag_get_nothing() -> None:
    assert findings("2025-10-01", [], ">=3.12", local="3.11.9") == []


def test_a_malformed_requires_python_is_reported() -> None:
    out = findings("2025-10-01", ["python_workers"], "3.12+", local="3.13.0")
    assert out[-1].level == "warn" and "is not a valid version specifier" in out[-1].message
