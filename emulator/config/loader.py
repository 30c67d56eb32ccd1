"""Reading wrangler config files: discovery, parsing with positions, and the typed ``AppConfig``.

- Discovery is wrangler's ``findWranglerConfig``: from a folder upwards look for
  ``wrangler.json``; only if there is none anywhere up the tree, for ``wrangler.jsonc``; then
  ``wrangler.toml`` (file name first, nearest folder second).
- The format follows the suffix (``toml`` / ``jsonc`` / ``json``); both JSON forms use the
  permissive JSONC parser, as wrangler does. A UTF-8 BOM is stripped; a UTF-16/32 BOM is
  refused and bytes that are not UTF-8 read as U+FFFD, as wrangler does. Only regular files of
  up to ``MAX_CONFIG_BYTES`` are read, and nesting is limited before any parser recurses
  (``emulator.config.nesting``; docs/check.md, "Limits").
- ``app_from_config`` maps wrangler's normalized config (after env resolution) onto the
  emulator's model: the app-level fields here, each binding type's part through its
  ``BindingType.read`` (``emulator/bindings/<type>/config.py``); all paths absolute.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from emulator.config.devvars import load_dev_secrets
from emulator.config.diagnostics import KeyPath
from emulator.config.jsonc import JsoncError, JsoncNestingError, LineIndex, parse_jsonc
from emulator.config.jsvalues import UNDEF, get, is_record, typeof
from emulator.config.model import AppConfig, AppKind, AssetsConfig, DevSettings
from emulator.config.nesting import NESTING_ID, TOML_INLINE_MAX_DEPTH, recursion_headroom
from emulator.config.tomlpos import scan_toml
from emulator.errors import EmulatorError

CONFIG_NAMES = ("wrangler.json", "wrangler.jsonc", "wrangler.toml")
FileFormat = Literal["toml", "json", "jsonc", "other"]


class ConfigLookupError(EmulatorError):
    """A usage or I/O problem: a path that does not exist, or no config found (exit code 2)."""


def _run_worker_first(value: Any) -> bool | tuple[str, ...]:
    """``assets.run_worker_first`` as validated: a boolean or an array of route patterns."""
    if isinstance(value, bool):
        return value
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str))
    return False


def find_config(start: Path, upward: bool = True) -> Path | None:
    """Wrangler's discovery from folder ``start``: by file name first, then nearest folder."""
    start = start.resolve()
    folders = [start, *start.parents] if upward else [start]
    for name in CONFIG_NAMES:
        for folder in folders:
            candidate = folder / name
            if candidate.is_file():
                return candidate
    return None


def file_format(path: Path) -> FileFormat:
    name = str(path)
    if name.endswith("toml"):
        return "toml"
    if name.endswith("jsonc"):
        return "jsonc"
    if name.endswith("json"):
        return "json"
    return "other"


@dataclass
class ParseProblem:
    message: str
    line: int | None
    column: int | None
    # None for wrangler's own verdicts; ours (the nesting limit) carry a CFE id.
    id: str | None = None


@dataclass
class ParsedFile:
    """A config file read and parsed; ``raw`` is None when it could not be read or parsed."""

    path: Path
    format: FileFormat
    raw: dict[str, Any] | None
    problem: ParseProblem | None = None
    positions: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)
    # For files that did not parse: does the text mention `pages_build_output_dir` (report
    # kind), and does it have a `[workspace]` line (a broken workspace file)?
    mentions_pages: bool = False
    mentions_workspace: bool = False

    def locate(self, key_path: KeyPath) -> tuple[int | None, int | None]:
        """Line/column of the key, or of its nearest ancestor that is in the file."""
        path = tuple(key_path)
        while path:
            where = self.positions.get(path)
            if where is not None:
                return where
            path = path[:-1]
        return (1, 1) if self.raw is not None else (None, None)


