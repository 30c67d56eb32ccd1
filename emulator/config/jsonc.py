"""A JSONC parser (comments, trailing commas) that remembers where every key is.

Wrangler parses both ``wrangler.json`` and ``wrangler.jsonc`` with Microsoft's ``jsonc-parser``
(``allowTrailingComma: true``) and reports the *first* parse error by its ``ParseErrorCode``
name (``InvalidSymbol``, ``PropertyNameExpected``, ``ValueExpected``, ``CommaExpected``,
``CloseBraceExpected`` ...) at the offset of the offending token. This module follows the same
scanner and recursive-descent rules so the same input yields the same error name, and it
records the line/column of every object key so diagnostics can point at them.
"""

from __future__ import annotations

import bisect
import json
import re
from typing import Any

from emulator.config.nesting import MAX_DEPTH, MAX_DEPTH_MESSAGE
from emulator.errors import EmulatorError

KeyPath = tuple[str | int, ...]

_WS = " \t\v\f\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
      "\u202f\u205f\u3000\ufeff"
_LB = "\n\r\u2028\u2029"
_STOP = set('{}[]":,/') | set(_WS) | set(_LB)
# String characters that are copied as they are: not a quote, backslash, line break or control.
_PLAIN = re.compile(r'[^"\\\x00-\x1f\u2028\u2029]*')


class JsoncError(EmulatorError):
    """First parse error, named like jsonc-parser's ``ParseErrorCode``."""

    def __init__(self, code: str, offset: int) -> None:
        super().__init__(code)
        self.code = code
        self.offset = offset


class JsoncNestingError(JsoncError):
    """Nested deeper than we judge (``emulator.config.nesting``); not a jsonc-parser error."""

    def __init__(self, offset: int) -> None:
        super().__init__("NestingTooDeep", offset)
        self.message = MAX_DEPTH_MESSAGE


class LineIndex:
    """Maps character offsets to 1-based (line, column)."""

    def __init__(self, text: str) -> None:
        self.starts = [0]
        find, append = text.find, self.starts.append
        i = find("\n")
        while i >= 0:
            append(i + 1)
            i = find("\n", i + 1)

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, offset) - 1
        return line + 1, offset - self.starts[line] + 1


class _Token:
    __slots__ = ("kind", "offset", "value")

    def __init__(self, kind: str, offset: int, value: Any = None) -> None:
        self.kind = kind  # "{", "}", "[", "]", ":", ",", "string", "number", "true", "false", "null", "eof"
        self.offset = offset
        self.value = value


