"""pip's failure output, turned into one message that names the package and what to do.

pip reports why it could not install in a few recognisable shapes (pip 23–24 wording):

- ``Could not find a version that satisfies the requirement X (from versions: a, b)`` then
  ``No matching distribution found for X``: no such version (``from versions: none``: no such
  package, or the index could not be reached — connection errors say which);
- ``Ignored the following versions that require a different python version: 3.0
  Requires-Python >=3.13; ...`` (from an index) or ``Package 'x' requires a different Python:
  3.11.9 not in '>=3.13'`` (a file pip had to open): the package needs a newer Python;
- ``The conflict is caused by:`` and one line per clashing requirement (ResolutionImpossible).
"""

from __future__ import annotations

import platform
import re
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

if TYPE_CHECKING:
    from emulator.runtime.dependencies import AppRequirements, DependencyPlan

_NOT_FOUND = re.compile(r"Could not find a version that satisfies the requirement (\S+)"
                        r"(?: \(from ([^)]*)\))? \(from versions: ([^)]*)\)")
_NO_MATCH = re.compile(r"No matching distribution found for (\S+)")
_IGNORED = re.compile(r"Ignored the following versions that require a different python version: (.*)")
_WRONG_PYTHON = re.compile(r"Package '([^']+)' requires a different Python: (\S+) not in '([^']*)'")
# Connection failures pip reports in its "Retrying ... after connection broken by" warnings.
_NETWORK = re.compile(r"Failed to establish a new connection: [^'\"]*|Temporary failure in name resolution|"
                      r"Name or service not known|Network is unreachable|No route to host|Connection refused|"
                      r"ProxyError[^'\"]*|SSLError[^'\"]*|ConnectTimeoutError[^'\"]*|Read timed out|"
                      r"nodename nor servname provided")


def _name(text: str) -> str:
    try:
        return Requirement(text).name
    except InvalidRequirement:
        return re.split(r"[<>=!~;\[ @]", text, maxsplit=1)[0]


def _ignored_versions(output: str) -> list[tuple[str, str]]:
    """``(version, Requires-Python)`` pairs pip skipped because this interpreter is too old."""
    found = _IGNORED.search(output)
    if not found:
        return []
    out = []
    for part in found.group(1).split(";"):
        version, _, needs = part.strip().partition(" Requires-Python ")
        if version and needs:
            out.append((version.strip(), needs.strip()))
    return out


def _matches(requirement: str, version: str) -> bool:
    try:
        return Requirement(requirement).specifier.contains(version, prereleases=True)
    except (InvalidRequirement, ValueError):
        return False


def _apps_needing(plan: DependencyPlan, *names: str) -> list[AppRequirements]:
    wanted = {canonicalize_name(n) for n in names if n}
    apps = [a for a in plan.apps if any(canonicalize_name(r.name) in wanted for r in a.requirements)]
    return apps or [a for a in plan.apps if a.requirements]


def _heading(apps: list[AppRequirements]) -> str:
    from emulator.runtime.dependencies import shown_path

    if len(apps) == 1:
        return f'Could not install the Python packages of app "{apps[0].app}" ({shown_path(apps[0].pyproject)})'
    listed = ", ".join(f'"{a.app}" ({shown_path(a.pyproject)})' for a in apps)
    return f"Could not install the Python packages of apps {listed}"


def explain_pip_failure(output: str, plan: DependencyPlan, python: str | None = None) -> str:
    """The message for a failed ``pip install`` of ``plan`` (``output``: stdout and stderr)."""
    python = python or platform.python_version()
    minor = ".".join(python.split(".")[:2])
    build_hint = ("" if plan.allow_build else
                  " cf-emulator installs wheels only, as pywrangler does ([tool.pywrangler] allow-build = true "
                  "lets source distributions build).")

    if "No module named pip" in output:
        return (f"{_heading(_apps_needing(plan))}: pip is not available to cf-emulator's Python ({python}). "
                "Install it (`python -m ensurepip`), or install cf-emulator in a virtualenv, which has pip.")
    if "Operation cancelled by user" in output:
        return f"{_heading(_apps_needing(plan))}: the installation was interrupted (Ctrl-C)."

    wrong = _WRONG_PYTHON.search(output)
    if wrong:
        package, _local, needs = wrong.groups()
        return (f"{_heading(_apps_needing(plan, package))}: {package} needs Python {needs} (its Requires-Python), "
                f"and this emulator runs Python {python}. Require a version of {package} that supports "
                f"Python {minor}, or run cf-emulator with a Python that {package} supports.")

    not_found = _NOT_FOUND.search(output)
    no_match = _NO_MATCH.search(output)
    found = not_found or no_match
    if found:
        requirement = found.group(1)
        parent = not_found.group(2) if not_found else None
        versions = not_found.group(3).strip() if not_found else ""
        package = _name(requirement)
        apps = _apps_needing(plan, package, _name(parent) if parent else "")
        via = f" (needed by {parent})" if parent else ""
        ignored = _ignored_versions(output)
        matching = [(v, needs) for v, needs in ignored if _matches(requirement, v)]
        if matching:
            listed = "; ".join(f"{package} {v} needs Python {needs}" for v, needs in matching)
            return (f"{_heading(apps)}: no version of {package} that matches {requirement}{via} supports "
                    f"Python {python} ({listed}: its Requires-Python). Require a version of {package} that "
                    f"supports Python {minor}, or run cf-emulator with a newer Python.")
        if versions in ("", "none"):
            found = _NETWORK.search(output)
            network = found.group(0).strip().rstrip(",;:") if found else None
            if network:
                return (f"{_heading(apps)}: pip could not reach the package index to get {requirement}{via} "
                        f"(offline?): {network}. Installed packages are cached under the state directory's "
                        "python-deps/ folder: once a set is installed, starting again needs no network.")
            return (f"{_heading(apps)}: no package named {package} was found{via} (pip: \"from versions: none\"). "
                    f"Check the name in [project] dependencies.{build_hint}")
        newer = "".join(f"; {v} needs Python {needs}" for v, needs in ignored)
        return (f"{_heading(apps)}: no version of {package} matches {requirement}{via} "
                f"(available: {versions}{newer}).")

    if "The conflict is caused by:" in output:
        block = output.split("The conflict is caused by:", 1)[1]
        lines: list[str] = []
        for line in block.splitlines()[1:] if block.startswith("\n") else block.splitlines():
            if not line.strip():
                if lines:
                    break
                continue
            lines.append(line.strip())
        # "needs-dep 1.0 depends on tinydep>=2", "The user requested tinydep<2": either side may be an app's.
        names = [n for line in lines for n in (line.split()[0], _name(line.rsplit(" ", 1)[-1]))]
        return (f"{_heading(_apps_needing(plan, *names))}: pip found no versions that work together; "
                "the conflict is caused by:\n" + "\n".join(f"  {line}" for line in lines) +
                "\nAll hosted apps (and cf-emulator itself) share one interpreter, so these must agree.")

    errors = [line for line in output.splitlines() if line.startswith("ERROR:")]
    tail = errors or [line for line in output.splitlines() if line.strip()][-15:]
    return f"{_heading(_apps_needing(plan))}: pip failed:\n" + "\n".join(f"  {line}" for line in tail)
