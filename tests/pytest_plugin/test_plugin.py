"""The plugin as a user's project meets it: auto-registered by the ``pytest11`` entry point,
working in asyncio auto and strict modes, attaching the emulator log to failures, cleaning
up after each test, and cheap to import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

APP = Path(__file__).parent / "app"

INI = """
[pytest]
asyncio_mode = {mode}
asyncio_default_fixture_loop_scope = function
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A fresh project folder holding a copy of the orders app (no conftest, no plugin import)."""
    pytester.copy_example(str(APP))  # copies the folder's contents
    assert (pytester.path / "wrangler.toml").is_file()
    return pytester


def test_entry_point_fixture_cleanup_and_failure_logs(project: pytest.Pytester) -> None:
    """One user session (asyncio auto mode) with passing, failing and erroring uses."""
    project.makeini(INI.format(mode="auto"))
    (project.path / "broken.toml").write_text('name = "broken"\nmain = "src/entry.py"\ncompatibility_date = 12\n')
    project.makepyfile(test_orders="""
        async def test_order_is_stored(cf_emulator):
            emu = await cf_emulator("wrangler.toml", apply_migrations=True)
            resp = await emu.fetch("orders", "/orders", method="POST", json={"id": "p1", "item": "tea", "qty": 1})
            assert resp.status == 202
            await emu.clock.advance(2)
            await emu.drain()
            assert (await emu.fetch("orders", "/orders")).json() == [{"id": "p1", "item": "tea", "qty": 1}]

        async def test_fails(cf_emulator):
            emu = await cf_emulator("wrangler.toml")
            await emu.fetch("orders", "/some/page")
            assert False, "on purpose"

        async def test_passes_quietly(cf_emulator):
            emu = await cf_emulator("wrangler.toml")
            await emu.fetch("orders", "/quiet/page")

        async def test_broken_config(cf_emulator):
            await cf_emulator("broken.toml")
    """, test_cleanup="""
        import aiohttp, pytest

        SEEN = {}

        async def test_first(cf_emulator):
            emu = await cf_emulator("wrangler.toml")
            SEEN["url"] = emu.url("orders")
            SEEN["server_json"] = emu.state_dir / "server.json"
            assert SEEN["server_json"].is_file()

        async def test_second():
            # The fixture stopped the emulator: its ports are closed, its server.json gone.
            assert not SEEN["server_json"].exists()
            async with aiohttp.ClientSession() as session:
                with pytest.raises(aiohttp.ClientConnectionError):
                    await session.get(SEEN["url"])
    """)
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, failed=2)
    result.stdout.fnmatch_lines([
        "*cf-emulator log (orders)*",
        "*http: [[]orders[]] GET /some/page 200 OK*",
    ])
    # A config error is the emulator's diagnostic, not a crash of the plugin.
    result.stdout.fnmatch_lines(["*ConfigError*"])
    # Only failed tests carry a log.
    assert "/quiet/page" not in result.stdout.str()


def test_strict_mode_and_log_level_option(project: pytest.Pytester) -> None:
    project.makeini(INI.format(mode="strict"))
    project.makepyfile(test_strict="""
        import pytest

        @pytest.mark.asyncio
        async def test_strict(cf_emulator):
            emu = await cf_emulator(".")
            assert (await emu.fetch("orders", "/")).text == "hello"
            emu.platform.log.debug("probe", "a debug line")
            emu.platform.log.error("probe", "an error line")
            assert False
    """)
    result = project.runpytest("-p", "no:cacheprovider", "--cf-emulator-log-level=error")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "assert False" in out
    assert "ERROR probe: an error line" in out
    assert "DEBUG probe" not in out and "INFO  dev: ready" not in out


def test_importing_the_plugin_is_cheap() -> None:
    # pytest imports every pytest11 plugin in every project of the environment.
    code = ("import sys, emulator.pytest_plugin; "
            "print(sorted(m for m in ('aiohttp', 'emulator.emulator', 'emulator.platform', 'moto', 'pyarrow') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
