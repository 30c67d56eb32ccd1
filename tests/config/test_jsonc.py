"""The JSONC parser: jsonc-parser's error names at the right place, and key positions."""

from __future__ import annotations

import pytest

from emulator.config.jsonc import JsoncError, LineIndex, dumps_js, parse_jsonc


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