_TOML_POS = re.compile(r"\(at line (\d+), column (\d+)\)")
_WORKSPACE_LINE = re.compile(r"^[ \t]*\[workspace\][ \t\r]*$", re.MULTILINE)
# The largest config file we read. Wrangler has no limit; a config this large is a mistake
# (a wrong path), and reading it whole would only cost memory (docs/check.md, "Limits").
MAX_CONFIG_BYTES = 64 * 1024 * 1024
# Byte-order marks wrangler refuses (its `removeBOMAndValidate`), longest first: UTF-32 LE
# starts like UTF-16 LE.
_UNSUPPORTED_BOMS = ((b"\x00\x00\xfe\xff", "UTF-32 BE"), (b"\xff\xfe\x00\x00", "UTF-32 LE"),
                     (b"\xfe\xff", "UTF-16 BE"), (b"\xff\xfe", "UTF-16 LE"))
# tomllib recurses about three frames per inline array/table; the nesting pre-scan keeps
# documents it sees to fewer than TOML_INLINE_MAX_DEPTH of those.
_TOMLLIB_FRAMES = 4 * TOML_INLINE_MAX_DEPTH


def _read_bytes(path: Path) -> bytes | str:
    """The file's bytes, or why it could not be read (wrangler: `Could not read file`)."""
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            return "It is a directory."
        if not stat.S_ISREG(info.st_mode):
            # A FIFO would block and a device may never end: only regular files are read.
            return "It is not a regular file."
        if info.st_size > MAX_CONFIG_BYTES:
            return _too_large(info.st_size)
        with path.open("rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        return f"{exc.strerror or exc}."
    if len(data) > MAX_CONFIG_BYTES:
        return _too_large(len(data))
    return data


def _too_large(size: int) -> str:
    return (f"It is {size / 2**20:.1f} MiB; cf-emulator reads config files of up to "
            f"{MAX_CONFIG_BYTES // 2**20} MiB.")


def _load_toml(text: str) -> tuple[Any, ParseProblem | None]:
    """``tomllib`` on a text the nesting pre-scan has passed: the value, or its first error."""
    try:
        with recursion_headroom(_TOMLLIB_FRAMES):
            return tomllib.loads(text), None
    except tomllib.TOMLDecodeError as exc:
        message = str(exc).splitlines()[0] if str(exc) else "Invalid TOML"
        m = _TOML_POS.search(message)
        where: tuple[int | None, int | None] = (int(m.group(1)), int(m.group(2))) if m else (None, None)
        if m is None and "(at end of document)" in message:
            where = LineIndex(text).position(len(text))
        return None, ParseProblem(message, *where)


def read_config_file(path: Path) -> ParsedFile:
    fmt = file_format(path)
    data = _read_bytes(path)
    if isinstance(data, str):
        # wrangler: ParseError `Could not read file: <file>`, with the reason as a note.
        return ParsedFile(path, fmt, None, ParseProblem(f"Could not read file: {path}\n{data}", None, None))
    for bom, encoding in _UNSUPPORTED_BOMS:
        if data.startswith(bom):
            return ParsedFile(path, fmt, None, ParseProblem(
                f"Configuration file contains {encoding} byte order marker\n"
                f"The file appears to be encoded as {encoding}. Please save the file as UTF-8 without BOM.",
                1, 1))
    # Like wrangler (Node's Buffer.toString), bytes that are not UTF-8 become U+FFFD and the
    # parser judges the text.
    text = data.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    mentions_pages = "pages_build_output_dir" in text
    mentions_workspace = _WORKSPACE_LINE.search(text) is not None

    def unparsed(problem: ParseProblem) -> ParsedFile:
        return ParsedFile(path, fmt, None, problem, mentions_pages=mentions_pages,
                          mentions_workspace=mentions_workspace)

    if fmt == "toml":
        scan = scan_toml(text)
        if scan.nesting is not None:
            # A syntax error in an earlier statement comes first, as in wrangler's one-pass parser.
            _, problem = _load_toml(text[:scan.nesting.statement])
            if problem is None:
                line, column = LineIndex(text).position(scan.nesting.offset)
                problem = ParseProblem(scan.nesting.message, line, column, scan.nesting.id)
            return unparsed(problem)
        raw, problem = _load_toml(text)
        if problem is not None:
            return unparsed(problem)
        return ParsedFile(path, fmt, raw, None, scan.positions(text))
    if fmt in ("json", "jsonc"):
        index = LineIndex(text)
        try:
            raw, offsets = parse_jsonc(text)
        except JsoncError as exc:
            line, col = index.position(exc.offset)
            if isinstance(exc, JsoncNestingError):
                return unparsed(ParseProblem(exc.message, line, col, NESTING_ID))
            return unparsed(ParseProblem(exc.code, line, col))
        positions = {k: index.position(v) for k, v in offsets.items()}
        if isinstance(raw, list):
            # Object.keys on an array: indexes become "fields".
            raw = {str(i): v for i, v in enumerate(raw)}
        elif not isinstance(raw, dict):
            raw = {}
        return ParsedFile(path, fmt, raw, None, positions)
    # Any other path is treated as an empty config by wrangler.
    return ParsedFile(path, fmt, {}, None, {})


def is_workspace(raw: dict[str, Any] | None) -> bool:
    """Our workspace file is recognised by its ``[workspace]`` table."""
    return isinstance(raw, dict) and isinstance(raw.get("workspace"), dict)


# ---------------------------------------------------------------------------------------------


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _num(value: Any) -> int | float | None:
    return value if typeof(value) == "number" else None


def app_from_config(config: dict[str, Any], config_path: Path, env_name: str | None,
                    raw: dict[str, Any]) -> AppConfig:
    """The emulator's typed view of a normalized (env-resolved) wrangler config."""
    root = config_path.parent

    def absolute(value: Any) -> Path | None:
        return Path(os.path.normpath(root.resolve() / value)) if isinstance(value, str) else None

    from emulator.bindings import ConfigContext, binding_types, claimed_keys

    ctx = ConfigContext(root, claimed_keys())
    bindings = {t.name: t.read(config, ctx) for t in binding_types()}
    crons_raw = get(config.get("triggers"), "crons")
    crons = tuple(c for c in crons_raw if isinstance(c, str)) if isinstance(crons_raw, list) else ()
    assets_raw: Any = config.get("assets")
    assets = None
    if isinstance(assets_raw, dict):
        assets = AssetsConfig(directory=absolute(assets_raw.get("directory")),
                              binding=_str(assets_raw.get("binding")),
                              html_handling=_str(assets_raw.get("html_handling")) or "auto-trailing-slash",
                              not_found_handling=_str(assets_raw.get("not_found_handling")) or "none",
                              run_worker_first=_run_worker_first(assets_raw.get("run_worker_first")))
    raw_dev: dict[str, Any] = raw["dev"] if is_record(raw.get("dev")) else {}
    port = _num(raw_dev.get("port", UNDEF))
    dev = DevSettings(ip=_str(raw_dev.get("ip")), port=int(port) if port is not None else None)
    vars_raw: Any = config.get("vars")
    app_vars = dict(vars_raw) if isinstance(vars_raw, dict) else {}
    secrets_decl = config.get("secrets")
    secrets, _used, _missing = load_dev_secrets(root, env_name,
                                                secrets_decl if is_record(secrets_decl) else None)
    output_dir = config.get("pages_build_output_dir")
    kind: AppKind = "pages" if raw.get("pages_build_output_dir", UNDEF) is not UNDEF else "worker"
    name = _str(config.get("name")) or root.name
    flags = config.get("compatibility_flags")
    return AppConfig(
        config_path=config_path.resolve(),
        kind=kind,
        name=name,
        main=Path(config["main"]) if isinstance(config.get("main"), str) else None,
        pages_build_output_dir=Path(output_dir) if isinstance(output_dir, str) else None,
        compatibility_date=_str(config.get("compatibility_date")),
        compatibility_flags=tuple(f for f in flags if isinstance(f, str)) if isinstance(flags, list) else (),
        vars=app_vars,
        secrets=secrets,
        bindings=bindings,
        crons=crons,
        assets=assets,
        dev=dev,
        env_name=env_name,
    )
