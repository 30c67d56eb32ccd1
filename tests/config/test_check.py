"""``check_paths`` judging as ``wrangler deploy`` (the default) or as ``wrangler dev``."""

from __future__ import annotations

from pathlib import Path

from emulator.config import check_paths


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_missing_compatibility_date_is_a_deploy_error_and_a_dev_warning(tmp_path: Path) -> None:
    config = write(tmp_path / "wrangler.toml", 'name = "w"\nmain = "src/entry.py"\n'
                                               'compatibility_flags = ["python_workers"]\n')
    deploy = check_paths([config], cwd=tmp_path, today="2026-03-04")
    assert not deploy.ok and deploy.apps == []
    (error,) = deploy.files[0].errors
    assert error.message.startswith("A compatibility_date is required when publishing. Add the following to "
                                    "your wrangler.toml file:\n    ```\n    compatibility_date = \"2026-03-04\"\n")
    assert (error.line, error.column, error.path) == (1, 1, "")

    dev = check_paths([config], cwd=tmp_path, today="2026-03-04", command="dev")
    assert dev.ok
    (warning,) = dev.files[0].warnings
    assert warning.message.startswith("No compatibility_date was specified. Using today's date: 2026-03-04.")
    assert dev.apps[0].compatibility_date == "2026-03-04"  # what the app then runs with


def test_dev_keeps_a_given_date_and_still_refuses_a_malformed_one(tmp_path: Path) -> None:
    config = write(tmp_path / "wrangler.toml", 'name = "w"\nmain = "src/entry.py"\ncompatibility_date = "2024-05-06"\n'
                                               'compatibility_flags = ["python_workers"]\n')
    report = check_paths([config], cwd=tmp_path, command="dev", today="2026-03-04")
    assert report.ok and report.files[0].warnings == []
    assert report.apps[0].compatibility_date == "2024-05-06"
    config.write_text('name = "w"\nmain = "src/entry.py"\ncompatibility_date = "soon"\n'
                      'compatibility_flags = ["python_workers"]\n')
    report = check_paths([config], cwd=tmp_path, command="dev")
    assert [d.message for d in report.files[0].errors] == [
        '"compatibility_date" field should be a valid ISO-8601 date (YYYY-MM-DD), but got "soon".']


def test_pages_configs_need_no_date(tmp_path: Path) -> None:
    config = write(tmp_path / "wrangler.toml", 'name = "site"\npages_build_output_dir = "./public"\n')
    (tmp_path / "public").mkdir()
    report = check_paths([config], cwd=tmp_path)
    assert report.ok and report.files[0].warnings == []
