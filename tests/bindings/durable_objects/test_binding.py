"""Namespaces and stubs (binding.py): ids, ``get``, ``fetch``, RPC by value, errors in the caller."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

from emulator.bindings.durable_objects.entrypoint import DurableObject
from emulator.bindings.durable_objects.errors import DataCloneError, DurableObjectError
from emulator.errors import JsError
from emulator.runtime.http import Request, Response
from tests.helpers.durable_objects import do_platform


class MineError(Exception):
    pass


class Thing:
    pass


class Echo(DurableObject):
    received: ClassVar[list[Any]] = []

    async def fetch(self, request: Request) -> Response:
        body = await request.text()
        return Response(f"{request.method} {request.url} {request.headers.get('x-h')} {body} {self.ctx.id.name}")

    async def echo(self, value: Any) -> Any:
        return value

    def sync_add(self, a: int, b: int = 0) -> int:
        return a + b

    async def mutate(self, items: list[Any]) -> list[Any]:
        items.append("callee")
        Echo.received.append(items)
        return items

    async def fail(self, kind: str) -> None:
        if kind == "value":
            raise ValueError("bad value")
        if kind == "mine":
            raise MineError("custom failure")
        if kind == "platform":
            await self.ctx.storage.list(limit=0)

    async def unsendable(self) -> Any:
        return Thing()

    async def _private(self) -> str:
        return "hidden"

    not_a_method = 42


class NoFetch(DurableObject):
    async def ping(self) -> str:
        return "pong"

    async def bad_fetch(self) -> None:
        pass


class WrongFetch(DurableObject):
    async def fetch(self, request: Request) -> str:
        return "not a response"


async def test_namespace_api(tmp_path: Path) -> None:
    async with do_platform(tmp_path, {"ECHO": Echo}) as (_, env):
        ns = env.ECHO
        named = ns.idFromName("room")
        assert ns.idFromName("room").equals(named) and named.name == "room"
        assert ns.idFromString(named.toString()).equals(named)
        stub = ns.get(named)
        assert stub.id.toString() == named.toString() and stub.name == "room"
        by_name = ns.getByName("room", locationHint="weur")
        assert by_name.id.equals(named) and by_name.name == "room"
        unique = ns.get(ns.newUniqueId())
        assert unique.name is None
        with pytest.raises(DurableObjectError, match="parameter 1 is not of type 'DurableObjectId'"):
            ns.get(named.toString())
        with pytest.raises(DurableObjectError, match=r"^\w+: unknown routingMode: nearest$") as caught:
            ns.get(named, {"routingMode": "nearest"})
        assert caught.value.name == "RangeError"
        ns.get(named, routingMode="primary-only")
        with pytest.raises(DurableObjectError, match=r"Jurisdiction restrictions are not implemented in workerd\."):
            ns.jurisdiction("eu")


async def test_rpc_passes_values_by_value_and_sync_methods_are_awaitable(tmp_path: Path) -> None:
    Echo.received = []
    async with do_platform(tmp_path, {"ECHO": Echo}) as (_, env):
        stub = env.ECHO.getByName("e")
        assert await stub.echo("hi") == "hi" and await stub.echo(42) == 42 and await stub.echo(True) is True
        assert await stub.echo(None) is None
        result = await stub.echo({"key": "value", "n": [1, 2]})
        assert result.key == "value" and result["n"] == [1, 2]
        assert await stub.sync_add(2, b=3) == 5
        sent = ["caller"]
        got = await stub.mutate(sent)
        assert sent == ["caller"]  # the callee changed its own copy
        assert got == ["caller", "callee"] and got is not Echo.received[0]
        assert isinstance(await stub.echo(b"raw"), memoryview)


async def test_rpc_refusals_happen_at_the_call(tmp_path: Path) -> None:
    async with do_platform(tmp_path, {"ECHO": Echo}) as (_, env):
        stub = env.ECHO.getByName("e")
        with pytest.raises(TypeError, match="tuple"):
            stub.echo((1, 2))  # not even awaited: the SDK converts arguments at once
        with pytest.raises(TypeError, match="cannot be sent over RPC"):
            stub.echo(lambda: None)
        with pytest.raises(DataCloneError, match='object of type "Thing"'):
            stub.echo(Thing())
        with pytest.raises(DataCloneError, match='object of type "Thing"'):
            await stub.unsendable()  # results go through the same serialization


async def test_errors_are_raised_again_in_the_caller(tmp_path: Path) -> None:
    async with do_platform(tmp_path, {"ECHO": Echo}) as (_, env):
        stub = env.ECHO.getByName("e")
        with pytest.raises(ValueError, match=r"^bad value") as value_error:
            await stub.fail("value")
        assert value_error.value.remote is True  # type: ignore[attr-defined]  # set on errors that crossed from the object
        assert "Raised in the Durable Object" in value_error.value.__notes__[0]
        with pytest.raises(JsError, match=r"^\w+: MineError: custom failure"):
            await stub.fail("mine")
        with pytest.raises(DurableObjectError, match=r"^\w+: List limit must be positive.$") as caught:
            await stub.fail("platform")
        assert caught.value.name == "TypeError"
        for name in ("missing", "_private", "not_a_method"):
            with pytest.raises(DurableObjectError, match=f"^TypeError: Method {name} does not exist$"):
                await getattr(stub, name)()
        with pytest.raises(DurableObjectError,
                           match=r"^\w+: 'alarm' is a reserved method and cannot be called over RPC\.$"):
            await stub.alarm()
        assert await stub.echo("still fine") == "still fine"


async def test_stub_fetch_delivers_a_request_to_the_objects_fetch(tmp_path: Path) -> None:
    async with do_platform(tmp_path, {"ECHO": Echo, "NOFETCH": NoFetch, "WRONG": WrongFetch}) as (_, env):
        stub = env.ECHO.getByName("f")
        response = await stub.fetch("http://fake-host/ping", method="POST", body="data", headers={"x-h": "1"})
        assert await response.text() == "POST http://fake-host/ping 1 data f"
        forwarded = await stub.fetch(Request("https://example.com/x", headers={"x-h": "2"}))
        assert await forwarded.text() == "GET https://example.com/x 2  f"
        with pytest.raises(DurableObjectError, match=r"^\w+: Fetch API cannot load: /relative$"):
            await stub.fetch("/relative")
        with pytest.raises(DurableObjectError, match=r"^\w+: Method fetch does not exist$"):
            await env.NOFETCH.getByName("n").fetch("http://x/")
        with pytest.raises(DurableObjectError, match="did not resolve to 'Response'"):
            await env.WRONG.getByName("w").fetch("http://x/")


class Legacy(DurableObject):
    async def on_fetch(self, request: Request) -> Response:
        return Response("legacy handler")


async def test_handlers_use_on_names_before_python_no_global_handlers(tmp_path: Path) -> None:
    async with do_platform(tmp_path, {"LEGACY": Legacy}, compatibility_date="2025-01-01") as (_, env):
        response = await env.LEGACY.getByName("x").fetch("http://x/")
        assert await response.text() == "legacy handler"
