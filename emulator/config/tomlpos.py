"""Where each key of a TOML document is (key path → (line, column)), and how deeply it nests.

``tomllib`` returns values without positions, so we scan the text with a deliberately small
scanner that understands just enough TOML to follow key paths: table headers ``[a.b]``, arrays
of tables ``[[a.b]]`` (counting their elements per parent), dotted and quoted keys, inline
tables and arrays (also spanning lines), and the four string forms (so ``#``, ``=`` or brackets
inside strings don't confuse it). Positions are 1-based and point at the first character of
the key. The scanner never raises: anything it cannot follow simply has no position.

The same pass runs *before* ``tomllib`` and reports the first place the document crosses a
nesting limit (``emulator.config.nesting``), so that neither ``tomllib``'s recursion nor ours
ever meets a document nested deeper than we judge. It keeps its own stack for inline values
rather than recursing, and moves through the text with ``str.find`` and regular expressions,
so a 10 MB config scans in well under a second.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from emulator.config.jsonc import LineIndex
from emulator.config.nesting import MAX_DEPTH, TOML_INLINE_MAX_DEPTH, NestingProblem

KeyPath = tuple[str | int, ...]

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_SPACE = re.compile(r"(?:[ \t\r]+|#[^\n]*)*")
_SPACE_NL = re.compile(r"(?:[ \t\r\n]+|#[^\n]*)*")
_SCALAR = re.compile(r"[^,\]}\n#]*")
_BASIC_BODY = re.compile(r'(?:[^"\\\n]|\\[^\n])*')
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "b": "\b", "f": "\f"}


@dataclass
class TomlScan:
    """What one pass over a TOML text found: key offsets and the first nesting problem."""

    offsets: dict[KeyPath, int] = field(default_factory=dict)
    nesting: NestingProblem | None = None

    def positions(self, text: str) -> dict[KeyPath, tuple[int, int]]:
        index = LineIndex(text)
        return {k: index.position(v) for k, v in self.offsets.items()}


def _decode_basic(raw: str) -> str:
    """A basic string's body with its escapes (roughly: enough to name keys)."""
    if "\\" not in raw:
        return raw
    out: list[str] = []
    i, n = 0, len(raw)
    while i < n:
        ch = raw[i]
        if ch != "\\" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = raw[i + 1]
        if nxt in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[nxt])
            i += 2
        elif nxt in "uU":
            width = 4 if nxt == "u" else 8
            try:
                out.append(chr(int(raw[i + 2:i + 2 + width], 16)))
            except ValueError:
                pass
            i += 2 + width
        else:
            i += 2
    return "".join(out)


class _Stop(Exception):
    """A nesting limit was crossed: the scan ends there."""


