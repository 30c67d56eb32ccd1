"""The repository's own checks (docs/architecture.md, "Checks"): ruff and mypy run from the
README's test command, the package ships ``py.typed``, and every suppression says why."""

from __future__ import annotations

import io
import re
import tokenize
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ("emulator", "apps", "bench", "fixtures", "tests")
# Cloudflare's examples, copied verbatim under their own licence: not ours to annotate.
VENDORED = ("tests/examples/python-workers-examples", "tests/bindings/durable_objects/examples")

_NOQA = re.compile(r"#\s*noqa(?::\s*[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*)?(?P<rest>.*)$")
_IGNORE = re.compile(r"#\s*type:\s*ignore(?:\[[^\]]*\])?(?P<rest>.*)$")


def unexplained(source: str) -> list[tuple[int, str]]:
    """(line, comment) of each ``noqa`` / ``type: ignore`` with no reason in the same comment."""
    found = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type != tokenize.COMMENT:
            continue
        for pragma in (_NOQA, _IGNORE):
            match = pragma.search(tok.string)
            if match and not re.search(r"\w", match.group("rest")):
                found.append((tok.start[0], tok.string))
    return found


def test_the_detector_tells_a_reason_from_none() -> None:
    source = ("a = 1  # noqa: E501\n"
              "b = 2  # noqa: E501 - a URL that cannot be wrapped\n"
              "c = f()  # type: ignore[attr-defined]\n"
              "d = f()  # type: ignore[attr-defined]  # moto publishes no types\n"
              "e = g()  # type: ignore[union-attr]  # noqa: B018\n"
              "s = '# noqa: E501 inside a string is no pragma'\n")
    assert [line for line, _ in unexplained(source)] == [1, 3, 5]


def test_every_suppression_says_why() -> None:
    missing = []
    for folder in CHECKED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            shown = path.relative_to(ROOT).as_posix()
            if shown.startswith(VENDORED) or ".venv" in path.parts:
                continue
            missing += [f"{shown}:{line}: {text}" for line, text in unexplained(path.read_text(encoding="utf-8"))]
    assert not missing, "say why in the same comment, e.g. `# noqa: N802 - JS spelling`:\n" + "\n".join(missing)


def test_the_package_is_typed() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert (ROOT / "emulator" / "py.typed").is_file()
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["emulator"]


def test_ci_runs_the_readme_test_command_with_the_checks() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = next(line for line in ci.splitlines() if "pip install" in line)
    assert command in readme.splitlines()
    assert command.index(".venv/bin/ruff check") < command.index(".venv/bin/mypy") < command.index("pytest")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    extra = " ".join(pyproject["project"]["optional-dependencies"]["test"])
    assert "ruff" in extra and "mypy" in extra
