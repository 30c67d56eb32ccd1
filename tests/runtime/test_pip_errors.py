"""pip's failure output (as pip 23–24 prints it) → one message naming the package."""

from __future__ import annotations

from pathlib import Path

from packaging.requirements import Requirement

from emulator.runtime.dependencies import AppRequirements, DependencyPlan, plan_dependencies
from emulator.runtime.pip_errors import explain_pip_failure

RETRY = ("WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after connection "
         "broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object at 0x7fcc379dc490>: "
         "Failed to establish a new connection: [Errno -2] Name or service not known')': /simple/jinja2/")


def plan(*apps: tuple[str, list[str]]) -> DependencyPlan:
    return plan_dependencies([AppRequirements(name, Path(f"/w/{name}/pyproject.toml"),
                                              tuple(Requirement(r) for r in reqs)) for name, reqs in apps],
                             environment={})


def test_offline_names_the_package_and_the_connection_error() -> None:
    output = "\n".join(["Looking in indexes: https://pypi.org/simple", RETRY, RETRY,
                        "ERROR: Could not find a version that satisfies the requirement jinja2>=3 "
                        "(from versions: none)",
                        "ERROR: No matching distribution found for jinja2>=3"])
    message = explain_pip_failure(output, plan(("web", ["jinja2>=3"]), ("api", ["tinylib"])))
    assert message.startswith('Could not install the Python packages of app "web" (/w/web/pyproject.toml): ')
    assert "pip could not reach the package index to get jinja2>=3 (offline?)" in message
    assert "Failed to establish a new connection: [Errno -2] Name or service not known." in message


def test_a_wheel_for_a_newer_python_found_by_opening_it() -> None:
    output = ("Processing ./wheels/tinylib-3.0-py3-none-any.whl\n"
              "ERROR: Package 'tinylib' requires a different Python: 3.11.7 not in '>=3.13'\n")
    message = explain_pip_failure(output, plan(("web", ["tinylib==3.0"])), python="3.11.7")
    assert message == ('Could not install the Python packages of app "web" (/w/web/pyproject.toml): tinylib needs '
                       "Python >=3.13 (its Requires-Python), and this emulator runs Python 3.11.7. Require a "
                       "version of tinylib that supports Python 3.11, or run cf-emulator with a Python that "
                       "tinylib supports.")


def test_a_transitive_requirement_names_who_needs_it() -> None:
    output = ("ERROR: Could not find a version that satisfies the requirement tinydep>=2 (from needs-dep) "
              "(from versions: 1.0)\nERROR: No matching distribution found for tinydep>=2\n")
    message = explain_pip_failure(output, plan(("web", ["needs-dep"]), ("api", ["other"])))
    assert message == ('Could not install the Python packages of app "web" (/w/web/pyproject.toml): no version of '
                       "tinydep matches tinydep>=2 (needed by needs-dep) (available: 1.0).")


def test_resolution_impossible_lists_the_clash() -> None:
    output = ("ERROR: Cannot install needs-dep==1.0 and other==1.0 because these package versions have "
              "conflicting dependencies.\n") + """
The conflict is caused by:
    needs-dep 1.0 depends on tinydep>=2
    other 1.0 depends on tinydep<2

To fix this you could try to:
1. loosen the range of package versions you've specified

ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/en/latest/topics/dependency-resolution/
"""
    message = explain_pip_failure(output, plan(("web", ["needs-dep"]), ("api", ["other"]),
                                               ("solo", ["tinylib"])))
    assert '"solo"' not in message  # not part of the clash
    assert message.startswith("Could not install the Python packages of apps \"web\" (/w/web/pyproject.toml), "
                              "\"api\" (/w/api/pyproject.toml): ")
    assert "pip found no versions that work together; the conflict is caused by:\n" \
           "  needs-dep 1.0 depends on tinydep>=2\n  other 1.0 depends on tinydep<2\n" in message


def test_anything_else_keeps_pips_error_lines() -> None:
    output = "Collecting x\nERROR: Could not install packages due to an OSError: [Errno 28] No space left on device\n"
    message = explain_pip_failure(output, plan(("web", ["x"])))
    assert message.endswith("pip failed:\n  ERROR: Could not install packages due to an OSError: "
                            "[Errno 28] No space left on device")
