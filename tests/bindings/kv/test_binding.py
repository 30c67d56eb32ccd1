"""``KVNamespace``: every API rule, limit and error text of docs/kv.md, on a fake clock."""

from __future__ import annotations

import json
from typing import Any
from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.bindings.kv.binding import MAX_VALUE_BYTES, KVNamespace, KVValueStream
from emulator.bindings.kv.errors import KVError
from emulator.clock import FakeClock
from emulator.runtime.jsproxy import JsException


async def raises(coro: Any, message: str, name: str = "Error") -> KVError:
    with pytest.raises(KVError) as caught:
        await coro
    assert caught.value.message == message
    assert caught.value.name == name
    return caught.value


# --- get / put round trips ------------------------------------------------------------------
async def test_the_official_sample(kv: KVNamespace) -> None:
    assert await kv.put("bar", "baz") is None
    assert await kv.get("bar") == "baz"


async def test_get_types_three_ways(kv: KVNamespace) -> None:
    await kv.put("doc", json.dumps({"a": [1, 2], "b": None}))
    assert await kv.get("doc") == '{"a": [1, 2], "b": null}'
    for value in (await kv.get("doc", "json"), await kv.get("doc", type="json"), await kv.get("doc", {"type": "json"})):
        assert value == {"a": [1, 2], "b": None}
    buffer = await kv.get("doc", "arrayBuffer")
    assert isinstance(buffer, memoryview) and bytes(buffer) == b'{"a": [1, 2], "b": null}'
    stream = await kv.get("doc", type="stream")
    assert isinstance(stream, KVValueStream)
    assert b"".join([chunk async for chunk in stream]) == b'{"a": [1, 2], "b": null}'
    assert await kv.get("missing") is None and await kv.get("missing", "json") is None


async def test_unknown_type_and_cache_ttl(kv: KVNamespace) -> None:
    await kv.put("k", "v")
    await raises(kv.get("k", "blob"), 'Unknown response type. Possible types are "text", "arrayBuffer", "json", '
                                      'and "stream".', "TypeError")
    await raises(kv.get("k", cacheTtl=59), "KV GET failed: 400 Invalid cache_ttl of 59. Cache TTL must be at least 60.")
    assert await kv.get("k", {"type": "text", "cacheTtl": 60}) == "v"


async def test_values_of_every_accepted_type(kv: KVNamespace) -> None:
    async def stream() -> AsyncIterator[bytes]:
        yield b"str"
        yield b"eam"

    for value, stored in (("héllo", "héllo".encode()), (b"\x00\xff", b"\x00\xff"), (bytearray(b"ba"), b"ba"),
                          (memoryview(b"mv"), b"mv"), (stream(), b"stream"), (42, b"42"), (1.5, b"1.5"),
                          (True, b"true"), ("", b""), ("\ud800x", "\ufffdx".encode())):
        await kv.put("k", value)
        assert bytes(await kv.get("k", "arrayBuffer")) == stored
    await raises(kv.put("k", {"a": 1}), "KV put() accepts only strings, ArrayBuffers, ArrayBufferViews, and "
                                        "ReadableStreams as values.", "TypeError")
    assert await kv.get("k") == "\ufffdx"  # the rejected put changed nothing


async def test_a_key_with_a_lone_surrogate_is_stored_as_javascript_encodes_it(kv: KVNamespace) -> None:
    await kv.put("a\ud800b", "v")
    assert await kv.get("a\ufffdb") == "v" and await kv.get("a\udbffb") == "v"  # both become U+FFFD
    assert [k["name"] for k in (await kv.list())["keys"]] == ["a\ufffdb"]
    await raises(kv.get("\ud800" * 171), "KV GET failed: 414 UTF-8 encoded length of 513 exceeds key length "
                                          "limit of 512.")


async def test_errors_are_js_exceptions(kv: KVNamespace) -> None:
    with pytest.raises(JsException):
        await kv.get("")


async def test_last_write_wins_and_delete_is_idempotent(kv: KVNamespace) -> None:
    await kv.put("k", "1")
    await kv.put("k", "2")
    assert await kv.get("k") == "2"
    assert await kv.delete("k") is None
    assert await kv.delete("k") is None
    assert await kv.get("k") is None


