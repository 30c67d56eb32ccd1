"""Tiny wheels built in a test, so dependency installation runs offline and fast.

A wheel is a zip with the package files and a ``<name>-<version>.dist-info`` folder
(``METADATA``, ``WHEEL``, ``RECORD``); pip installs these from a ``--find-links`` folder
like any wheel from an index.
"""

from __future__ import annotations

import base64
import hashlib
import re
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.tags import sys_tags

if TYPE_CHECKING:
    import pytest


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def build_wheel(folder: Path, name: str, version: str, files: dict[str, str], *,
                requires: tuple[str, ...] = (), requires_python: str | None = None,
                pure: bool = True) -> Path:
    """Write ``<name>-<version>-<tag>.whl`` into ``folder`` and return its path.

    ``files`` maps paths inside the wheel (``"pkg/__init__.py"``) to their text. A non-pure
    wheel gets the most specific tag of the running interpreter (installable here, but not
    pure Python: what production's Pyodide could not use unless it builds the package).
    """
    folder.mkdir(parents=True, exist_ok=True)
    dist = re.sub(r"[-_.]+", "_", name).lower()
    tag = "py3-none-any" if pure else str(next(iter(sys_tags())))
    info = f"{dist}-{version}.dist-info"
    metadata = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if requires_python:
        metadata.append(f"Requires-Python: {requires_python}")
    metadata += [f"Requires-Dist: {r}" for r in requires]
    entries: dict[str, bytes] = {path: text.encode() for path, text in files.items()}
    entries[f"{info}/METADATA"] = ("\n".join(metadata) + "\n").encode()
    entries[f"{info}/WHEEL"] = (f"Wheel-Version: 1.0\nGenerator: cf-emulator-tests\n"
                                f"Root-Is-Purelib: {'true' if pure else 'false'}\nTag: {tag}\n").encode()
    record = [f"{path},{_record_hash(data)},{len(data)}" for path, data in entries.items()]
    record.append(f"{info}/RECORD,,")
    entries[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = folder / f"{dist}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for member, data in entries.items():
            zf.writestr(member, data)
    return path


class PackageIndex:
    """A PEP 503 "simple" index in a folder, served to pip as a ``file://`` URL.

    Like PyPI it tells pip each file's Requires-Python (``data-requires-python``), so pip's
    messages are the ones users see with a real index. ``use(monkeypatch)`` points pip at it
    alone (no config files, no other index or links), so nothing reaches the network.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.wheels = root / "wheels"
        self.simple = root / "simple"
        self._files: dict[str, list[tuple[Path, str | None]]] = {}

    @property
    def url(self) -> str:
        return self.simple.as_uri()

    def add(self, name: str, version: str, files: dict[str, str], *, requires: tuple[str, ...] = (),
            requires_python: str | None = None, pure: bool = True) -> Path:
        wheel = build_wheel(self.wheels, name, version, files, requires=requires,
                            requires_python=requires_python, pure=pure)
        project = re.sub(r"[-_.]+", "-", name).lower()
        self._files.setdefault(project, []).append((wheel, requires_python))
        self._write(project)
        return wheel

    def _write(self, project: str) -> None:
        folder = self.simple / project
        folder.mkdir(parents=True, exist_ok=True)
        links = []
        for wheel, requires_python in self._files[project]:
            attr = (' data-requires-python="' + requires_python.replace("<", "&lt;").replace(">", "&gt;") + '"'
                    if requires_python else "")
            links.append(f'<a href="{wheel.as_uri()}"{attr}>{wheel.name}</a>')
        (folder / "index.html").write_text("<!DOCTYPE html><html><body>\n" + "\n".join(links) + "\n</body></html>\n")

    def use(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import os

        monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
        monkeypatch.setenv("PIP_INDEX_URL", self.url)
        for name in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_NO_INDEX", "PIP_CONSTRAINT", "PIP_REQUIREMENT"):
            monkeypatch.delenv(name, raising=False)


# A small package shaped like jinja2: a package with submodules, relative imports, package
# data read through importlib.resources, and a dependency of its own (like markupsafe).
TEMPLATE_PACKAGE = {
    "tinytemplate/__init__.py": (
        '"""A tiny template engine (test package)."""\n'
        "from ._version import __version__\n"
        "from .environment import Environment, Template\n"
        '__all__ = ["Environment", "Template", "__version__"]\n'),
    "tinytemplate/_version.py": '__version__ = "1.0"\n',
    "tinytemplate/filters.py": "FILTERS = {'upper': str.upper, 'lower': str.lower}\n",
    "tinytemplate/environment.py": (
        "import re\n"
        "from importlib import resources\n"
        "from tinymarkup import escape\n"
        "from .filters import FILTERS\n"
        "\n"
        "class Template:\n"
        "    def __init__(self, text):\n"
        "        self.text = text\n"
        "\n"
        "    def render(self, **values):\n"
        "        def sub(match):\n"
        "            name, _, flt = match.group(1).partition('|')\n"
        "            value = str(values[name.strip()])\n"
        "            if flt:\n"
        "                value = FILTERS[flt.strip()](value)\n"
        "            return escape(value)\n"
        "        return re.sub(r'{{(.*?)}}', sub, self.text)\n"
        "\n"
        "class Environment:\n"
        "    def get_template(self, name):\n"
        "        return Template(resources.files('tinytemplate').joinpath('templates', name).read_text())\n"),
    "tinytemplate/templates/page.html": "<h1>{{ title|upper }}</h1>\n",
}
MARKUP_PACKAGE = {
    "tinymarkup/__init__.py": (
        "def escape(text):\n"
        "    return text.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')\n"),
}


def add_template_packages(index: PackageIndex) -> None:
    """``tinytemplate`` 1.0 (needs ``tinymarkup>=1``), ``tinymarkup`` 1.0, ``tinylib`` 1.0 / 2.0."""
    index.add("tinymarkup", "1.0", MARKUP_PACKAGE)
    index.add("tinytemplate", "1.0", TEMPLATE_PACKAGE, requires=("tinymarkup>=1",))
    index.add("tinylib", "1.0", {"tinylib/__init__.py": "VERSION = '1.0'\n"})
    index.add("tinylib", "2.0", {"tinylib/__init__.py": "VERSION = '2.0'\n"})
