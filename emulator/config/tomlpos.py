"""Where each key of a TOML document is: key path → (line, column).

``tomllib`` returns values without positions, so after it has accepted a document we scan the
text once more with a deliberately small scanner that understands just enough TOML to follow
key paths: table headers ``[a.b]``, arrays of tables ``[[a.b]]`` (counting their elements per
parent), dotted and quoted keys, inline tables and arrays (also spanning lines), and the four
string forms (so ``#``, ``=`` or brackets inside strings don't confuse it). Positions are
1-based and point at the first character of the key. The scanner never raises: anything it
cannot follow simply has no position.
"""

from __future__ import annotations

from typing import Union

KeyPath = tuple[Union[str, int], ...]

_BARE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        self.pos = 0
        self.line = 1
        self.line_start = 0
        self.positions: dict[KeyPath, tuple[int, int]] = {}
        self.aot_index: dict[KeyPath, int] = {}

    # -- low level ---------------------------------------------------------------------------
    def _here(self) -> tuple[int, int]:
        return self.line, self.pos - self.line_start + 1

    def _advance(self, count: int = 1) -> None:
        for _ in range(count):
            if self.pos >= self.n:
                return
            if self.text[self.pos] == "\n":
                self.line += 1
                self.line_start = self.pos + 1
            self.pos += 1

    def _peek(self, k: int = 0) -> str:
        i = self.pos + k
        return self.text[i] if i < self.n else ""

    def _skip_ws(self, newlines: bool = False) -> None:
        while self.pos < self.n:
            ch = self.text[self.pos]
            if ch in " \t\r" or (newlines and ch == "\n"):
                self._advance()
            elif ch == "#":
                while self.pos < self.n and self.text[self.pos] != "\n":
                    self._advance()
            else:
                return

    def _skip_line(self) -> None:
        while self.pos < self.n and self.text[self.pos] != "\n":
            self._advance()
        self._advance()

    def _string(self) -> str:
        """Read a string at pos (any of the four forms); returns its (roughly decoded) text."""
        text = self.text
        if text.startswith('"""', self.pos) or text.startswith("'''", self.pos):
            quote = text[self.pos:self.pos + 3]
            self._advance(3)
            start = self.pos
            while self.pos < self.n:
                if quote == '"""' and text[self.pos] == "\\":
                    self._advance(2)
                    continue
                if text.startswith(quote, self.pos):
                    # up to two extra quotes may belong to the content
                    while text.startswith(quote, self.pos + 1):
                        self._advance()
                    value = text[start:self.pos]
                    self._advance(3)
                    return value
                self._advance()
            return text[start:]
        quote = text[self.pos]
        self._advance()
        out: list[str] = []
        while self.pos < self.n and text[self.pos] != quote and text[self.pos] != "\n":
            if quote == '"' and text[self.pos] == "\\":
                nxt = self._peek(1)
                simple = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "b": "\b", "f": "\f"}
                if nxt in simple:
                    out.append(simple[nxt])
                    self._advance(2)
                    continue
                if nxt in "uU":
                    width = 4 if nxt == "u" else 8
                    digits = text[self.pos + 2:self.pos + 2 + width]
                    try:
                        out.append(chr(int(digits, 16)))
                    except ValueError:
                        pass
                    self._advance(2 + width)
                    continue
                self._advance(2)
                continue
            out.append(text[self.pos])
            self._advance()
        self._advance()  # closing quote
        return "".join(out)

    def _key(self) -> list[tuple[str, tuple[int, int]]]:
        """A (possibly dotted) key: its parts with the position of each part."""
        parts: list[tuple[str, tuple[int, int]]] = []
        while True:
            self._skip_ws()
            where = self._here()
            ch = self._peek()
            if ch in ('"', "'"):
                parts.append((self._string(), where))
            else:
                start = self.pos
                while self.pos < self.n and self.text[self.pos] in _BARE:
                    self._advance()
                if self.pos == start:
                    return parts
                parts.append((self.text[start:self.pos], where))
            self._skip_ws()
            if self._peek() == ".":
                self._advance()
                continue
            return parts

    def _record(self, path: KeyPath, where: tuple[int, int]) -> None:
        self.positions.setdefault(path, where)

    # -- grammar ---------------------------------------------------------------------------
    def _resolve(self, keys: list[str]) -> KeyPath:
        """Concrete path of a header prefix: arrays of tables resolve to their last element."""
        path: KeyPath = ()
        for k in keys:
            path = path + (k,)
            if path in self.aot_index:
                path = path + (self.aot_index[path],)
        return path

    def run(self) -> dict[KeyPath, tuple[int, int]]:
        table: KeyPath = ()
        while self.pos < self.n:
            self._skip_ws(newlines=True)
            if self.pos >= self.n:
                break
            if self._peek() == "[":
                header_at = self._here()  # point at the header's bracket, column 1 usually
                is_aot = self._peek(1) == "["
                self._advance(2 if is_aot else 1)
                parts = self._key()
                keys = [k for k, _ in parts]
                if not keys:
                    self._skip_line()
                    continue
                where = header_at
                if is_aot:
                    parent = self._resolve(keys[:-1])
                    arr = parent + (keys[-1],)
                    idx = self.aot_index.get(arr, -1) + 1
                    self.aot_index[arr] = idx
                    self._record(arr, where)
                    table = arr + (idx,)
                else:
                    table = self._resolve(keys)
                prefix: KeyPath = ()
                for k in table:
                    prefix = prefix + (k,)
                    self._record(prefix, where)
                self._skip_line()
                continue
            self._keyval(table)
            self._skip_ws()
            if self._peek() == "\n":
                self._advance()
            elif self.pos < self.n:
                self._skip_line()
        return self.positions

    def _keyval(self, base: KeyPath) -> None:
        parts = self._key()
        if not parts:
            self._advance()
            return
        path = base
        for k, where in parts:
            path = path + (k,)
            self._record(path, parts[0][1] if len(parts) > 1 else where)
        self._skip_ws()
        if self._peek() != "=":
            return
        self._advance()
        self._skip_ws()
        self._value(path)

    def _value(self, path: KeyPath) -> None:
        ch = self._peek()
        if ch in ('"', "'"):
            self._string()
        elif ch == "{":
            self._advance()
            while self.pos < self.n:
                self._skip_ws(newlines=True)
                ch = self._peek()
                if ch == "}":
                    self._advance()
                    return
                if ch == ",":
                    self._advance()
                    continue
                before = self.pos
                self._keyval(path)
                if self.pos == before:
                    self._advance()
        elif ch == "[":
            self._advance()
            index = 0
            while self.pos < self.n:
                self._skip_ws(newlines=True)
                ch = self._peek()
                if ch == "]":
                    self._advance()
                    return
                if ch == ",":
                    self._advance()
                    continue
                self._record(path + (index,), self._here())
                before = self.pos
                self._value(path + (index,))
                if self.pos == before:
                    self._advance()
                index += 1
        else:
            while self.pos < self.n and self.text[self.pos] not in ",]}\n#":
                self._advance()


def toml_positions(text: str) -> dict[KeyPath, tuple[int, int]]:
    """Key path → (line, column) for a document ``tomllib`` has accepted."""
    try:
        return _Scanner(text).run()
    except Exception:  # noqa: BLE001 — positions are a nicety; never fail a check over them
        return {}
