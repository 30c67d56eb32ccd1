"""Durable Objects in a wrangler config (config.py): bindings, migrations, our check rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.bindings.durable_objects.config import ClassMigrationError, apply_migrations, durable_objects_config
from emulator.bindings.unsupported.config import TYPE as UNSUPPORTED
from emulator.config import check_paths
from tests.helpers.durable_objects import write_app

SOURCE = "from workers import DurableObject, WorkerEntrypoint\n\nclass Room(DurableObject):\n    pass\n\n" \
         "class Default(WorkerEntrypoint):\n    pass\n"


def test_bindings_and_migrations_are_read(tmp_path: Path) -> None:
    config = write_app(tmp_path, SOURCE, '[[durable_objects.bindings]]\nname = "ROOMS"\nclass_name = "Room"\n\n'
                                         '[[durable_objects.bindings]]\nname = "REMOTE"\nclass_name = "Counter"\n'
                                         'script_name = "other"\n',
                       migrations='[[migrations]]\ntag = "v1"\nnew_classes = ["Old"]\n\n'
                                  '[[migrations]]\ntag = "v2"\nrenamed_classes = [{from = "Old", to = "Room"}]\n')
    report = check_paths([config])
    assert report.ok, report.diagnostics
    cfg = durable_objects_config(report.apps[0])
    assert [(b.binding, b.class_name, b.script_name) for b in cfg.bindings] == [
        ("ROOMS", "Room", None), ("REMOTE", "Counter", "other")]
    room = cfg.class_info("Room")
    assert room is not None and room.sqlite is False and room.storage_name == "Old"  # a rename keeps the data
    # The type claims the key: the unsupported type no longer lists Durable Object bindings.
    assert UNSUPPORTED.declarations(UNSUPPORTED.of(report.apps[0])) == []


def test_migrations_walk_like_wrangler() -> None:
    classes = apply_migrations([{"tag": "v1", "new_classes": ["A"], "new_sqlite_classes": ["B"]},
                                {"tag": "v2", "renamed_classes": [{"from": "B", "to": "C"}], "deleted_classes": ["A"]}])
    assert [(c.name, c.sqlite, c.storage_name) for c in classes] == [("C", True, "B")]
    for migrations, text in (
            ([{"deleted_classes": ["X"]}], "Cannot apply deleted_classes migration to non-existent class X"),
            ([{"renamed_classes": [{"from": "X", "to": "Y"}]}],
             "Cannot apply renamed_classes migration to non-existent class X"),
            ([{"new_classes": ["A"]}, {"new_classes": ["A"]}],
             "Cannot apply new_classes migration to existing class A"),
            ([{"new_classes": ["A"]}, {"new_sqlite_classes": ["A"]}],
             "Cannot apply new_sqlite_classes migration to existing class A")):
        with pytest.raises(ClassMigrationError, match=f"^{text}$"):
            apply_migrations(migrations)


def test_check_reports_migrations_that_do_not_apply(tmp_path: Path) -> None:
    config = write_app(tmp_path, SOURCE, '[[durable_objects.bindings]]\nname = "ROOMS"\nclass_name = "Room"\n',
                       migrations='[[migrations]]\ntag = "v1"\nnew_sqlite_classes = ["Room"]\n\n'
                                  '[[migrations]]\ntag = "v2"\nnew_sqlite_classes = ["Room"]\n')
    report = check_paths([config])
    assert [d.message for d in report.files[0].errors] == [
        "Cannot apply new_sqlite_classes migration to existing class Room"]


def test_check_finds_bound_classes_missing_from_the_python_main(tmp_path: Path) -> None:
    config = write_app(tmp_path, SOURCE, '[[durable_objects.bindings]]\nname = "ROOMS"\nclass_name = "Room"\n\n'
                                         '[[durable_objects.bindings]]\nname = "GHOSTS"\nclass_name = "Ghost"\n')
    report = check_paths([config])
    errors = report.files[0].errors
    assert [(d.id, d.message) for d in errors] == [
        ("CFE113", 'Durable Object binding "GHOSTS" uses class_name "Ghost", but main module src/entry.py defines '
                   "no such class.")]


def test_check_warns_about_bound_classes_outside_every_migration(tmp_path: Path) -> None:
    config = write_app(tmp_path, SOURCE, '[[durable_objects.bindings]]\nname = "ROOMS"\nclass_name = "Room"\n',
                       migrations='[[migrations]]\ntag = "v1"\nnew_sqlite_classes = ["Other"]\n')
    report = check_paths([config])
    assert report.ok
    assert [d.id for d in report.files[0].warnings] == ["CFE114"]
    assert "is in no migration, so it runs KV-backed" in report.files[0].warnings[0].message


def test_check_warns_when_the_main_cannot_be_read(tmp_path: Path) -> None:
    config = write_app(tmp_path, SOURCE, '[[durable_objects.bindings]]\nname = "ROOMS"\nclass_name = "Room"\n')
    (config.parent / "src" / "entry.py").unlink()
    report = check_paths([config])
    assert any(d.id == "CFE112" and "Durable Object classes" in d.message for d in report.files[0].warnings)