class _Open:
    """An array or object being parsed: its value so far and where the next member goes."""

    __slots__ = ("is_object", "path", "value", "key", "needs_comma")

    def __init__(self, is_object: bool, path: KeyPath) -> None:
        self.is_object = is_object
        self.path = path
        self.value: Any = {} if is_object else []
        self.key: str = ""
        self.needs_comma = False


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.tok = _Token("eof", 0)
        self.offsets: dict[KeyPath, int] = {}
        self.result: Any = None

    # -- scanner ---------------------------------------------------------------------------
    def _scan(self) -> None:
        """Advance to the next significant token; scanner errors raise at the token offset."""
        text, n = self.text, len(self.text)
        while True:
            while self.pos < n and (text[self.pos] in _WS or text[self.pos] in _LB):
                self.pos += 1
            start = self.pos
            if start >= n:
                self.tok = _Token("eof", start)
                return
            ch = text[start]
            if ch == "/":
                nxt = text[start + 1] if start + 1 < n else ""
                if nxt == "/":
                    self.pos = start + 2
                    while self.pos < n and text[self.pos] not in _LB:
                        self.pos += 1
                    continue
                if nxt == "*":
                    end = text.find("*/", start + 2)
                    if end < 0:
                        raise JsoncError("UnexpectedEndOfComment", start)
                    self.pos = end + 2
                    continue
                raise JsoncError("InvalidSymbol", start)
            if ch in "{}[]:,":
                self.pos = start + 1
                self.tok = _Token(ch, start)
                return
            if ch == '"':
                self.tok = _Token("string", start, self._scan_string(start))
                return
            if ch == "-" or ch in "0123456789":
                self.tok = _Token("number", start, self._scan_number(start))
                return
            end = start
            while end < n and text[end] not in _STOP:
                end += 1
            if end == start:
                raise JsoncError("InvalidSymbol", start)
            word = text[start:end]
            self.pos = end
            if word in ("true", "false", "null"):
                self.tok = _Token(word, start)
                return
            raise JsoncError("InvalidSymbol", start)

    def _scan_string(self, start: int) -> str:
        text, n = self.text, len(self.text)
        pos = start + 1
        out: list[str] = []
        while True:
            # A run of characters that need no attention (maybe empty: the match never fails).
            plain: re.Match[str] = _PLAIN.match(text, pos)  # type: ignore[assignment]  # see the comment above
            if plain.end() > pos:
                out.append(plain.group())
                pos = plain.end()
            if pos >= n:
                raise JsoncError("UnexpectedEndOfString", start)
            ch = text[pos]
            if ch == '"':
                self.pos = pos + 1
                return "".join(out)
            if ch == "\\":
                pos += 1
                if pos >= n:
                    raise JsoncError("UnexpectedEndOfString", start)
                esc = text[pos]
                simple = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f",
                          "n": "\n", "r": "\r", "t": "\t"}
                if esc in simple:
                    out.append(simple[esc])
                    pos += 1
                elif esc == "u":
                    hexdigits = text[pos + 1:pos + 5]
                    if len(hexdigits) == 4 and all(c in "0123456789abcdefABCDEF" for c in hexdigits):
                        code = int(hexdigits, 16)
                        low = text[pos + 5:pos + 11]
                        if 0xD800 <= code < 0xDC00 and re.fullmatch(r"\\u[dD][c-fC-F][0-9a-fA-F]{2}", low):
                            # a UTF-16 surrogate pair written as two escapes is one character
                            code = 0x10000 + ((code - 0xD800) << 10) + (int(low[2:], 16) - 0xDC00)
                            pos += 6
                        out.append(chr(code))
                        pos += 5
                    else:
                        raise JsoncError("InvalidUnicode", start)
                else:
                    raise JsoncError("InvalidEscapeCharacter", start)
                continue
            if ch in _LB:
                raise JsoncError("UnexpectedEndOfString", start)
            if ord(ch) <= 0x1F:
                raise JsoncError("InvalidCharacter", start)
            out.append(ch)
            pos += 1

    def _scan_number(self, start: int) -> int | float:
        text, n = self.text, len(self.text)
        pos = start
        if text[pos] == "-":
            pos += 1
            if pos >= n or text[pos] not in "0123456789":
                # jsonc-parser: a lone minus is an Unknown token → InvalidSymbol.
                raise JsoncError("InvalidSymbol", start)
        if text[pos] == "0":
            pos += 1
        else:
            while pos < n and text[pos] in "0123456789":
                pos += 1
        is_float = False
        if pos < n and text[pos] == ".":
            pos += 1
            if pos < n and text[pos] in "0123456789":
                while pos < n and text[pos] in "0123456789":
                    pos += 1
                is_float = True
            else:
                raise JsoncError("UnexpectedEndOfNumber", start)
        if pos < n and text[pos] in "eE":
            pos += 1
            if pos < n and text[pos] in "+-":
                pos += 1
            if pos < n and text[pos] in "0123456789":
                while pos < n and text[pos] in "0123456789":
                    pos += 1
                is_float = True
            else:
                raise JsoncError("UnexpectedEndOfNumber", start)
        self.pos = pos
        raw = text[start:pos]
        value = float(raw) if is_float else int(raw)
        if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53:
            # JavaScript has one number type: 3.0 is 3 (matters for JSON.stringify in messages).
            return int(value)
        return value

    # -- parser ----------------------------------------------------------------------------
    def parse(self) -> Any:
        self._scan()
        if self.tok.kind == "eof":
            raise JsoncError("ValueExpected", self.tok.offset)
        value = self._value(())
        if self.tok.kind != "eof":
            raise JsoncError("EndOfFileExpected", self.tok.offset)
        return value

    def _value(self, path: KeyPath) -> Any:
        """The value at the current token, with everything nested inside it.

        jsonc-parser's recursive descent, run with an explicit stack so that nesting depth
        costs no Python frames; past ``MAX_DEPTH`` open arrays/objects it stops with
        ``JsoncNestingError`` at the bracket that crosses the limit.
        """
        stack: list[_Open] = []
        while True:
            kind = self.tok.kind
            if kind == "{" or kind == "[":
                if len(stack) >= MAX_DEPTH:
                    raise JsoncNestingError(self.tok.offset)
                stack.append(_Open(kind == "{", path))
                self._scan()
            elif kind in ("string", "number"):
                value = self.tok.value
                self._scan()
                self._deliver(stack, value)
            elif kind in ("true", "false", "null"):
                self._scan()
                self._deliver(stack, {"true": True, "false": False, "null": None}[kind])
            else:
                raise JsoncError("ValueExpected", self.tok.offset)
            # Close finished containers and find where the next value goes.
            while stack:
                top = stack[-1]
                next_path = self._object_member(top) if top.is_object else self._array_item(top)
                if next_path is not None:
                    path = next_path
                    break
                stack.pop()
                if not stack:
                    self.result = top.value
                    return top.value
                self._store(stack[-1], top.value)
            else:
                return self.result

    def _deliver(self, stack: list[_Open], value: Any) -> None:
        if stack:
            self._store(stack[-1], value)
        else:
            self.result = value

    @staticmethod
    def _store(top: _Open, value: Any) -> None:
        if top.is_object:
            result = top.value
            result.pop(top.key, None)  # last duplicate wins, and takes the last position in order
            result[top.key] = value
        else:
            top.value.append(value)
        top.needs_comma = True

    def _object_member(self, top: _Open) -> KeyPath | None:
        """Path of the object's next member value (positioned at it), or None once closed."""
        if self.tok.kind not in ("}", "eof"):
            closing = False
            if self.tok.kind == ",":
                if not top.needs_comma:
                    raise JsoncError("ValueExpected", self.tok.offset)
                self._scan()
                closing = self.tok.kind == "}"  # trailing comma: allowed by wrangler's options
            elif top.needs_comma:
                raise JsoncError("CommaExpected", self.tok.offset)
            if not closing:
                if self.tok.kind != "string":
                    raise JsoncError("PropertyNameExpected", self.tok.offset)
                key = self.tok.value
                self.offsets[top.path + (key,)] = self.tok.offset
                self._scan()
                if self.tok.kind != ":":
                    raise JsoncError("ColonExpected", self.tok.offset)
                self._scan()
                top.key = key
                return top.path + (key,)
        if self.tok.kind != "}":
            raise JsoncError("CloseBraceExpected", self.tok.offset)
        self._scan()
        return None

    def _array_item(self, top: _Open) -> KeyPath | None:
        """Path of the array's next item (positioned at it), or None once closed."""
        if self.tok.kind not in ("]", "eof"):
            closing = False
            if self.tok.kind == ",":
                if not top.needs_comma:
                    raise JsoncError("ValueExpected", self.tok.offset)
                self._scan()
                closing = self.tok.kind == "]"
            elif top.needs_comma:
                raise JsoncError("CommaExpected", self.tok.offset)
            if not closing:
                item_path = top.path + (len(top.value),)
                self.offsets[item_path] = self.tok.offset
                return item_path
        if self.tok.kind != "]":
            raise JsoncError("CloseBracketExpected", self.tok.offset)
        self._scan()
        return None


