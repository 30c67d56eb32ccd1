"""Process-wide library state a reload cannot replace: what the hosts warn about.

Django itself is exercised end to end by the 18-django example (tests/examples); here a
stand-in `django.conf` holds the two attributes the check reads (`settings.configured`,
`settings._wrapped.SETTINGS_MODULE`), so every case runs without installing Django.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from collections.abc import Iterator

import pytest

from emulator.runtime.library_state import LibraryState
from emulator.runtime.loader import AppPackage

from tests.helpers.apps import write_files


def set_up_django(monkeypatch: pytest.MonkeyPatch, settings_module: str | None) -> None:
    """A stand-in for Django's lazy settings: configured from ``settings_module`` (or not)."""
    settings = types.SimpleNamespace(configured=settings_module is not None,
                                     _wrapped=types.SimpleNamespace(SETTINGS_MODULE=settings_module))
    conf = types.ModuleType("django.conf")
    conf.settings = settings  # type: ignore[attr-defined]  # a stand-in django.conf module
    monkeypatch.setitem(sys.modules, "django", types.ModuleType("django"))
    monkeypatch.setitem(sys.modules, "django.conf", conf)


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppPackage]:
    """A loaded app that owns `cfe_site` and imports `django` (the stand-in) at top level."""
    set_up_django(monkeypatch, None)
    write_files(tmp_path, {"entry.py": "import django.conf\n", "cfe_site/__init__.py": "",
                           "cfe_site/settings.py": "DEBUG = False\n"})
    package = AppPackage("site", tmp_path)
    package.import_file(tmp_path / "entry.py")
    package.commit()
    yield package
    package.unload()


def test_nothing_to_say_when_django_was_not_set_up_before_the_load(
        app: AppPackage, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "django.conf", raising=False)
    assert LibraryState.capture().notices(app) == []
    set_up_django(monkeypatch, None)
    assert LibraryState.capture().notices(app) == []


def test_a_reload_of_the_app_that_set_django_up_is_reported_as_not_taking_effect(
        app: AppPackage, monkeypatch: pytest.MonkeyPatch) -> None:
    set_up_django(monkeypatch, "cfe_site.settings")
    (notice,) = LibraryState.capture().notices(app)
    assert notice.startswith("Django was set up in this process by an earlier load of cfe_site.settings")
    assert "do not take effect. Restart `cf-emulator dev`" in notice


def test_a_second_django_app_is_told_it_runs_with_the_first_ones_settings(
        app: AppPackage, monkeypatch: pytest.MonkeyPatch) -> None:
    set_up_django(monkeypatch, "cfe_other.settings")
    assert "django" in app.imported
    (notice,) = LibraryState.capture().notices(app)
    assert notice.startswith("Django is already set up in this process with cfe_other.settings, another hosted "
                             "app's settings")
    app.imported.discard("django")  # an app that does not use Django is not concerned
    assert LibraryState.capture().notices(app) == []
