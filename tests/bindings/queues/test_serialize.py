"""Content types: json (default), text, bytes and v8 (a structured-clone-like pickle subset)."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import os
import pickle
from collections import namedtuple
from typing import Any

import pytest

from emulator.bindings.queues.serialize import deserialize, normalize_content_type, preview, serialize


def round_trip(value: Any, content_type: str) -> Any:
    return deserialize(serialize(value, content_type), content_type)


@pytest.mark.parametrize("value", ["", "hé", 0, -1.5, None, True, [1, {"a": [None]}], {"k": "v"}])
def test_json_round_trip(value: Any) -> None:
    assert round_trip(value, "json") == value


def test_json_objects_arrive_with_attribute_access() -> None:
    # The SDK hands a message body's JS objects over as dicts with attribute access.
    from emulator.bindings.queues.serialize import decode_bodies
    from emulator.jsobject import JsObject

    body = round_trip({"user": {"id": 7}, "tags": ["a"]}, "json")
    assert isinstance(body, JsObject) and body.user.id == 7 and body.tags == ["a"]

    class Row:
        content_type = "json"
        body = b'{"n": {"m": 1}}'

    (decoded,) = decode_bodies([Row()])
    assert decoded.n.m == 1


def test_json_size_is_utf8_length_of_compact_text() -> None:
    assert serialize({"a": "é"}, "json") == '{"a":"é"}'.encode()


def test_json_writes_non_finite_numbers_as_null_like_json_stringify() -> None:
    import json

    from emulator.bindings.queues.serialize import encode_bodies

    nan, inf = float("nan"), float("inf")
    body = {"a": nan, "b": [1.5, inf, -inf, (nan,)], "c": {"d": -inf}, nan: 1, inf: 2, -inf: 3, 2.5: 4}
    data = serialize(body, "json")
    assert data == (b'{"a":null,"b":[1.5,null,null,[null]],"c":{"d":null},'
                    b'"NaN":1,"Infinity":2,"-Infinity":3,"2.5":4}')
    json.loads(data, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))  # strict JSON
    assert serialize(nan, "json") == b"null"
    # The batch fast path gives the same bytes.
    assert encode_bodies([(body, None, None), (inf, "json", 3)]) == [("json", data, None), ("json", b"null", 3)]
    # v8 (structured clone) keeps them.
    assert round_trip([inf, -inf], "v8") == [inf, -inf]


def test_json_refuses_cycles_and_unknown_types() -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(TypeError, match="circular"):
        serialize(cyclic, "json")
    with pytest.raises(TypeError, match='use contentType "v8"'):
        serialize(dt.date(2020, 1, 1), "json")


def test_content_type_matching_is_case_insensitive() -> None:
    assert normalize_content_type("JSON") == "json"
    assert normalize_content_type(None) == "json"
    with pytest.raises(TypeError, match=r"^Unsupported queue message content type: xml$"):
        normalize_content_type("xml")


@pytest.mark.parametrize(("value", "typeof"), [(1, "number"), (None, "object"), (b"x", "object"),
                                               (True, "boolean"), (len, "function")])
def test_text_requires_a_string(value: Any, typeof: str) -> None:
    with pytest.raises(TypeError) as info:
        serialize(value, "text")
    assert str(info.value) == f'Content Type "text" requires a value of type string, but received: {typeof}'


def test_bytes_requires_a_buffer() -> None:
    assert round_trip(bytearray(b"\x00\xff"), "bytes") == b"\x00\xff"
    assert round_trip(memoryview(b"ab"), "bytes") == b"ab"
    with pytest.raises(TypeError) as info:
        serialize("text", "bytes")
    assert str(info.value) == 'Content Type "bytes" requires a value of type ArrayBufferView, but received: string'


class Colour(enum.IntEnum):
    RED = 1


Point = namedtuple("Point", "x y")


def test_v8_keeps_builtin_types_and_shared_references() -> None:
    shared = [1, 2]
    value = {
        "shared": (shared, shared), "set": {1, 2}, "frozen": frozenset("ab"), "big": 2**90,
        "when": dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        "naive": dt.datetime(2024, 1, 1), "day": dt.date(2024, 2, 3), "clock": dt.time(4, 5),
        "span": dt.timedelta(days=1), "money": decimal.Decimal("1.10"), "raw": b"\x00", "buf": bytearray(b"z"),
        "z": 1j,
    }
    out = round_trip(value, "v8")
    assert out == value
    assert out["shared"][0] is out["shared"][1]


def test_v8_cycles_survive() -> None:
    node: dict[str, Any] = {}
    node["next"] = {"back": node}
    out = round_trip(node, "v8")
    assert out["next"]["back"] is out


def test_v8_drops_subclasses_like_structured_clone_drops_prototypes() -> None:
    out = round_trip({"c": Colour.RED, "p": Point(1, 2)}, "v8")
    assert out == {"c": 1, "p": (1, 2)}
    assert type(out["c"]) is int and type(out["p"]) is tuple


@pytest.mark.parametrize("value", [object(), print, Colour, {"x": lambda: 0},
                                   dt.datetime(2024, 1, 1, tzinfo=dt.tzinfo())])  # type: ignore[abstract]  # a bare tzinfo: what cannot be cloned
def test_v8_refuses_what_cannot_be_cloned(value: Any) -> None:
    with pytest.raises(TypeError, match="could not be cloned"):
        serialize(value, "v8")


def test_v8_reader_never_resolves_other_globals() -> None:
    # A stored row crafted to call os.system must not run anything when it is delivered.
    evil = pickle.dumps(os.system)
    with pytest.raises(pickle.UnpicklingError, match="not allowed"):
        deserialize(evil, "v8")


def test_preview_is_json_friendly() -> None:
    assert preview(b"\x00\x01", "bytes") == {"base64": "AAE="}
    assert preview(serialize({"a": 1}, "json"), "json") == {"a": 1}
    assert preview(serialize({1, 2}, "v8"), "v8") == {"repr": "{1, 2}"}
    assert preview(b"{broken", "json")["error"].startswith("JSONDecodeError")


def test_batch_encoding_matches_item_by_item_and_raises_the_same_errors() -> None:
    from types import SimpleNamespace

    from emulator.bindings.queues.serialize import decode_bodies, encode_bodies

    requests = [({"a": [1, "é"]}, None, None), ("hi", "TEXT", 5), (b"\x00", "bytes", None), ({1, 2}, "v8", 0)]
    encoded = encode_bodies(requests)
    assert encoded == [(normalize_content_type(ct), serialize(body, normalize_content_type(ct)), delay)
                       for body, ct, delay in requests]
    stored = [SimpleNamespace(body=data, content_type=ct) for ct, data, _ in encoded]
    assert decode_bodies(stored) == [{"a": [1, "é"]}, "hi", b"\x00", {1, 2}]
    with pytest.raises(TypeError) as batch_error:
        encode_bodies([(1, None, None), (dt.date(2020, 1, 1), None, None)])
    with pytest.raises(TypeError) as item_error:
        serialize(dt.date(2020, 1, 1), "json")
    assert str(batch_error.value) == str(item_error.value)
    with pytest.raises(TypeError, match="Unsupported queue message content type: xml"):
        encode_bodies([(1, "xml", None)])


def test_batch_decoding_is_strict_about_hand_edited_rows() -> None:
    from types import SimpleNamespace

    from emulator.bindings.queues.serialize import decode_bodies

    assert decode_bodies([SimpleNamespace(body=b" [1] ", content_type="json")]) == [[1]]
    for bad in (b"[1] [2]", b"{", b""):
        with pytest.raises(ValueError):
            decode_bodies([SimpleNamespace(body=bad, content_type="json")])
