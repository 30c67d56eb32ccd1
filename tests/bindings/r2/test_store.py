"""R2 persistence: write-through to the state directory, restored at start, kill -9 safe."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from emulator.config.model import AppConfig
from emulator.platform import Platform

from .conftest import make_app

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
    app: AppConfig = make_app(tmp_path)
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
    app = make_app(tmp_path)
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
        p.plugin("r2").store  # type: ignore[attr-defined]  # noqa: B018
        assert list((bucket_dir / "staging").iterdir()) == []
        assert len(list((bucket_dir / "blobs").iterdir())) == 1
        obj = await p.env_for(app).BUCKET.get("kept")
        assert bytes(await obj.bytes()) == b"k" * (2 * MiB)
    finally:
        await p.stop()


async def test_restore_does_not_load_large_objects_into_memory(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    p = Platform([app], tmp_path / "state", s3_port=None)
    await p.start()
    await p.env_for(app).BUCKET.put("large", b"L" * (8 * MiB))
    await p.stop()
    p = Platform([app], tmp_path / "state", s3_port=None)
    await p.start()
    try:
        store = p.plugin("r2").store  # type: ignore[attr-defined]
        fake = store.backend.buckets["bucket"].keys["large"]
        # moto reads the persisted blob through a file-like, not an in-memory copy
        assert type(fake._value_buffer).__name__ == "_BlobFile"
        assert fake.size == 8 * MiB and fake.value[:3] == b"LLL"
    finally:
        await p.stop()


async def test_a_missing_blob_file_is_reported_not_fatal(tmp_path: Path) -> None:
    app = make_app(tmp_path)
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
    app = make_app(tmp_path)
    p = Platform([app], tmp_path / "state", s3_port=None)
    await p.start()
    try:
        bucket = p.env_for(app).BUCKET
        keys = ["a", "b/1", "b/2", "b/3", "b/4", "b/5", "b0", "c"]
        for k in keys:
            await bucket.put(k, k)
        store = p.plugin("r2").store  # type: ignore[attr-defined]
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
        assert [o.key for o in p.plugin("r2").store.list("bucket", chunk=4)] == ["a", "b/1", "b/2", "b/4", "b/5", "c"]  # type: ignore[attr-defined]
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

    tracked = sum(len(model.instances_tracked) for model in model_data["s3"].values())
    assert tracked == 0
