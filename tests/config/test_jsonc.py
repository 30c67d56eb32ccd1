"""The JSONC parser: jsonc-parser's error names at the right place, and key positions."""

from __future__ import annotations

import pytest

from emulator.config.jsonc import JsoncError, JsoncNestingError, LineIndex, dumps_js, parse_jsonc
from emulator.config.nesting import MAX_DEPTH


def test_comments_and_trailing_commas() -> None:
    text = '// head\n{\n  "a": 1, /* inline */\n  "b": [1, 2,],\n  "c": {"d": true,},\n}\n'
    value, offsets = parse_jsonc(text)
    assert value == {"a": 1, "b": [1, 2], "c": {"d": True}}
    index = LineIndex(text)
    assert index.position(offsets[("a",)]) == (3, 3)
    assert index.position(offsets[("b", 1)]) == (4, 12)
    assert index.position(offsets[("c", "d")]) == (5, 9)


@pytest.mark.parametrize(("text", "code", "where"), [
    ('{\n  a: 1\n}', "InvalidSymbol", (2, 3)),
    ('{\n  "a": 1\n  "b": 2\n}', "CommaExpected", (3, 3)),
    ('{"a": }', "ValueExpected", (1, 7)),
    ('{"a": 1', "CloseBraceExpected", (1, 8)),
    ('[1, 2', "CloseBracketExpected", (1, 6)),
    ('{"a" 1}', "ColonExpected", (1, 6)),
    ('{,}', "ValueExpected", (1, 2)),
    ('{1: 2}', "PropertyNameExpected", (1, 2)),
    ('', "ValueExpected", (1, 1)),
    ('{} {}', "EndOfFileExpected", (1, 4)),
    ('{"a": "x\n"}', "UnexpectedEndOfString", (1, 7)),
    ('{"a": "\\q"}', "InvalidEscapeCharacter", (1, 7)),
    ('{"a": 1.}', "UnexpectedEndOfNumber", (1, 7)),
    ('/* open', "UnexpectedEndOfComment", (1, 1)),
    ('{"a" = 1}', "InvalidSymbol", (1, 6)),
])
def test_error_names_and_offsets(text: str, code: str, where: tuple[int, int]) -> None:
    with pytest.raises(JsoncError) as info:
        parse_jsonc(text)
    assert info.value.code == code
    assert LineIndex(text).position(info.value.offset) == where


def test_numbers_follow_javascript() -> None:
    value, _ = parse_jsonc('{"i": 3, "f": 3.0, "g": 1.5, "e": 1e2, "n": -0.25}')
    assert value == {"i": 3, "f": 3, "g": 1.5, "e": 100, "n": -0.25}
    assert dumps_js(value) == '{"i":3,"f":3,"g":1.5,"e":100,"n":-0.25}'
    assert dumps_js({"t": 30.0, "u": "ü"}) == '{"t":30,"u":"ü"}'


def test_duplicate_keys_last_wins() -> None:
    value, _ = parse_jsonc('{"a": 1, "a": 2}')
    assert value == {"a": 2}


# --- nesting ------------------------------------------------------------------------------
def test_nesting_up_to_the_limit_parses_without_recursion() -> None:
    depth = MAX_DEPTH
    text = '{"a":' * (depth - 1) + "[1]" + "}" * (depth - 1)
    value, offsets = parse_jsonc(text)
    path: tuple[str | int, ...] = ("a",) * (depth - 1) + (0,)
    assert offsets[path] == text.index("1")
    for _ in range(depth - 1):
        value = value["a"]
    assert value == [1]


@pytest.mark.parametrize("opener", ["[", '{"k":'])
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 100_000])
def test_nesting_past_the_limit_stops_at_the_crossing_bracket(opener: str, depth: int) -> None:
    text = opener * depth
    with pytest.raises(JsoncNestingError) as info:
        parse_jsonc(text)
    assert info.value.offset == len(opener) * MAX_DEPTH  # the (MAX_DEPTH + 1)th opener
    assert f"more than {MAX_DEPTH} levels" in info.value.message


def test_an_earlier_syntax_error_wins_over_depth() -> None:
    with pytest.raises(JsoncError) as info:
        parse_jsonc('{"a": 1 "b": ' + "[" * 100_000)
    assert info.value.code == "CommaExpected" and not isinstance(info.value, JsoncNestingError)


# --- dumps_js ------------------------------------------------------------------------------
def test_dumps_js_matches_json_stringify() -> None:
    import datetime

    value = {"a": [1, 2.0, 2.5, None, True, "é\""], "b": {}, "c": [], "d": datetime.date(2025, 1, 2),
             "e": float("nan")}
    assert dumps_js(value) == '{"a":[1,2,2.5,null,true,"é\\""],"b":{},"c":[],"d":"2025-01-02","e":null}'
    assert dumps_js({"a": [1, {"b": []}]}, indent=2) == '{\n  "a": [\n    1,\n    {\n      "b": []\n    }\n  ]\n}'


def test_dumps_js_leaves_out_undefined_members() -> None:
    undefined = object()
    assert dumps_js({"a": undefined, "b": [undefined, 1], "c": 2}, undefined=undefined) == '{"b":[null,1],"c":2}'
    assert dumps_js({"a": undefined}, indent=2, undefined=undefined) == "{}"


def test_dumps_js_of_a_deep_value_needs_no_recursion() -> None:
    value: object = 1
    for _ in range(20_000):
        value = [value]
    assert dumps_js(value) == "[" * 20_000 + "1" + "]" * 20_000


def test_line_index() -> None:
    index = LineIndex("ab\ncd\n\nef")
    assert [index.position(i) for i in (0, 1, 3, 6, 7, 8)] == [(1, 1), (1, 2), (2, 1), (3, 1), (4, 1), (4, 2)]
