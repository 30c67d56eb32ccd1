"""The binding kit's registry: every package keeps the file roles and the light config rule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from emulator.bindings import (
    BINDING_TYPES,
    binding_type,
    claimed_keys,
    load_plugin,
    nonempty_str,
    package_file,
    str_or_none,
    tables,
)
from emulator.cli import build_parser, verb_modules

BINDINGS = Path(__file__).resolve().parents[2] / "emulator" / "bindings"


@pytest.mark.parametrize("name", BINDING_TYPES)
def test_package_roles(name: str) -> None:
    kind = binding_type(name)
    assert kind.name == name
    assert load_plugin(name).name == name
    assert (BINDINGS / name / "__init__.py").read_text().startswith('"""')
    # No file of another role's name: `api.py` meant two different things before the kit.
    assert not (BINDINGS / name / "api.py").exists()


def test_each_wrangler_key_has_one_owner() -> None:
    owners: dict[str, str] = {}
    for name in BINDING_TYPES:
        if name == "unsupported":
            continue
        for key in binding_type(name).config_keys:
            assert key not in owners, f"{key} claimed by {owners[key]} and {name}"
            owners[key] = name
    assert set(owners) == claimed_keys()


def test_config_modules_import_nothing_heavy() -> None:
    # `check` loads every type's config module: they must not pull in engines or servers.
    code = ("import sys\nfrom emulator.bindings import binding_types\nbinding_types()\n"
            "heavy = [m for m in ('aiohttp', 'moto', 'pyarrow', 'sqlite3', 'boto3') if m in sys.modules]\n"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_cli_verbs_and_panels_come_from_the_packages() -> None:
    modules = verb_modules()
    for name in BINDING_TYPES:
        if (BINDINGS / name / "cli.py").is_file():
            assert f"emulator.bindings.{name}.cli" in modules
    verbs = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr,arg-type]  # argparse internals
    assert {"check", "dev", "queues", "d1", "r2", "workflows"} <= verbs
    assert package_file("queues", "panel.js") is not None


async def test_accessors_and_test_helpers_do_not_clash(tmp_path: Path) -> None:
    from emulator.platform import Platform
    from emulator.pytest_plugin import EmulatorHandle

    platform = Platform([], tmp_path / "state")
    names: dict[str, str] = {}
    for name in BINDING_TYPES:
        kind = binding_type(name)
        offered = list(platform.plugin(name).test_helpers()) + ([kind.accessor] if kind.accessor else [])
        for attr in offered:
            assert attr not in names, f"{attr} offered by {names[attr]} and {name}"
            assert not hasattr(EmulatorHandle, attr), f"{attr} of {name} hides a handle method"
            names[attr] = name
    await platform.stop()


def test_tables_keep_records_with_their_required_strings() -> None:
    # What every config.py's `read` iterates: anything wrangler's validation rejects is skipped.
    value = [{"binding": "A", "id": "x"}, {"binding": 3}, "B", None, [], {"binding": "C"}, {"name": "D"}]
    assert tables(value, "binding") == [{"binding": "A", "id": "x"}, {"binding": "C"}]
    assert tables(value, "binding", "id") == [{"binding": "A", "id": "x"}]
    assert tables(value) == [{"binding": "A", "id": "x"}, {"binding": 3}, {"binding": "C"}, {"name": "D"}]
    for not_a_list in (None, 3, True, "binding", {"binding": "A"}):
        assert tables(not_a_list, "binding") == []


def test_optional_string_fields() -> None:
    assert [str_or_none(v) for v in ("a", "", None, 3, ["a"])] == ["a", "", None, None, None]
    assert [nonempty_str(v) for v in ("a", "", None, 3, ["a"])] == ["a", None, None, None, None]
