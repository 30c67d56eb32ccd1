"""State that libraries build once per process from an app's modules, which a reload cannot replace.

Production starts a fresh isolate for each deployment, so a library that configures itself
once per process (Django) always sees the code being deployed. The emulator reloads an app
by importing a new generation of its modules into the same process (``emulator.runtime.loader``):
the new modules are there, but such a library keeps what it built from the first ones. Rather
than pretend the reload took effect, the hosts capture the state before a load and report
what it means afterwards (docs/hosting.md, "Module names"):

- Django: ``django.setup()`` reads ``DJANGO_SETTINGS_MODULE`` once (``django.conf.settings``),
  populates the app registry once (models are registered by ``app_label``), and caches the URL
  resolver per URLconf name, holding the URLconf module it imported first. A reload of the app
  that owns the settings module therefore keeps the first load's settings, URLs, views and
  models; and a second hosted app using Django runs with the first one's settings (one
  ``os.environ``, one ``django.conf.settings``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulator.runtime.loader import AppPackage


def _django_settings() -> Any | None:
    """Django's configured settings object (``settings._wrapped``), or None when not set up."""
    conf = sys.modules.get("django.conf")
    settings = getattr(conf, "settings", None) if conf is not None else None
    # `configured` is a plain attribute check on the lazy object: it never triggers set-up.
    if settings is None or not getattr(settings, "configured", False):
        return None
    return getattr(settings, "_wrapped", None)


@dataclass(frozen=True)
class LibraryState:
    """What process-wide library state existed before a generation of an app was imported."""

    django_settings: Any | None

    @classmethod
    def capture(cls) -> LibraryState:
        return cls(_django_settings())

    def notices(self, package: AppPackage) -> list[str]:
        """Warnings for the app whose generation ``package`` was imported after this capture."""
        settings_module = getattr(self.django_settings, "SETTINGS_MODULE", None)
        if not settings_module:  # not set up before this load (or `settings.configure()` was used)
            return []
        top = str(settings_module).partition(".")[0]
        if top in package.top_names:
            return [f"Django was set up in this process by an earlier load of {settings_module}: Django configures "
                    "its settings, app registry and URL resolver once per process, so this load's changes to the "
                    "settings, URLconf, views and models do not take effect. Restart `cf-emulator dev` to apply them "
                    "(production starts a fresh isolate for each deployment)."]
        if "django" in package.imported:
            return [f"Django is already set up in this process with {settings_module}, another hosted app's "
                    "settings: Django configures itself once per process, so this app runs with those settings, "
                    "not its own. Host each Django app in its own `cf-emulator dev` (production runs each Worker "
                    "in its own isolate)."]
        return []