# --- keys ------------------------------------------------------------------------------------------
async def test_key_rules(kv: KVNamespace) -> None:
    await raises(kv.get(""), "Key name cannot be empty.", "TypeError")
    await raises(kv.put(".", "v"), '"." is not allowed as a key name.', "TypeError")
    await raises(kv.delete(".."), '".." is not allowed as a key name.', "TypeError")
    for op, call in (("GET", lambda k: kv.get(k)), ("PUT", lambda k: kv.put(k, "v")),
                     ("DELETE", lambda k: kv.delete(k))):
        await raises(call("x" * 513), f"KV {op} failed: 414 UTF-8 encoded length of 513 exceeds key length limit "
                                      "of 512.")
    await raises(kv.get("é" * 257), "KV GET failed: 414 UTF-8 encoded length of 514 exceeds key length limit of 512.")
    await kv.put("x" * 512, "ok")
    assert await kv.get("x" * 512) == "ok"
    await kv.put("é" * 256, "two bytes each")
    assert await kv.get("é" * 256) == "two bytes each"


# --- metadata ---------------------------------------------------------------------------------------
async def test_get_with_metadata(kv: KVNamespace) -> None:
    await kv.put("k", "v", metadata={"owner": "ada", "n": float("nan")})
    result = await kv.getWithMetadata("k")
    assert result == {"value": "v", "metadata": {"owner": "ada", "n": None}, "cacheStatus": None}
    assert result.value == "v" and result.metadata.owner == "ada"
    assert (await kv.get_with_metadata("k", "text")).value == "v"
    assert await kv.getWithMetadata("nope") == {"value": None, "metadata": None, "cacheStatus": None}
    await kv.put("plain", "p")
    assert (await kv.getWithMetadata("plain")).metadata is None


async def test_metadata_limit(kv: KVNamespace) -> None:
    at_limit = {"x": "a" * (1024 - len('{"x":""}'))}
    await kv.put("ok", "v", {"metadata": at_limit})
    too_big = {"x": "a" * (1025 - len('{"x":""}'))}
    await raises(kv.put("big", "v", metadata=too_big), "KV PUT failed: 413 Metadata length of 1025 exceeds limit "
                                                       "of 1024.")
    assert await kv.get("big") is None


async def test_value_limit(kv: KVNamespace) -> None:
    await raises(kv.put("big", b"x" * (MAX_VALUE_BYTES + 1)),
                 "KV PUT failed: 413 Value length of 26214401 exceeds limit of 26214400.")
    read = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal read
        while True:
            read += 1 << 20
            yield b"x" * (1 << 20)

    await raises(kv.put("big", endless()), f"KV PUT failed: 413 Value length of {26 << 20} exceeds limit of 26214400.")
    assert read == 26 << 20  # reading stopped at the first chunk past the limit
    await kv.put("big", b"x" * MAX_VALUE_BYTES)  # exactly the limit, written off the loop
    assert len(await kv.get("big", "arrayBuffer")) == MAX_VALUE_BYTES


# --- expiry -------------------------------------------------------------------------------------------
async def test_expiration_ttl_on_the_clock(kv: KVNamespace, clock: FakeClock) -> None:
    await kv.put("k", "v", expirationTtl=60)
    await clock.advance(59)
    assert await kv.get("k") == "v"
    listed = await kv.list()
    assert listed["keys"] == [{"name": "k", "expiration": int(clock.now()) + 1}]
    await clock.advance(1)
    assert await kv.get("k") is None
    assert (await kv.list())["keys"] == []


async def test_expiration_checks(kv: KVNamespace, clock: FakeClock) -> None:
    now = int(clock.now())
    await raises(kv.put("k", "v", expirationTtl=0), "KV PUT failed: 400 Invalid expiration_ttl of 0. Please specify "
                                                    "integer greater than 0.")
    await raises(kv.put("k", "v", expirationTtl="abc"), "KV PUT failed: 400 Invalid expiration_ttl of abc. Please "
                                                        "specify integer greater than 0.")
    await raises(kv.put("k", "v", expirationTtl=59), "KV PUT failed: 400 Invalid expiration_ttl of 59. Expiration "
                                                     "TTL must be at least 60.")
    await raises(kv.put("k", "v", expiration=now), f"KV PUT failed: 400 Invalid expiration of {now}. Please specify "
                 "integer greater than the current number of seconds since the UNIX epoch.")
    await raises(kv.put("k", "v", expiration=now + 59), f"KV PUT failed: 400 Invalid expiration of {now + 59}. "
                 "Expiration times must be at least 60 seconds in the future.")
    assert await kv.get("k") is None
    await kv.put("k", "v", expiration=now + 60)
    await kv.put("both", "v", {"expiration": now + 10_000, "expirationTtl": 120})  # the TTL wins
    assert {k["name"]: k["expiration"] for k in (await kv.list())["keys"]} == {"both": now + 120, "k": now + 60}
    await kv.put("frac", "v", expirationTtl=90.9)  # the service reads the integer part
    assert (await kv.list(prefix="frac"))["keys"][0]["expiration"] == now + 90