def parse_jsonc(text: str) -> tuple[Any, dict[KeyPath, int]]:
    """Parse JSONC; returns the value and the offset of every key / array item.

    Raises ``JsoncError`` with jsonc-parser's error name at the first error.
    """
    parser = _Parser(text)
    value = parser.parse()
    return value, parser.offsets


def dumps_js(value: Any, indent: int | None = None, undefined: Any = None) -> str:
    """``JSON.stringify(value, null, indent)`` of a parsed config value (insertion order, JS numbers).

    Iterative, so a value nested thousands of levels deep costs no Python frames. Members
    whose value is ``undefined`` (the sentinel passed as ``undefined``) are left out of
    objects and become ``null`` in arrays, as in JavaScript.
    """
    out: list[str] = []
    # Open containers: [items iterator, is_object, nothing written yet].
    stack: list[list[Any]] = []
    current = value
    while True:
        if isinstance(current, dict):
            out.append("{")
            stack.append([iter(current.items()), True, True])
        elif isinstance(current, (list, tuple)):
            out.append("[")
            stack.append([iter(current), False, True])
        else:
            out.append(_js_scalar(current))
        while stack:
            frame = stack[-1]
            item: Any = next(frame[0], _END)
            if frame[1]:
                while item is not _END and undefined is not None and item[1] is undefined:
                    item = next(frame[0], _END)
            if item is _END:
                stack.pop()
                if indent and not frame[2]:
                    out.append("\n" + " " * (indent * len(stack)))
                out.append("}" if frame[1] else "]")
                continue
            if not frame[2]:
                out.append(",")
            frame[2] = False
            if indent:
                out.append("\n" + " " * (indent * len(stack)))
            if frame[1]:
                key, current = item
                out.append(json.dumps(str(key), ensure_ascii=False) + (": " if indent else ":"))
            else:
                current = item
            if undefined is not None and current is undefined:
                current = None
            break
        else:
            return "".join(out)


_END = object()


def _js_scalar(value: Any) -> str:
    import datetime as _dt

    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return "null"  # JSON.stringify(NaN/Infinity) → null
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        # smol-toml's TomlDate serialises back to its TOML text (e.g. "2025-01-01").
        text = value.isoformat()
        return json.dumps(text[:-6] + "Z" if text.endswith("+00:00") else text)
    return json.dumps(str(value), ensure_ascii=False)
