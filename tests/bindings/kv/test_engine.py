"""``KVEngine``: listing from the index agrees with a plain reference; expiry purge; persistence."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.bindings.kv.engine import KVEngine, namespace_path, stored_namespace_id

# Keys from a small alphabet (so prefixes collide) plus the code points that matter for
# byte order: multi-byte UTF-8, the last code point, the ones around the surrogates.
ALPHABET = st.sampled_from(["a", "b", "/", "é", "\uffff", "\U0010ffff", "\ud7ff", "\ue000", "~"])
KEYS = st.text(alphabet=ALPHABET, min_size=1, max_size=4)


def reference_list(keys: set[str], prefix: str, after: str | None, limit: int) -> tuple[list[str], bool]:
    """What `list` means: every key with the prefix, after the cursor, in UTF-8 byte order."""
    ordered = sorted((k for k in keys if k.startswith(prefix) and (after is None or k.encode() > after.encode())),
                     key=lambda k: k.encode())
    return ordered[:limit], len(ordered) > limit


@settings(max_examples=60, deadline=None)
@given(keys=st.sets(KEYS, max_size=30), prefix=st.text(alphabet=ALPHABET, max_size=2),
       after=st.none() | KEYS, limit=st.integers(1, 8))
def test_list_matches_the_reference(tmp_path_factory: object, keys: set[str], prefix: str, after: str | None,
                                    limit: int) -> None:
    folder = tmp_path_factory.mktemp("kv")  # type: ignore[attr-defined]  # hypothesis passes pytest's TempPathFactory
    engine = KVEngine(folder / "ns.sqlite3", "ns")
    try:
        engine.put_many(((k, b"v", None, None) for k in keys), now_ms=0)
        found, more = engine.list(prefix, after, limit, now_ms=0)
        assert ([name for name, _, _ in found], more) == reference_list(keys, prefix, after, limit)
    finally:
        engine.close()


def test_expired_entries_are_purged_and_not_listed(engine: KVEngine) -> None:
    engine.put("old", b"v", 1_000, None, now_ms=0)
    engine.put("new", b"v", 5_000, None, now_ms=0)
    engine.put("forever", b"v", None, None, now_ms=0)
    names = [name for name, _, _ in engine.list("", None, 10, now_ms=2_000)[0]]
    assert names == ["forever", "new"]
    assert engine.get("old", now_ms=2_000) is None
    assert engine.count(now_ms=2_000) == 2
    assert engine.purge_expired(now_ms=6_000) == 1
    rows = engine.conn.execute("SELECT key FROM entries ORDER BY key").fetchall()
    assert rows == [("forever",)]


async def test_large_values_off_the_loop_and_persistence(tmp_path: Path) -> None:
    path = namespace_path(tmp_path, "my/ns id")
    assert path.parent == tmp_path and "/" not in path.name
    engine = KVEngine(path, "my/ns id")
    big = bytes(range(256)) * 8192  # 2 MiB: over THREAD_THRESHOLD
    await engine.put_large("big", big, None, '{"a":1}', now_ms=0)
    engine.put("small", b"s", None, None, now_ms=0)
    engine.close()
    assert stored_namespace_id(path) == "my/ns id"
    again = KVEngine(path, "my/ns id")
    try:
        entry = again.get("big", now_ms=0)
        assert entry is not None and entry.value == big and entry.metadata == '{"a":1}'
        assert again.get("small", now_ms=0) is not None
    finally:
        again.close()


def test_bulk_writes_are_one_transaction(engine: KVEngine) -> None:
    engine.put("keep", b"1", None, None, now_ms=0)

    def rows() -> Iterator[tuple[str, bytes, None, None]]:
        yield ("a", b"1", None, None)
        raise RuntimeError("the source failed half way")

    with pytest.raises(RuntimeError, match="half way"):
        engine.put_many(rows(), now_ms=0)
    assert [name for name, _, _ in engine.list("", None, 10, 0)[0]] == ["keep"]
    assert engine.delete_many(["keep", "nope"]) == 1