# --- bulk reads --------------------------------------------------------------------------------------
async def test_bulk_get(kv: KVNamespace) -> None:
    await kv.put("a", '{"n": 1}', metadata={"m": 1})
    await kv.put("b", "2")
    assert await kv.get(["a", "b", "c"]) == {"a": '{"n": 1}', "b": "2", "c": None}
    assert await kv.get(["a", "b"], "json") == {"a": {"n": 1}, "b": 2}
    with_meta = await kv.getWithMetadata(["a", "c"])
    assert with_meta == {"a": {"value": '{"n": 1}', "metadata": {"m": 1}}, "c": None}
    await raises(kv.get([]), "KV GET_BULK failed: 400 You must request a minimum of 1 key")
    await raises(kv.get([f"k{i}" for i in range(101)]), "KV GET_BULK failed: 400 You can request a maximum of "
                                                        "100 keys")
    await raises(kv.get(["a"], "arrayBuffer"), 'KV GET_BULK failed: 400 "arrayBuffer" is not a valid type. Use "json" '
                                               'or "text"')
    await kv.put("t", "not json")
    await raises(kv.get(["a", "t"], type="json"), "KV GET_BULK failed: 400 At least one of the requested keys "
                                                  "corresponds to a non-json value")


# --- list --------------------------------------------------------------------------------------------
async def test_list_order_prefix_pages_and_cursor(kv: KVNamespace) -> None:
    names = ["b", "a", "A", "é", "z", "ab", "a/1", "a/2", "\U0001f600", "~"]
    for name in names:
        await kv.put(name, "v")
    everything = await kv.list()
    assert [k["name"] for k in everything["keys"]] == sorted(names, key=lambda n: n.encode())
    assert everything["list_complete"] is True and everything["cacheStatus"] is None
    with pytest.raises(AttributeError):
        everything.cursor  # noqa: B018 (absent on the last page, as in production)
    assert everything.get("cursor") is None
    assert [k["name"] for k in (await kv.list(prefix="a"))["keys"]] == ["a", "a/1", "a/2", "ab"]
    page = await kv.list({"prefix": "a", "limit": 2})
    # `page.keys` is the dict method, as on the SDK's JsDict: the list is page["keys"].
    assert [k.name for k in page["keys"]] == ["a", "a/1"] and page.list_complete is False
    await kv.put("a/15", "inserted while paginating")  # sorts after the cursor: seen
    rest = await kv.list(prefix="a", cursor=page.cursor)
    assert [k["name"] for k in rest["keys"]] == ["a/15", "a/2", "ab"] and rest["list_complete"]


async def test_list_limits_and_metadata(kv: KVNamespace) -> None:
    for i in range(1005):
        await kv.put(f"k{i:04}", "v", metadata={"i": i} if i == 3 else None)
    default = await kv.list()
    assert len(default["keys"]) == 1000 and not default["list_complete"]
    assert default["keys"][3] == {"name": "k0003", "metadata": {"i": 3}}
    assert len((await kv.list(limit=0))["keys"]) == 1000  # the runtime sends a limit only when > 0
    await raises(kv.list(limit=1001), "KV GET failed: 400 Invalid key_count_limit of 1001. Please specify an integer "
                                      "less than 1000.")
    last = await kv.list(cursor=default["cursor"])
    assert len(last["keys"]) == 5 and last["list_complete"]
    await raises(kv.list(cursor="%%%"), "KV GET failed: 400 Invalid cursor '%%%'.")


# --- the binding object itself ---------------------------------------------------------------------
def test_binding_is_truthy_not_iterable_no_len(kv: KVNamespace) -> None:
    assert kv
    with pytest.raises(TypeError, match=r"KvNamespace.*is not iterable"):
        iter(kv)
    with pytest.raises(TypeError, match=r"KvNamespace.*has no len"):
        len(kv)


async def test_options_must_be_a_dict(kv: KVNamespace) -> None:
    await raises(kv.put("k", "v", ["not", "a", "dict"]), "put() options must be an object (a dict or keyword "
                                                         "arguments).", "TypeError")
    assert await kv.put("k", "v", None) is None and await kv.list(None) is not None


_rows = st.lists(st.tuples(st.text(min_size=1, max_size=8),
                           st.one_of(st.none(), st.integers(0, 2**53)),
                           st.one_of(st.none(), st.sampled_from(['{"a":1}', "null", '"s"', "[1,2]"]))),
                 max_size=20)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(_rows)
def test_a_list_page_is_built_as_its_reference_builds_each_key(rows: list[tuple[str, int | None, str | None]]) -> None:
    from emulator.bindings.kv.binding import _key_info, _key_infos

    fast = _key_infos(rows)
    reference = [_key_info(*row) for row in rows]
    assert fast == reference and all(type(a) is type(b) for a, b in zip(fast, reference, strict=True))
