"""R2 persistence: write-through to the on-disk index, read on demand, kill -9 safe."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path
from typing import Any
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.bindings.r2 import store as r2store
from emulator.bindings.r2.binding import encode_cursor, list_objects
from emulator.bindings.r2.store import HotObjects, R2Store
from emulator.config.model import AppConfig
from emulator.platform import Platform
from tests.helpers.apps import r2_app

MiB = 1024 * 1024

CHILD = textwrap.dedent('''
    import asyncio, json, sys, hashlib
    from pathlib import Path
    from emulator.config.model import AppConfig
    from tests.helpers.apps import R2BucketBinding, app_config
    from emulator.platform import Platform

    async def main() -> None:
        root = Path(sys.argv[1])
        app = app_config(config_path=root / "app" / "wrangler.toml", kind="worker", name="app",
                        r2_buckets=(R2BucketBinding("BUCKET", "bucket"),))
        p = Platform([app], root / "state", s3_port=None)
        await p.start()
        b = p.env_for(app).BUCKET
        out = {}
        big = bytes(range(256)) * (9 * 1024 * 1024 // 256)
        cases = {
            "small": (b"tiny value", {"httpMetadata": {"contentType": "text/plain", "cacheControl": "max-age=5"},
                                      "customMetadata": {"owner": "me", "n": "1"}}),
            "a/../../escape": (b"traversal-looking key", {}),
            "big.parquet": (big, {"sha256": hashlib.sha256(big).hexdigest()}),
        }
        for key, (value, opts) in cases.items():
            obj = await b.put(key, value, **opts)
            out[key] = obj.to_json()
        upload = await b.createMultipartUpload("multi", customMetadata={"parts": "2"})
        p1 = await upload.uploadPart(1, b"x" * (5 * 1024 * 1024))
        p2 = await upload.uploadPart(2, b"tail")
        out["multi"] = (await upload.complete([p1, p2])).to_json()
        pending = await b.createMultipartUpload("pending")
        part = await pending.uploadPart(1, b"y" * (5 * 1024 * 1024))
        out["_pending"] = {"uploadId": pending.uploadId, "etag": part.etag}
        await b.put("deleted", b"gone soon")
        await b.delete("deleted")
        print(json.dumps(out), flush=True)
        await asyncio.Event().wait()  # stay up until killed

    asyncio.run(main())
''')


def expected_bytes() -> dict[str, bytes]:
    return {
        "small": b"tiny value",
        "a/../../escape": b"traversal-looking key",
        "big.parquet": bytes(range(256)) * (9 * MiB // 256),
        "multi": b"x" * (5 * MiB) + b"tail",
    }


async def test_objects_survive_kill_9_byte_identical(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE,
                            cwd=Path(__file__).resolve().parents[3])
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        before = json.loads(line)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    # Nothing outside the state directory, and keys never became paths.
    assert not (tmp_path / "escape").exists()
    app: AppConfig = r2_app(tmp_path)
    p = Platform([app], tmp_path / "state", s3_port=None)
    await p.start()
    try:
        b = p.env_for(app).BUCKET
        for key, data in expected_bytes().items():
            obj = await b.get(key)
            assert obj is not None, key
            assert bytes(await obj.bytes()) == data
            assert obj.to_json() | {"range": None} == before[key] | {"range": None}
        assert await b.head("deleted") is None
        # the pending multipart upload can still be completed after the restart
        pending = b.resumeMultipartUpload("pending", before["_pending"]["uploadId"])
        tail = await pending.uploadPart(2, b"z")
        done = await pending.complete([{"partNumber": 1, "etag": before["_pending"]["etag"]}, tail])
        assert done.size == 5 * MiB + 1
        listed = [o.key for o in (await b.list()).objects]
        assert listed == sorted(["small", "a/../../escape", "big.parquet", "multi", "pending"])
    finally:
        await p.stop()


async def test_interrupted_writes_are_swept_at_start(tmp_path: Path) -> None:
    app = r2_app(tmp_path)
    p = Platform([app], tmp_path / "state", s3_port=None)
    await p.start()
    await p.env_for(app).BUCKET.put("kept", b"k" * (2 * MiB))
    await p.stop()
    bucket_dir = tmp_path / "state" / "r2" / "bucket"
    # What a put killed before its index commit leaves behind:
    (bucket_dir / "staging" / "half-written").write_bytes(b"partial")
    (bucket_dir / "blobs" / ("0" * 32)).write_bytes(b"renamed but never committed")
    p = Platform([app], tmp_path / "state", s3_port=None)
    await p.start()
    try:
        # The store opens (and sweeps) at its first use, or once the apps serve.
        p.serving()
        p.plugin("r2").store  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)  # noqa: B018 - the property opens the store
        assert list((bucket_dir / "staging").iterdir()) == []
        assert len(list((bucket_dir / "blobs").iterdir())) == 1
        obj = await p.env_for(app).BUCKET.get("kept")
        assert bytes(await obj.bytes()) == b"k" * (2 * MiB)
    finally:
        await p.stop()


async def test_restore_does_not_load_large_objects_into_memory(tmp_path: Path) -> None:
    app = r2_app(tmp_path)
    p = Platform([app], tmp_path / "state", s3_port=None)
    await p.start()
    await p.env_for(app).BUCKET.put("large", b"L" * (8 * MiB))
    await p.stop()
    p = Platform([app], tmp_path / "state", s3_port=None)
    await p.start()
    try:
        store = p.plugin("r2").store  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)
        fake = store.backend.buckets["bucket"].keys["large"]
        # moto reads the persisted blob through a file-like, not an in-memory copy
        assert type(fake._value_buffer).__name__ == "_BlobFile"
        assert fake.size == 8 * MiB and fake.value[:3] == b"LLL"
    finally:
        await p.stop()


async def test_a_missing_blob_file_is_reported_not_fatal(tmp_path: Path) -> None:
    app = r2_app(tmp_path)
    p = Platform([app], tmp_path / "state", s3_port=None)
    await p.start()
    await p.env_for(app).BUCKET.put("lost", b"l" * (2 * MiB))
    await p.env_for(app).BUCKET.put("kept", b"small")
    await p.stop()
    for blob in (tmp_path / "state" / "r2" / "bucket" / "blobs").iterdir():
        blob.unlink()
    p = Platform([app], tmp_path / "state", s3_port=None)
    await p.start()
    try:
        bucket = p.env_for(app).BUCKET
        assert await bucket.head("lost") is None
        assert await (await bucket.get("kept")).text() == "small"
        assert any("'lost'" in m for m in p.log.messages(level="warn", source="r2"))
    finally:
        await p.stop()


async def test_store_list_walks_in_chunks_across_prefix_boundaries(tmp_path: Path) -> None:
    app = r2_app(tmp_path)
    p = Platform([app], tmp_path / "state", s3_port=None)
    await p.start()
    try:
        bucket = p.env_for(app).BUCKET
        keys = ["a", "b/1", "b/2", "b/3", "b/4", "b/5", "b0", "c"]
        for k in keys:
            await bucket.put(k, k)
        store = p.plugin("r2").store  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)
        assert [o.key for o in store.list("bucket", chunk=2)] == keys
        assert [o.key for o in store.list("bucket", "b/", chunk=2)] == ["b/1", "b/2", "b/3", "b/4", "b/5"]
        assert [o.key for o in store.list("bucket", "b/", "b/2", chunk=2)] == ["b/3", "b/4", "b/5"]
        assert [o.key for o in store.list("bucket", "b", "a", chunk=3)] == ["b/1", "b/2", "b/3", "b/4", "b/5", "b0"]
        assert [o.key for o in store.list("bucket", "b/", "b/5")] == []
        await bucket.delete(["b/3", "b0"])
        assert [o.key for o in store.list("bucket", chunk=1)] == ["a", "b/1", "b/2", "b/4", "b/5", "c"]
    finally:
        await p.stop()
    p = Platform([app], tmp_path / "state", s3_port=None)  # the order survives a restart
    await p.start()
    try:
        assert [o.key for o in p.plugin("r2").store.list("bucket", chunk=4)] == ["a", "b/1", "b/2", "b/4", "b/5", "c"]  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)
    finally:
        await p.stop()


async def test_puts_leave_no_dead_objects_behind(platform: Platform) -> None:
    """moto tracks every model it creates in class-wide lists; a long-running emulator
    must not keep one dead key per put (overwrites and deletes included)."""
    import gc

    bucket = platform.env_for(platform.apps[0])["BUCKET"]
    for n in range(200):
        await bucket.put("k", f"value {n}".encode())
    await bucket.delete("k")
    gc.collect()
    from moto.core.model_instances import model_data

    tracked = sum(len(model.instances_tracked) for model in model_data["s3"].values())  # type: ignore[attr-defined,misc]  # moto's registry values are untyped
    assert tracked == 0


# --- the index is the key store: nothing loaded at start, everything read on demand ------
GROUPS = 50


def put_value(store: R2Store, bucket: str, key: str, value: bytes, uploaded: int = 0) -> Any:
    """A put through the engine's own write path (what the binding calls)."""
    staged = store.stage(bucket)
    staged.write(value)
    staged.finish()
    return store.put(bucket, key, staged, http_metadata={}, custom_metadata={},
                     checksums={"md5": staged.hexdigest("md5")}, uploaded=uploaded)


