"""Details of the wrangler port that fixtures only touch lightly."""

from __future__ import annotations

import pytest

from emulator.config.diagnostics import DiagnosticTree, as_printed
from emulator.config.jsvalues import UNDEF, english_list, stringify
from emulator.config.validation import Normalizer, _js_date_valid

# `!isNaN(new Date(s).getTime())` as Node 20 answers it (wrangler's compatibility_date check).
NODE_DATES = [
    ("2025-01-01", True),
    ("2025-02-30", True),
    ("2025-02-32", False),
    ("2025-13-01", False),
    ("2025-1-1", True),
    ("2025/01/01", True),
    ("01/02/2025", True),
    ("2025", True),
    ("2025-06", True),
    ("20250101", False),
    ("2025-01-01T00:00:00Z", True),
    ("2025-01-01 10:00", True),
    ("Jan 1 2025", True),
    ("1 Jan 2025", True),
    ("tomorrow", False),
    (" 2025-01-01 ", True),
    ("2025-01-01x", False),
    ("+002025-01-01", True),
    ("0000-01-01", True),
    ("99999-01-01", True),
    ("2025-00-10", False),
    ("2025-01-00", False),
    ("2025.01.01", True),
]


@pytest.mark.parametrize(("text", "valid"), NODE_DATES)
def test_compatibility_date_parsing_matches_node(text: str, valid: bool) -> None:
    assert _js_date_valid(text) is valid


def test_js_helpers() -> None:
    assert english_list(["A"]) == "A"
    assert english_list(["A", "B"]) == "A and B"
    assert english_list(["A", "B", "C"]) == "A, B, and C"
    assert stringify({"a": UNDEF, "b": [UNDEF, 1.0]}) == '{"b":[null,1]}'
    assert stringify(UNDEF) == "undefined"
    assert as_printed("\x1b[1mRemoved\x1b[0m: x\n\n  \nnext\n") == "Removed: x\nnext"


def test_env_child_diagnostics_and_name_inheritance(tmp_path) -> None:
    raw = {"name": "svc", "vars": {"A": "1"}, "env": {"qa": {"vars": {}, "colour": 1}}}
    config, tree = Normalizer(tmp_path / "wrangler.toml", tmp_path).normalize(raw, "qa")
    assert config["name"] == "svc-qa"
    assert config["vars"] == {}
    assert isinstance(tree, DiagnosticTree)
    (child,) = tree.children
    assert child.description == '"env.qa" environment configuration'
    assert [e.message.split("\n")[0] for e in child.warnings] == [
        '"vars.A" exists at the top level, but not on "env.qa.vars".',
        'Unexpected fields found in env.qa field: "colour"',
    ]
