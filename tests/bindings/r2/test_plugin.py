"""The R2 plugin opens its store on first use, or in the background once the apps serve, so
`dev` answers before moto is imported (bench/startup.py); nothing is lost by waiting."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from emulator.platform import Platform
from tests.helpers.apps import r2_app


async def test_the_store_opens_at_first_use_with_the_declared_buckets(tmp_path: Path) -> None:
    app = r2_app(tmp_path, buckets=(("A", "first"), ("B", "second")))
    p = Platform([app], tmp_path / "state", s3_port=None)
    await p.start()
    plugin = p.plugin("r2")
    try:
        assert plugin._store is None  # type: ignore[attr-defined]  # the r2 plugin's internals
        assert p.plugin("r2").health()["buckets"] == ["first", "second"]
        env = p.env_for(app)
        await env.A.put("k", b"v")  # the first call opens it
        assert plugin._store is not None  # type: ignore[attr-defined]  # the r2 plugin's internals
        assert plugin.store.bucket_names() == ["first", "second"]
        assert await (await env.A.get("k")).text() == "v"
    finally:
        await p.stop()


async def test_serving_opens_it_in_the_background_and_stop_waits(tmp_path: Path) -> None:
    app = r2_app(tmp_path)
    p = Platform([app], tmp_path / "state", s3_port=None)
    await p.start()
    plugin = p.plugin("r2")
    p.serving()
    warming = plugin._warming  # type: ignore[attr-defined]  # the r2 plugin's internals
    assert warming is not None
    await asyncio.wait_for(asyncio.shield(warming), 30)
    assert plugin._store is not None  # type: ignore[attr-defined]  # the r2 plugin's internals
    await p.stop()
    assert plugin._store is None  # type: ignore[attr-defined]  # the r2 plugin's internals


async def test_a_damaged_index_still_stops_the_start(tmp_path: Path) -> None:
    app = r2_app(tmp_path)
    p = Platform([app], tmp_path / "state", s3_port=None)
    await p.start()
    await p.env_for(app).BUCKET.put("k", b"v")
    await p.stop()
    (tmp_path / "state" / "r2" / "bucket" / "index.sqlite3").write_bytes(b"not a database" * 512)
    p = Platform([app], tmp_path / "state", s3_port=None)
    with pytest.raises(Exception, match="file is not a database"):
        await p.start()
    # `dev` shows it as one line (tests/e2e/test_dev_config_errors.py).
