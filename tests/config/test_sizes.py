"""Byte sizes as flags and config files spell them (``emulator.config.sizes``)."""

from __future__ import annotations

import pytest

from emulator.config.sizes import parse_size


@pytest.mark.parametrize(("value", "size"), [
    (4096, 4096), ("4096", 4096), (" 7 ", 7), ("100MB", 100_000_000), ("200 mb", 200_000_000),
    ("1GB", 10**9), ("2kb", 2000), ("1KiB", 1024), ("100MiB", 104_857_600), ("1.5GiB", 3 << 29),
    ("0.5MB", 500_000), ("1b", 1), ("9" * 30 + "GB", int("9" * 30) * 10**9),
])
def test_sizes(value: object, size: int) -> None:
    assert parse_size(value) == size


@pytest.mark.parametrize("value", ["", "x", "-1", "0", "0MB", "1.5.2", "1 XB", "MB", True, None, 1.5, [], 0, -5])
def test_bad_sizes_are_value_errors(value: object) -> None:
    with pytest.raises(ValueError):
        parse_size(value)
