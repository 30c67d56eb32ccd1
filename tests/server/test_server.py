"""The server's pure parts: port planning, client addresses, the bindings summary; and
port binding against busy ports, through the real runtime and the e2e fixture apps."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from emulator import Emulator, FakeClock
from emulator.config.model import AppConfig, DevSettings
from emulator.logs import EventLog
from emulator.server import DEFAULT_PORT, PortInUseError, PortRequest, app_bindings, client_host, plan_ports
from tests.helpers.apps import QueueConsumer, QueueProducer, R2BucketBinding, app_config


def app(name: str, port: int | None = None) -> AppConfig:
    return app_config(Path(f"/x/{name}/wrangler.toml"), "worker", name, dev=DevSettings(port=port))


def test_ports_count_up_from_8787_and_respect_dev_port() -> None:
    assert plan_ports([app("a"), app("b")], None) == [PortRequest(DEFAULT_PORT, False), PortRequest(8788, False)]
    assert plan_ports([app("a"), app("b", 8788), app("c")], None) == [
        PortRequest(8787, False), PortRequest(8788, True), PortRequest(8789, False)]
    assert plan_ports([app("a", 9000), app("b")], 7000) == [PortRequest(9000, True), PortRequest(7000, False)]
    # 0: a free port for every app, [dev] port or not (tests, parallel runs).
    assert plan_ports([app("a", 9000), app("b")], 0) == [PortRequest(0, False), PortRequest(0, False)]


def test_client_host() -> None:
    assert client_host("127.0.0.1") == "127.0.0.1"
    assert client_host("0.0.0.0") == "127.0.0.1"
    assert client_host("::") == "[::1]"
    assert client_host("::1") == "[::1]"


def test_bindings_summary_lists_secret_names_not_values() -> None:
    config = app_config(Path("/x/w/wrangler.toml"), "worker", "w", vars={"A": "1"}, secrets={"TOKEN": "s3cret"},
                       producers=(QueueProducer("Q", "jobs"),), consumers=(QueueConsumer("jobs"),),
                       r2_buckets=(R2BucketBinding("B", "bucket"),))
    summary = app_bindings(config)
    assert summary == {"queues": {"producers": {"Q": "jobs"}, "consumers": ["jobs"]},
                       "r2": {"B": "bucket"}, "vars": ["A", "TOKEN"]}
    assert "s3cret" not in repr(summary)


def busy_port() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


async def test_counted_ports_skip_busy_ones(workspace: Path) -> None:
    with busy_port() as sock:
        taken = sock.getsockname()[1]
        log = EventLog()
        async with Emulator([workspace / "wrangler.toml"], clock=FakeClock(), port=taken, log=log) as emu:
            assert emu.url("dev-shop") == f"http://127.0.0.1:{taken + 1}" or emu.url("dev-shop").endswith(
                f":{taken + 2}")
            assert emu.url("dev-backend") != emu.url("dev-shop")
            assert any(f"port {taken} is in use" in m for m in log.messages(level="warn"))


async def test_a_busy_dev_port_is_an_error(workspace: Path) -> None:
    with busy_port() as sock:
        taken = sock.getsockname()[1]
        config = workspace / "backend" / "wrangler.toml"
        config.write_text(config.read_text().replace("[vars]", f"[dev]\nport = {taken}\n\n[vars]"))
        emulator = Emulator([workspace / "wrangler.toml"], clock=FakeClock(), port=None)
        with pytest.raises(PortInUseError, match=f"{taken}.*dev-backend.*\\[dev\\] port"):
            await emulator.start()
        assert not (workspace / ".emulator" / "server.json").exists()


async def test_app_paths_internal_paths_and_lookalikes_reach_the_right_handler(workspace: Path) -> None:
    import aiohttp

    log = EventLog()
    async with Emulator([workspace / "wrangler.toml"], clock=FakeClock(), port=0, log=log) as emu:
        base = emu.url("dev-backend")
        async with aiohttp.ClientSession() as session:
            async with session.get(base + "/_emulator/health") as resp:
                assert resp.status == 200 and resp.content_type == "application/json"
            async with session.get(base + "/_emulator/no-such-endpoint") as resp:
                assert resp.status == 404 and (await resp.json())["status"] == 404
            # Only the internal prefix itself is internal: a look-alike path is the app's,
            # served through the router's catch-all with its request log line.
            async with session.get(base + "/_emulatorish?x=1") as resp:
                assert resp.content_type != "application/json" or "no internal endpoint" not in await resp.text()
            async with session.get(base + "/plain?y=2") as resp:
                status = resp.status
        lines = {r.fields["path"]: r for r in log.recent if r.source == "http"}
        assert "/_emulator/health" not in lines  # internal routes are not request-logged
        assert lines["/_emulatorish?x=1"].fields["app"] == "dev-backend"
        plain = lines["/plain?y=2"]
        assert plain.fields["status"] == status and plain.fields["method"] == "GET"
        assert plain.message.startswith(f"[dev-backend] GET /plain?y=2 {status} ")