@pytest.fixture(scope="module")
def big_bucket(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state directory holding 50,000 small objects in 50 "directories" (written once)."""
    root = tmp_path_factory.mktemp("r2-50k")
    store = R2Store(root, hot=HotObjects(0, 0))
    store.ensure_bucket("bucket")
    for i in range(50_000):
        put_value(store, "bucket", f"g{i % GROUPS:02d}/k{i:06d}", b"value %d" % i)
    store.close()
    return root


def test_a_store_of_50000_objects_opens_without_reading_them(big_bucket: Path) -> None:
    tracemalloc.start()
    try:
        store = R2Store(big_bucket)
        assert store.restore() == 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    try:
        # Nothing was read or built per object: no rows, no moto keys, no cache entries,
        # no sweep (the last run closed the bucket cleanly), and Python memory stayed small.
        assert store.stats.rows_read == 0 and store.stats.moto_keys == 0
        assert store.stats.sweeps == 0 and len(store.hot) == 0
        assert peak < 2 * 1024 * 1024, peak
        assert store.backend.buckets["bucket"].keys.__class__.__name__ == "IndexedKeys"
        # A get after the restart reads its one row (and the body) from disk.
        opened = store.open("bucket", "g07/k012307")
        assert opened is not None
        obj, reader = opened
        assert reader.read(0, obj.size) == b"value 12307"
        assert store.stats.rows_read == 1 and store.stats.hot_hits == 0
        # A page of 1,000 reads its 1,000 rows and the one that says "truncated".
        before = store.stats.rows_read
        page = list_objects(store, "bucket", start_after="g03/k000003", limit=1000)
        assert len(page["objects"]) == 1000 and page["truncated"]
        assert store.stats.rows_read - before == 1001
        # Delimiter listing: 50 common prefixes of 1,000 keys each, without reading the
        # 50,000 rows under them (each prefix is skipped with a range query).
        before = store.stats.rows_read
        page = list_objects(store, "bucket", delimiter="/", limit=1000)
        assert page["delimitedPrefixes"] == [f"g{g:02d}/" for g in range(GROUPS)]
        assert store.stats.rows_read - before <= 1001 + GROUPS * r2store._SKIP_CHUNK
        assert store.stats.moto_keys == 0
    finally:
        store.close()


def test_queries_are_range_searches_of_the_primary_key(big_bucket: Path) -> None:
    store = R2Store(big_bucket)
    store.restore()
    try:
        db = store._bucket("bucket").db
        plans = {sql: db.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
                 for sql, params in [(r2store._HEAD_SQL, ("k",)), (r2store._OPEN_SQL, ("k",)),
                                     *[(sql, ("a", "b", 1) if bounded else ("a", 1))
                                       for (_, bounded), sql in r2store._RANGE_SQL.items()]]}
        for sql, plan in plans.items():
            text = " ".join(row[-1] for row in plan)
            assert "SEARCH objects USING PRIMARY KEY" in text, (sql, text)
            assert "SCAN" not in text and "TEMP B-TREE" not in text, (sql, text)
    finally:
        store.close()


def test_moto_sees_the_index_through_its_key_store(tmp_path: Path) -> None:
    store = R2Store(tmp_path)
    store.ensure_bucket("bucket")
    try:
        put_value(store, "bucket", "small", b"tiny")
        put_value(store, "bucket", "large", b"L" * (r2store.INLINE_MAX + 1))
        keys = store.backend.buckets["bucket"].keys
        assert "small" in keys and "missing" not in keys and len(keys) == 2
        assert list(keys) == ["large", "small"]
        fake = store.backend.get_object("bucket", "small")
        head = store.head("bucket", "small")
        assert fake is not None and head is not None and fake.value == b"tiny" and fake.etag.strip('"') == head.etag
        big = store.backend.get_object("bucket", "large")
        assert big is not None and big.size == r2store.INLINE_MAX + 1 and big.value[:2] == b"LL"
        assert store.backend.get_object("bucket", "missing") is None
        assert store.stats.moto_keys == 2
        # Writes must be committed to the index first: moto's write API is refused.
        with pytest.raises(TypeError, match="R2Store"):
            store.backend.put_object("bucket", "sneaky", b"x")
        assert store.head("bucket", "sneaky") is None
    finally:
        store.close()


def test_a_get_after_restart_reads_the_body_from_disk(tmp_path: Path) -> None:
    store = R2Store(tmp_path)
    store.ensure_bucket("bucket")
    put_value(store, "bucket", "k", b"persisted bytes")
    store.close()
    store = R2Store(tmp_path)
    store.restore()
    try:
        assert len(store.hot) == 0
        opened = store.open("bucket", "k")
        assert opened is not None and opened[1].read(0, 100) == b"persisted bytes"
        assert (store.stats.rows_read, store.stats.hot_hits) == (1, 0)
        store.open("bucket", "k")  # now from the hot cache
        assert (store.stats.rows_read, store.stats.hot_hits) == (1, 1)
    finally:
        store.close()


def test_the_hot_cache_is_bounded_in_entries_and_bytes() -> None:
    hot = HotObjects(max_entries=3, max_bytes=10_000)
    obj = r2store.StoredObject("k", "v", 1, "e", 0)
    for i in range(10):
        hot.put("b", f"k{i}", obj, b"x", None)
    assert len(hot) == 3 and hot.get("b", "k9") is not None and hot.get("b", "k0") is None
    hot.put("b", "big", obj, b"x" * 9_000, None)  # evicts until the bytes fit
    assert hot.bytes <= 10_000 and hot.get("b", "big") is not None
    hot.put("b", "huge", obj, b"x" * 20_000, None)  # never cached
    assert hot.get("b", "huge") is None and hot.bytes <= 10_000


# --- listing from the index agrees with a plain reference over a sorted list ---------------
def reference_page(keys: list[str], prefix: str, delimiter: str, start: str,
                   limit: int) -> tuple[list[str], list[str], bool, str]:
    """The listing as it was computed before the index (a sorted key list, filtered): the
    specification the index-backed walk must match. Returns (keys, prefixes, truncated, last)."""
    objects: list[str] = []
    prefixes: list[str] = []
    last = ""
    truncated = False
    for key in sorted(keys):
        if not key.startswith(prefix) or key <= start:
            continue
        group = None
        if delimiter:
            i = key.find(delimiter, len(prefix))
            if i >= 0:
                group = key[: i + len(delimiter)]
                if group <= start or (prefixes and prefixes[-1] == group):
                    continue
        if len(objects) + len(prefixes) >= limit:
            truncated = True
            break
        if group is not None:
            prefixes.append(group)
            last = group
        else:
            objects.append(key)
            last = key
    return objects, prefixes, truncated, last


# Few characters, so that keys share prefixes and delimiters; and the code points around
# the surrogate gap and at the top of Unicode, where prefix_end() has to carry.
_CHARS = st.sampled_from(["a", "b", "/", "-", "é", "\ud7ff", "\ue000", "\uffff", "\U0010ffff", "z"])
_KEYS = st.lists(st.text(_CHARS, min_size=1, max_size=6), max_size=40, unique=True)
_PART = st.text(_CHARS, max_size=3)


@pytest.fixture(scope="module")
def listing_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[R2Store]:
    store = R2Store(tmp_path_factory.mktemp("r2-listing"))
    store.ensure_bucket("bucket")
    yield store
    store.close()


def _replace_keys(store: R2Store, keys: list[str]) -> None:
    store.delete("bucket", [o.key for o in store.list("bucket")])
    for key in keys:
        put_value(store, "bucket", key, b"")


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(keys=_KEYS, prefix=_PART, delimiter=st.sampled_from(["", "/", "a", "-/", "\U0010ffff"]),
       start_after=_PART, limit=st.integers(1, 7))
def test_index_listing_matches_the_reference(listing_store: R2Store, keys: list[str], prefix: str,
                                              delimiter: str, start_after: str, limit: int) -> None:
    store = listing_store
    _replace_keys(store, keys)
    # Every page, following cursors to the end, as the binding and the S3 endpoint do.
    cursor: str | None = None
    start = start_after
    for _ in range(len(keys) + 2):
        page = list_objects(store, "bucket", prefix=prefix, delimiter=delimiter, cursor=cursor,
                            start_after=start_after, limit=limit)
        want_keys, want_prefixes, want_truncated, want_last = reference_page(
            keys, prefix, delimiter, start, limit)
        assert [o.key for o in page["objects"]] == want_keys
        assert list(page["delimitedPrefixes"]) == want_prefixes
        assert page["truncated"] == want_truncated
        if not want_truncated:
            break
        assert page["cursor"] == encode_cursor(want_last)
        cursor, start = page["cursor"], max(want_last, start_after)
    else:
        raise AssertionError("listing did not end")
    # The walk itself, in chunks as small as one row (chunk boundaries inside common
    # prefixes and right after them).
    for chunk in (1, 2, 3):
        walked = [item if isinstance(item, str) else item.key
                  for item in store.walk("bucket", prefix, start_after, delimiter, chunk=chunk)]
        objects, prefixes, _, _ = reference_page(keys, prefix, delimiter, start_after, 10**6)
        assert walked == sorted(objects + prefixes)


@given(st.text(_CHARS, max_size=5), st.text(_CHARS, max_size=5))
def test_prefix_end_bounds_exactly_the_keys_with_the_prefix(prefix: str, key: str) -> None:
    end = r2store.prefix_end(prefix)
    in_range = key >= prefix and (end is None or key < end)
    assert in_range == key.startswith(prefix)


# --- the hot cache is a fast path: with and without it, every answer is the same ----------
_OPS = st.lists(st.tuples(st.sampled_from(["put", "put", "delete", "get", "head", "list"]),
                          st.sampled_from(["a", "c/1"]),
                          st.sampled_from([0, 5, r2store.INLINE_MAX + 1])), max_size=25)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(ops=_OPS)
def test_the_hot_cache_never_changes_an_answer(tmp_path_factory: pytest.TempPathFactory,
                                               ops: list[tuple[str, str, int]]) -> None:
    root = tmp_path_factory.mktemp("r2-hot")
    cached, uncached = R2Store(root / "cached"), R2Store(root / "uncached", hot=HotObjects(0, 0))

    def answer(store: R2Store, op: str, key: str, size: int, n: int) -> Any:
        if op == "put":
            obj = put_value(store, "bucket", key, bytes([n % 256]) * size, uploaded=n)
            return (obj.size, obj.etag, obj.uploaded)
        if op == "delete":
            return store.delete("bucket", [key])
        if op == "head":
            obj = store.head("bucket", key)
            return None if obj is None else (obj.size, obj.etag, obj.uploaded)
        if op == "get":
            opened = store.open("bucket", key)
            if opened is None:
                return None
            obj, reader = opened
            try:
                return (obj.size, obj.etag, reader.read(0, obj.size))
            finally:
                reader.close()
        return [(o.key, o.etag) for o in store.list("bucket")]

    try:
        for store in (cached, uncached):
            store.ensure_bucket("bucket")
        for n, (op, key, size) in enumerate(ops):
            assert answer(cached, op, key, size, n) == answer(uncached, op, key, size, n), (n, op, key)
        assert uncached.stats.hot_hits == 0
    finally:
        cached.close()
        uncached.close()


# --- durability of the index layout --------------------------------------------------------
PUTTER = textwrap.dedent('''
    import sys
    from pathlib import Path
    from emulator.bindings.r2.store import R2Store, INLINE_MAX

    store = R2Store(Path(sys.argv[1]))
    store.ensure_bucket("bucket")
    n = 0
    while True:
        size = INLINE_MAX + 1 if n % 7 == 3 else 100 + n % 50
        key = f"k{n % 300:03d}"  # overwrites too
        value = (b"%d:" % n) * size
        staged = store.stage("bucket")
        staged.write(value[:size])
        staged.finish()
        obj = store.put("bucket", key, staged, http_metadata={}, custom_metadata={},
                        checksums={}, uploaded=n)
        print(key, n, size, obj.etag, flush=True)  # acknowledged
        n += 1
''')


def test_kill_9_during_puts_loses_no_acknowledged_put(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", PUTTER, str(tmp_path)], stdout=subprocess.PIPE,
                            cwd=Path(__file__).resolve().parents[3])
    acked: dict[str, tuple[int, int, str]] = {}
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while len(acked) < 300 or sum(1 for a in acked.values() if a[1] > r2store.INLINE_MAX) < 20:
            line = proc.stdout.readline().decode()
            assert line and time.monotonic() < deadline, "the writer stopped"
            key, n_text, size_text, etag = line.split()
            acked[key] = (int(n_text), int(size_text), etag)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    # Later acknowledgements still in the pipe count too; a last line the kill cut short
    # (no newline yet) was never an acknowledgement.
    rest = proc.stdout.read().decode()
    for line in rest.split("\n")[:-1]:
        key, n_text, size_text, etag = line.split()
        acked[key] = (int(n_text), int(size_text), etag)
    store = R2Store(tmp_path)
    store.restore()
    try:
        assert store.stats.sweeps == 1  # not closed cleanly
        for key, (n, size, etag) in acked.items():
            opened = store.open("bucket", key)
            assert opened is not None, key
            obj, reader = opened
            # The newest acknowledged version, or one newer (put committed, ack not printed).
            assert obj.uploaded >= n, key
            if obj.uploaded == n:
                assert obj.etag == etag and obj.size == size
                assert reader.read(0, size) == ((b"%d:" % n) * size)[:size]
            reader.close()
        # Every blob file left is referenced, and every referenced one is there.
        db = store._bucket("bucket").db
        referenced = {r[0] for r in db.execute("SELECT name FROM blobs")}
        on_disk = {p.name for p in (tmp_path / "bucket" / "blobs").iterdir()}
        assert on_disk == referenced
        segments = {n for (s,) in db.execute("SELECT segments FROM objects WHERE segments IS NOT NULL")
                    for n in json.loads(s)}
        assert segments == referenced
        assert db.execute("SELECT count(*) FROM bodies").fetchone()[0] == \
            db.execute("SELECT count(*) FROM objects WHERE body IS NOT NULL").fetchone()[0]
    finally:
        store.close()


LAYOUT_1 = """
CREATE TABLE info (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE objects (
    key TEXT PRIMARY KEY, version TEXT NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL,
    uploaded INTEGER NOT NULL, http_metadata TEXT NOT NULL, custom_metadata TEXT NOT NULL,
    checksums TEXT NOT NULL, data BLOB, segments TEXT
);
CREATE TABLE uploads (
    upload_id TEXT PRIMARY KEY, key TEXT NOT NULL, state TEXT NOT NULL,
    http_metadata TEXT NOT NULL, custom_metadata TEXT NOT NULL
);
CREATE TABLE parts (
    upload_id TEXT NOT NULL, part_number INTEGER NOT NULL, etag TEXT NOT NULL,
    size INTEGER NOT NULL, md5 TEXT NOT NULL, blob TEXT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);
"""


def test_an_index_of_the_first_layout_is_migrated(tmp_path: Path) -> None:
    """State directories written before the bodies/blobs tables still open, unchanged."""
    bucket_dir = tmp_path / "bucket"
    (bucket_dir / "blobs").mkdir(parents=True)
    (bucket_dir / "blobs" / "big").write_bytes(b"B" * 300_000)
    (bucket_dir / "blobs" / "part1").write_bytes(b"P" * 10)
    (bucket_dir / "blobs" / "orphan").write_bytes(b"never committed")
    db = sqlite3.connect(bucket_dir / "index.sqlite3")
    db.executescript(LAYOUT_1)
    db.execute("INSERT INTO info VALUES ('name', 'bucket')")
    db.execute("INSERT INTO objects VALUES ('small', 'v1', 5, 'e1', 1000, '{\"contentType\":\"text/plain\"}',"
               " '{}', '{\"md5\":\"e1\"}', x'68656c6c6f', NULL)")
    db.execute("INSERT INTO objects VALUES ('big', 'v2', 300000, 'e2', 2000, '{}', '{\"a\":\"b\"}', '{}', NULL,"
               " '[\"big\"]')")
    db.execute("INSERT INTO uploads VALUES ('u1', 'multi', 'in-progress', '{}', '{}')")
    db.execute("INSERT INTO parts VALUES ('u1', 1, 'pe', 10, 'md5', 'part1')")
    db.commit()
    db.close()
    store = R2Store(tmp_path)
    store.restore()
    try:
        small = store.open("bucket", "small")
        assert small is not None and small[1].read(0, 5) == b"hello"
        assert small[0].http_metadata == {"contentType": "text/plain"}
        big = store.open("bucket", "big")
        assert big is not None and big[0].custom_metadata == {"a": "b"} and big[1].read(0, 3) == b"BBB"
        assert [o.key for o in store.list("bucket")] == ["big", "small"]
        assert sorted(p.name for p in (bucket_dir / "blobs").iterdir()) == ["big", "part1"]
        assert store.list_parts("bucket", "u1")[1].size == 10
        store.delete("bucket", ["small", "big"])
        assert not (bucket_dir / "blobs" / "big").exists()
    finally:
        store.close()
