"""Stand-ins for a running emulator, as CLI verbs see one: the state directory's lock held
by an ``emulator`` and ``server.json`` written under it."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any
from collections.abc import Iterator

from emulator.state import StateDir, StateLock


@contextmanager
def announced_server(state: StateDir, internal_url: str, **info: Any) -> Iterator[StateLock]:
    """Hold ``state`` as an emulator serving ``internal_url`` would, until the block ends."""
    lock = StateLock(state)
    assert lock.try_acquire("emulator", "tests"), f"{state.root} is already held"
    state.write_server_info({"internal_url": internal_url, **info}, lock)
    try:
        yield lock
    finally:
        state.clear_server_info()
        lock.release()
