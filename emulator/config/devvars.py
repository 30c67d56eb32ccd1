"""Local dev secrets: ``.dev.vars`` / ``.dev.vars.<env>`` or ``.env`` files, as wrangler reads them.

Wrangler's ``getVarsForDev`` (directory = the config file's folder):

1. ``.dev.vars.<env>`` when an env is active, else (or when that file is missing) ``.dev.vars``;
   the first file that exists is used alone, not merged.
2. Only if no ``.dev.vars*`` exists (and ``CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV`` is not
   ``false``): ``.env``, ``.env.local``, ``.env.<env>``, ``.env.<env>.local`` merged in that
   order with ``${VAR}`` expansion; ``os.environ`` joins only with
   ``CLOUDFLARE_INCLUDE_PROCESS_ENV`` (or when the config declares ``secrets``).
3. With ``secrets.required`` only the listed keys are taken; otherwise every loaded key.

Files use the ``dotenv`` npm package's syntax, reproduced by ``parse_dotenv``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from collections.abc import Mapping

# The `dotenv` package's LINE regex (v16), verbatim apart from Python syntax.
_LINE = re.compile(
    r"""(?:^|^)\s*(?:export\s+)?([\w.-]+)(?:\s*=\s*?|:\s+?)(\s*'(?:\\'|[^'])*'|\s*"(?:\\"|[^"])*"|\s*`(?:\\`|[^`])*`|[^#\r\n]+)?\s*(?:#.*)?(?:$|$)""",
    re.MULTILINE | re.ASCII,
)
_QUOTED = re.compile(r"""^(['"`])([\s\S]*)\1$""", re.MULTILINE)
_EXPAND = re.compile(r"(\\)?\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|(\\)?\$([A-Za-z_][A-Za-z0-9_]*)")


def parse_dotenv(text: str) -> dict[str, str]:
    """``dotenv.parse``: KEY=value lines, quotes, ``#`` comments, ``export`` prefix."""
    out: dict[str, str] = {}
    lines = re.sub(r"\r\n?", "\n", text)
    for match in _LINE.finditer(lines):
        key = match.group(1)
        value = (match.group(2) or "").strip()
        quote = value[:1]
        value = _QUOTED.sub(r"\2", value)
        if quote == '"':
            value = value.replace("\\n", "\n").replace("\\r", "\r")
        out[key] = value
    return out


def _expand(values: dict[str, str], process_env: Mapping[str, str]) -> dict[str, str]:
    """``dotenv-expand``: ``${VAR}``, ``${VAR:-default}`` and ``$VAR`` from earlier values."""
    result: dict[str, str] = {}

    def lookup(name: str, default: str | None) -> str:
        if name in process_env:
            return process_env[name]
        if name in result:
            return result[name]
        if name in values:
            return values[name]
        return default or ""

    for key, value in values.items():
        def repl(m: re.Match[str]) -> str:
            if m.group(1) or m.group(4):
                return m.group(0)[1:]  # escaped: keep the literal
            if m.group(2):
                return lookup(m.group(2), m.group(3))
            return lookup(m.group(5), None)
        result[key] = _EXPAND.sub(repl, value)
    return result


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    except OSError:
        return None


def load_dev_secrets(config_dir: Path, env_name: str | None, secrets_decl: Any = None,
                     environ: Mapping[str, str] | None = None) -> tuple[dict[str, str], Path | None, list[str]]:
    """Secrets for local dev: (values, the .dev.vars file used or None, missing required names)."""
    environ = os.environ if environ is None else environ
    loaded: dict[str, str] | None = None
    used: Path | None = None
    candidates = ([config_dir / f".dev.vars.{env_name}"] if env_name else []) + [config_dir / ".dev.vars"]
    for candidate in candidates:
        text = _read(candidate)
        if text is not None:
            loaded, used = parse_dotenv(text), candidate
            break
    if loaded is None and environ.get("CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV", "true").lower() != "false":
        names = [".env", ".env.local"] + ([f".env.{env_name}", f".env.{env_name}.local"] if env_name else [])
        merged: dict[str, str] = {}
        for name in names:
            text = _read(config_dir / name)
            if text is not None:
                merged.update(parse_dotenv(text))
                used = used or config_dir / name
        include_process = secrets_decl is not None or environ.get(
            "CLOUDFLARE_INCLUDE_PROCESS_ENV", "").lower() == "true"
        process_env: dict[str, str] = dict(environ) if include_process else {}
        loaded = dict(process_env)
        # dotenv-expand lets an already-set process variable win over the file's value.
        loaded.update({k: v for k, v in _expand(merged, process_env).items() if k not in process_env})
    required = secrets_decl.get("required") if isinstance(secrets_decl, dict) else None
    if isinstance(required, list):
        picked = {k: loaded[k] for k in required if isinstance(k, str) and loaded is not None and k in loaded}
        missing = [k for k in required if isinstance(k, str) and (loaded is None or k not in loaded)]
        return picked, used, missing
    return dict(loaded or {}), used, []
