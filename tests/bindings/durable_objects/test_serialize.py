"""Values across an object's boundary (serialize.py): what the SDK and structured clone do."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest

from emulator.bindings.durable_objects.errors import DataCloneError
from emulator.bindings.durable_objects.serialize import decode, encode, rpc_error, to_rpc
from emulator.jsobject import JsObject


class Custom:
    pass


def test_rpc_values_arrive_as_python_sees_them_after_the_platform() -> None:
    sent = {"s": "é", "n": 3, "f": 2.5, "whole": 3.0, "big": 2**70, "b": True, "none": None, "list": [1, [2]],
            "set": {1, 2}, "bytes": b"\x00\xff", "view": memoryview(b"ab"), 7: "seven"}
    got = to_rpc(sent)
    assert isinstance(got, JsObject) and got.s == "é"
    assert got["whole"] == 3 and type(got["whole"]) is int  # JS numbers that are integers
    assert got["big"] == 2**70 and got["f"] == 2.5
    assert got["set"] == {1, 2} and got["7"] == "seven"  # object keys are strings
    assert isinstance(got["bytes"], memoryview) and bytes(got["bytes"]) == b"\x00\xff"
    assert bytes(got["view"]) == b"ab" and got["list"] == [1, [2]]


def test_rpc_copies_containers() -> None:
    inner = [1]
    sent = {"inner": inner}
    got = to_rpc(sent)
    got["inner"].append(2)
    assert inner == [1]


def test_datetimes_arrive_naive_utc_with_millisecond_precision() -> None:
    aware = dt.datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert to_rpc(aware) == dt.datetime(2025, 1, 2, 1, 4, 5, 678000)
    naive = dt.datetime(2025, 1, 2, 3, 4, 5, 999)
    assert to_rpc(naive) == dt.datetime(2025, 1, 2, 3, 4, 5)


def test_exception_values_arrive_as_exception_with_the_js_text() -> None:
    got = to_rpc(ValueError("nope"))
    assert type(got) is Exception and str(got) == "Error: nope"


@pytest.mark.parametrize("value, text", [
    ((1, 2), "<class 'tuple'> cannot be sent over RPC."),
    ([(1,)], "<class 'tuple'> cannot be sent over RPC."),
    ({"x": bytearray(b"a")}, "<class 'bytearray'> cannot be sent over RPC."),
])
def test_the_sdks_refusals_are_type_errors(value: Any, text: str) -> None:
    with pytest.raises(TypeError) as caught:
        to_rpc(value)
    assert str(caught.value) == text


def test_awaitables_and_functions_are_refused() -> None:
    async def coro() -> None:
        pass

    c = coro()
    with pytest.raises(TypeError, match=r"^Awaitable <class 'coroutine'> cannot be sent over RPC\.$"):
        to_rpc([c])
    c.close()
    with pytest.raises(TypeError, match="cannot be sent over RPC"):
        to_rpc(lambda x: x)


@pytest.mark.parametrize("value, name", [(Custom(), "Custom"), (complex(1, 2), "complex"), (range(3), "range")])
def test_other_objects_are_data_clone_errors(value: Any, name: str) -> None:
    with pytest.raises(DataCloneError) as caught:
        to_rpc({"v": value})
    assert str(caught.value) == (f'DataCloneError: Could not serialize object of type "{name}". This type does not '
                                 "support serialization.")


def test_cycles_are_refused_cleanly() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(DataCloneError, match="nested too deeply"):
        to_rpc(loop)


def test_stored_values_round_trip() -> None:
    when = dt.datetime(2024, 5, 6, 7, 8, 9, 123000)
    value = {"a": [1, 2.5, "x", None, True], "b": b"bytes", "d": when, "s": {"k"}, "nested": {"deep": {"n": -1}},
             "nan": math.inf, "big": 2**64}
    back = decode(encode(value))
    assert isinstance(back, JsObject) and isinstance(back.nested.deep, JsObject)
    assert back.a == [1, 2.5, "x", None, True] and bytes(back.b) == b"bytes" and back.d == when
    assert back.s == {"k"} and back.nan == math.inf and back.big == 2**64
    plain: Any
    for plain in ("text", "", "😀", 0, -5, 1.5, True, False, None, [], {}):
        assert decode(encode(plain)) == plain
    assert decode(encode("lone \ud800 surrogate")) == "lone \ud800 surrogate"
    assert type(decode(encode(4.0))) is int


class Label(str):
    pass


class Count(int):
    pass


class Whole(float):
    pass


@pytest.mark.parametrize(("value", "plain"), [(Label("é"), "é"), (Count(7), 7), (Whole(2.0), 2),
                                              (Whole(2.5), 2.5)])
def test_subclasses_of_primitives_arrive_as_the_plain_type(value: Any, plain: Any) -> None:
    # Nested, so the exact-type shortcuts at the top of ``to_rpc``/``encode`` do not apply.
    for got in (to_rpc([value])[0], decode(encode([value]))[0]):
        assert got == plain and type(got) is type(plain)


def test_storage_refuses_what_rpc_cannot_send() -> None:
    with pytest.raises(TypeError):
        encode((1, 2))
    with pytest.raises(DataCloneError):
        encode(Custom())


def test_errors_keep_their_type_and_message_across_the_boundary() -> None:
    got = rpc_error(KeyError("missing"))
    assert type(got) is KeyError and got.args == ("missing",) and got.remote is True  # type: ignore[attr-defined]  # set on errors that crossed from the object

    class MineError(Exception):
        pass

    custom = rpc_error(MineError("boom"), "Traceback ...")
    assert custom.name == "Error" and custom.message == "MineError: boom"  # type: ignore[attr-defined]  # a JS-style error: name and message attributes
    assert custom.__notes__ == ["Raised in the Durable Object:\nTraceback ..."]
