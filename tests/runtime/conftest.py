"""Fixtures for runtime tests: apps written to a tmp folder, hosted behind real HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from emulator.clock import FakeClock
from emulator.config.model import AppConfig
from emulator.platform import Platform
from emulator.runtime import BaseHost, create_host


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def make_platform(state_dir: Path) -> Callable[..., Platform]:
    def make(*apps: AppConfig) -> Platform:
        return Platform(list(apps), state_dir, clock=FakeClock())

    return make


Serve = Callable[..., Awaitable[TestClient]]


@pytest.fixture
def serve(aiohttp_client: Any, make_platform: Callable[..., Platform]) -> Serve:
    """Host the given app configs (all loaded), return a client for the first."""

    async def start(*configs: AppConfig, platform: Platform | None = None) -> TestClient:
        platform = platform or make_platform(*configs)
        hosts: list[BaseHost] = []
        for config in configs:
            host = create_host(config, platform)
            host.load()
            platform.attach_host(host)
            hosts.append(host)
        first = hosts[0]

        async def forward(request: web.Request) -> web.StreamResponse:
            return await first.handle(request)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", forward)
        client: TestClient = await aiohttp_client(app)
        client.app_host = first  # type: ignore[attr-defined]  # attributes for the tests on the client object
        client.platform = platform  # type: ignore[attr-defined]  # attributes for the tests on the client object
        return client

    return start
