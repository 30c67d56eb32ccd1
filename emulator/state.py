"""The state directory: one subfolder per binding type.

Default `.emulator/` next to the workspace (or the single app's config); `--persist-to DIR`
moves it. Layout::

    <state>/queues/queues.sqlite3      queue broker (WAL)
    <state>/r2/<bucket>/...            R2 objects and their metadata
    <state>/d1/<database>.sqlite3      one SQLite file per D1 database (WAL)
    <state>/workflows/workflows.sqlite3
    <state>/durable_objects/<script>-<Class>/   one <id>.sqlite3 per object, metadata.sqlite3
    <state>/server.json                address of a running `dev` (for the CLI)
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_STATE_DIRNAME = ".emulator"


class StatePathError(ValueError):
    """A name would resolve outside the state directory."""


def safe_component(name: str) -> str:
    """A file-system-safe, reversible-enough name for a resource (queue, bucket, database).

    Resource names may hold `/` or spaces (Miniflare tests use ``"my/ Queue"``); they must
    never escape the state directory.
    """
    cleaned = re.sub(r"[^A-Za-z0-9._-]", lambda m: f"%{ord(m.group()):02X}", name)
    if cleaned in {"", ".", ".."}:
        cleaned = cleaned.replace(".", "%2E") or "%00"
    return cleaned


@dataclass(frozen=True)
class StateDir:
    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root).resolve())

    def binding_dir(self, binding_type: str) -> Path:
        path = self.root / safe_component(binding_type)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def inside(self, *parts: str) -> Path:
        """A path under the state root; refuses anything that would leave it."""
        path = self.root.joinpath(*parts).resolve()
        if path != self.root and self.root not in path.parents:
            raise StatePathError(f"{'/'.join(parts)!r} is outside the state directory")
        return path

    # --- discovery of a running `dev`, so CLI verbs can talk to it -------------------
    @property
    def server_file(self) -> Path:
        return self.root / "server.json"

    def write_server_info(self, info: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.server_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({**info, "pid": os.getpid()}))
        tmp.replace(self.server_file)

    def read_server_info(self) -> dict[str, Any] | None:
        """The running server's address, or None if none is running."""
        try:
            info = json.loads(self.server_file.read_text())
        except (OSError, ValueError):
            return None
        pid = info.get("pid")
        if not isinstance(pid, int):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return info

    def clear_server_info(self) -> None:
        try:
            self.server_file.unlink()
        except FileNotFoundError:
            pass