class _Scanner:
    def __init__(self, text: str, max_depth: int, inline_max_depth: int) -> None:
        self.text = text
        self.n = len(text)
        self.pos = 0
        self.max_depth = max_depth
        self.inline_max_depth = inline_max_depth
        self.scan = TomlScan()
        self.aot_index: dict[KeyPath, int] = {}
        self.statement = 0

    # -- low level ---------------------------------------------------------------------------
    def _peek(self, k: int = 0) -> str:
        i = self.pos + k
        return self.text[i] if i < self.n else ""

    def _skip_ws(self, newlines: bool = False) -> None:
        self.pos = (_SPACE_NL if newlines else _SPACE).match(self.text, self.pos).end()  # type: ignore[union-attr]  # the pattern matches the empty string: never None

    def _skip_line(self) -> None:
        end = self.text.find("\n", self.pos)
        self.pos = self.n if end < 0 else end + 1

    def _string(self) -> str:
        """Read a string at pos (any of the four forms); returns its (roughly decoded) text."""
        text, start = self.text, self.pos
        if text.startswith('"""', start) or text.startswith("'''", start):
            quote = text[start:start + 3]
            i = start + 3
            end = text.find(quote, i)
            while True:
                if quote == '"""' and end >= 0:
                    escape = text.find("\\", i, end)
                    if escape >= 0:  # an escaped character (maybe a quote) comes first
                        i = escape + 2
                        if i > end:
                            end = text.find(quote, i)
                        continue
                if end < 0:
                    self.pos = self.n
                    return text[start + 3:]
                # up to two extra quotes belong to the content
                extra = 0
                while extra < 2 and text.startswith(quote, end + 1):
                    end += 1
                    extra += 1
                self.pos = end + 3
                return text[start + 3:end]
        quote = text[start]
        if quote == "'":
            end = text.find("'", start + 1)
            newline = text.find("\n", start + 1)
            if end < 0 or 0 <= newline < end:
                self.pos = self.n if newline < 0 else newline
                return text[start + 1:self.pos]
            self.pos = end + 1
            return text[start + 1:end]
        body_end = _BASIC_BODY.match(text, start + 1).end()  # type: ignore[union-attr]  # the pattern matches the empty string: never None
        self.pos = body_end + 1 if text.startswith('"', body_end) else body_end
        return _decode_basic(text[start + 1:body_end])

    def _key(self) -> list[tuple[str, int]]:
        """A (possibly dotted) key: its parts with the offset of each part."""
        parts: list[tuple[str, int]] = []
        while True:
            self._skip_ws()
            where = self.pos
            ch = self._peek()
            if ch in ('"', "'"):
                parts.append((self._string(), where))
            else:
                m = _BARE.match(self.text, self.pos)
                if m is None:
                    return parts
                self.pos = m.end()
                parts.append((m.group(), where))
            self._skip_ws()
            if self._peek() == ".":
                self.pos += 1
                continue
            return parts

    def _record(self, path: KeyPath, where: int) -> None:
        self.scan.offsets.setdefault(path, where)

    def _container(self, path: KeyPath, where: int) -> None:
        """A table or array at ``path`` opens at ``where``: its contents nest one level deeper
        than its key path is long (the top-level table is level one)."""
        if len(path) + 1 > self.max_depth:
            self._stop(where, wrangler=False)

    def _stop(self, where: int, wrangler: bool) -> None:
        self.scan.nesting = NestingProblem(where, self.statement, wrangler)
        raise _Stop

    # -- grammar ---------------------------------------------------------------------------
    def _resolve(self, parts: list[tuple[str, int]]) -> KeyPath:
        """Concrete path of a header prefix: arrays of tables resolve to their last element."""
        path: KeyPath = ()
        for k, where in parts:
            path = path + (k,)
            self._container(path, where)
            if path in self.aot_index:
                path = path + (self.aot_index[path],)
                self._container(path, where)
        return path

    def run(self) -> TomlScan:
        try:
            self._run()
        except _Stop:
            pass
        return self.scan

    def _run(self) -> None:
        table: KeyPath = ()
        while self.pos < self.n:
            self._skip_ws(newlines=True)
            if self.pos >= self.n:
                break
            self.statement = self.pos
            if self._peek() == "[":
                header_at = self.pos  # point at the header's bracket, column 1 usually
                is_aot = self._peek(1) == "["
                self.pos += 2 if is_aot else 1
                parts = self._key()
                if not parts:
                    self._skip_line()
                    continue
                if is_aot:
                    parent = self._resolve(parts[:-1])
                    arr = parent + (parts[-1][0],)
                    self._container(arr, parts[-1][1])
                    idx = self.aot_index.get(arr, -1) + 1
                    self.aot_index[arr] = idx
                    self._record(arr, header_at)
                    table = arr + (idx,)
                    self._container(table, parts[-1][1])
                else:
                    table = self._resolve(parts)
                prefix: KeyPath = ()
                for k in table:
                    prefix = prefix + (k,)
                    self._record(prefix, header_at)
                self._skip_line()
                continue
            self._keyval(table)
            self._skip_ws()
            if self._peek() == "\n":
                self.pos += 1
            elif self.pos < self.n:
                self._skip_line()

    def _key_path(self, base: KeyPath, parts: list[tuple[str, int]]) -> KeyPath:
        """Record a key's path (dotted parts all at the key's start) and the tables it opens."""
        path = base
        for i, (k, where) in enumerate(parts):
            path = path + (k,)
            self._record(path, parts[0][1] if len(parts) > 1 else where)
            if i < len(parts) - 1:
                self._container(path, where)
        return path

    def _keyval(self, base: KeyPath) -> None:
        path = self._key_equals(base)
        if path is not None:
            self._value(path)

    def _key_equals(self, base: KeyPath) -> KeyPath | None:
        """Read ``key =`` (recording the key's path) up to the value; None when no value
        follows (no key here: one character is skipped; no ``=``: left where it is)."""
        parts = self._key()
        if not parts:
            self.pos += 1
            return None
        path = self._key_path(base, parts)
        self._skip_ws()
        if self._peek() != "=":
            return None
        self.pos += 1
        self._skip_ws()
        return path

    def _value(self, path: KeyPath) -> None:
        """One value and everything inline inside it, with an explicit stack.

        A stack entry is ``[path, next array index]`` (index ``-1`` for an inline table).
        """
        stack: list[list[object]] = []
        text = self.text
        while True:
            # -- at the start of a value, `len(stack)` inline levels down
            if len(stack) >= self.inline_max_depth:
                self._stop(self.pos, wrangler=True)  # smol-toml's maxDepth, at the value
            ch = self._peek()
            if ch in ('"', "'"):
                self._string()
            elif ch == "{" or ch == "[":
                self._container(path, self.pos)
                self.pos += 1
                stack.append([path, -1 if ch == "{" else 0])
            else:
                end = _SCALAR.match(text, self.pos).end()  # type: ignore[union-attr]  # the pattern matches the empty string: never None
                self.pos = end if end > self.pos else self.pos + 1
            # -- find the next value inside the open inline values, closing finished ones
            while True:
                if not stack:
                    return
                frame = stack[-1]
                frame_path: KeyPath = frame[0]  # type: ignore[assignment]  # a frame is [path, index]
                self._skip_ws(newlines=True)
                ch = self._peek()
                if ch == "":
                    return
                if frame[1] == -1:  # inline table
                    if ch == "}":
                        self.pos += 1
                        stack.pop()
                        continue
                    if ch == ",":
                        self.pos += 1
                        continue
                    member = self._key_equals(frame_path)
                    if member is None:
                        continue
                    path = member
                    break
                if ch == "]":
                    self.pos += 1
                    stack.pop()
                    continue
                if ch == ",":
                    self.pos += 1
                    continue
                index = frame[1]
                assert isinstance(index, int)
                frame[1] = index + 1
                path = frame_path + (index,)
                self._record(path, self.pos)
                break


def scan_toml(text: str, max_depth: int = MAX_DEPTH,
              inline_max_depth: int = TOML_INLINE_MAX_DEPTH) -> TomlScan:
    """Key offsets of a TOML text and the first place it nests too deeply (if any)."""
    try:
        return _Scanner(text, max_depth, inline_max_depth).run()
    except Exception:  # noqa: BLE001 — positions are a nicety; never fail a check over them
        return TomlScan()


def toml_positions(text: str) -> dict[KeyPath, tuple[int, int]]:
    """Key path → (line, column) for a document ``tomllib`` has accepted."""
    return scan_toml(text).positions(text)
