"""Every case under fixtures/configs/ (one rule per case, plus wrangler's oracle samples).

A case is a folder with a wrangler config (toml / json / jsonc) and ``expected.json``:
``errors`` / ``warnings`` are wrangler's messages (for the oracle samples and the cases marked
``wrangler.same_messages`` recorded from real wrangler 4.86), ``ours`` the CFE diagnostics, and
``exit`` / ``wrangler_exit`` the verdict. ``today`` is the day a case was recorded, for the
messages in which wrangler suggests today's date (a missing ``compatibility_date``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulator.config import check_paths

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "configs"
# Cases that do not say otherwise are judged as on this day.
DEFAULT_TODAY = "2026-01-01"
CASES = sorted(p.parent for p in FIXTURES.glob("*/*/expected.json"))


def test_fixture_set_is_complete() -> None:
    oracle = [c for c in CASES if c.parent.name == "oracle"]
    assert len(oracle) == 13
    formats = {next(p.suffix for p in c.iterdir() if p.name.startswith("wrangler.")) for c in CASES}
    assert formats == {".toml", ".json", ".jsonc"}
    assert len(CASES) >= 60


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.parent.name}/{c.name}")
def test_case(case: Path) -> None:
    expected = json.loads((case / "expected.json").read_text())
    report = check_paths([case], env=expected.get("env"), cwd=case, today=expected.get("today", DEFAULT_TODAY))
    assert len(report.files) == 1
    file = report.files[0]
    assert file.kind == expected["kind"]
    assert [d.message for d in file.errors if d.id is None] == expected["errors"]
    assert [d.message for d in file.warnings if d.id is None] == expected["warnings"]
    ours = [{"id": d.id, "severity": d.severity, "path": d.path} for d in file.errors + file.warnings if d.id]
    assert ours == expected.get("ours", [])
    exit_code = 0 if report.ok else 1
    if "exit" in expected:
        assert exit_code == expected["exit"]
    else:  # oracle sample: wrangler's own verdict
        assert exit_code == expected["wrangler_exit"]
    for diag in file.errors + file.warnings:
        assert diag.line is not None and diag.line >= 1 and diag.column is not None and diag.column >= 1
    if "locations" in expected:
        got = [[d.severity, d.path, d.line, d.column] for d in file.errors + file.warnings]
        assert got == expected["locations"]
    wrangler = expected.get("wrangler")
    if wrangler and wrangler["same_messages"]:
        # Recorded from real wrangler: same verdict unless one of our CFE checks adds errors.
        if not any(d.id for d in file.errors):
            assert exit_code == wrangler["exit"]
        assert [d.message.split("\n")[0] for d in file.errors if d.id is None] == \
            [m.split("\n")[0] for m in wrangler["errors"]]
        if wrangler.get("same_text"):  # recorded in full, not just the first lines
            assert [d.message for d in file.errors if d.id is None] == wrangler["errors"]
            assert [d.message for d in file.warnings if d.id is None] == wrangler["warnings"]
    # A file that loads cleanly yields an app; one with errors does not.
    assert (file.app is not None) == (not file.errors)
