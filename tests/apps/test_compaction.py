"""Unit tests of apps/workflow/src/compaction.py: footer reads, grouping, de-duplication, merge."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import compaction
from fixtures import fragments as fr
from fixtures.local_bucket import LocalBucket


@pytest.fixture
def bucket(tmp_path: Path) -> LocalBucket:
    return LocalBucket(tmp_path / "bucket")


async def read_table(bucket: LocalBucket, key: str) -> pa.Table:
    obj = await bucket.get(key)
    assert obj is not None
    return pq.read_table(io.BytesIO(await obj.bytes()))


async def test_footer_is_read_with_range_requests_only(bucket: LocalBucket) -> None:
    await bucket.put("f", fr.fragment("battle", 0, 5000))
    bucket.calls.clear()
    info = await compaction.read_footer(bucket, "f")
    assert (info.rows, info.row_groups) == (5000, 1)
    assert info.fingerprint == compaction.schema_fingerprint(fr.SCHEMAS["battle"])
    assert bucket.calls == [("get-range", "f")]


async def test_wide_footer_takes_a_second_exact_range_read(bucket: LocalBucket) -> None:
    wide = pa.table({f"column_with_a_long_name_{i:05d}": pa.array([i], pa.int64()) for i in range(1500)})
    data = fr.parquet_bytes(wide)
    (footer_len,) = __import__("struct").unpack("<I", data[-8:-4])
    assert footer_len + 8 > compaction.FOOTER_PROBE
    await bucket.put("wide", data)
    bucket.calls.clear()
    info = await compaction.read_footer(bucket, "wide")
    assert info.rows == 1 and len(info.schema) == 1500
    assert bucket.calls == [("get-range", "wide"), ("get-range", "wide")]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (fr.empty_fragment("battle"), "empty"),
        (fr.truncated(fr.fragment("battle", 0, 100)), "not Parquet"),
        (fr.NOT_PARQUET, "not Parquet"),
        (b"PAR1", "too small"),
        (b"PAR1" + b"\x00" * 20 + b"\xff\xff\x00\x00PAR1", "corrupt footer length"),
        (b"PAR1" + b"\x07" * 40 + b"\x28\x00\x00\x00PAR1", "corrupt footer"),
    ],
)
async def test_unusable_fragments_raise_fragment_error(bucket: LocalBucket, data: bytes, reason: str) -> None:
    await bucket.put("bad", data)
    with pytest.raises(compaction.FragmentError) as info:
        await compaction.read_footer(bucket, "bad")
    assert reason in info.value.reason
    assert info.value.key == "bad"


async def test_missing_object_is_a_fragment_error(bucket: LocalBucket) -> None:
    with pytest.raises(compaction.FragmentError, match="missing"):
        await compaction.read_footer(bucket, "nope")


def test_grouping_uses_names_and_types_not_column_count() -> None:
    same_count = pa.schema([(f.name + "_x", f.type) for f in fr.SCHEMAS["cells"]])
    fps = {compaction.schema_fingerprint(s) for s in (fr.SCHEMAS["cells"], same_count)}
    assert len(fps) == 2
    variant = fr.SCHEMAS["battle"].append(fr.VARIANT_EXTRA)
    infos = [{"key": "a", "fingerprint": compaction.schema_fingerprint(fr.SCHEMAS["battle"])},
             {"key": "b", "fingerprint": compaction.schema_fingerprint(variant)},
             {"key": "c", "fingerprint": compaction.schema_fingerprint(fr.SCHEMAS["battle"])}]
    assert list(compaction.group_by_schema(infos).values()) == [["a", "c"], ["b"]]
    # Nullability and metadata do not split groups: only names and types do.
    relaxed = pa.schema([pa.field(f.name, f.type, nullable=False) for f in fr.SCHEMAS["cells"]], metadata={"k": "v"})
    assert compaction.schema_fingerprint(relaxed) == compaction.schema_fingerprint(fr.SCHEMAS["cells"])


async def test_merge_keeps_exactly_the_distinct_rows(bucket: LocalBucket) -> None:
    specs = [s for s in fr.demo_fragments() if s.table == "battle" and not s.variant]
    for s in specs:
        await bucket.put(s.name, s.data())
    result = await compaction.stream_merge(bucket, [s.name for s in specs], "out/part-0.parquet")
    expected = fr.distinct_rows(specs)[("battle", False)]
    assert result.rows_in == sum(s.count for s in specs)
    assert result.rows_out == expected
    assert result.duplicates_dropped == result.rows_in - expected
    table = await read_table(bucket, "out/part-0.parquet")
    assert table.num_rows == expected
    indexes = sorted({i for s in specs for i in range(s.start, s.start + s.count)})
    want = fr.rows("battle", indexes[0], indexes[-1] - indexes[0] + 1)
    assert sorted(table.to_pylist(), key=repr) == sorted(want.to_pylist(), key=repr)
    assert bucket.keys() == sorted([s.name for s in specs] + ["out/part-0.parquet"])  # nothing else
    written = await bucket.get("out/part-0.parquet")
    assert written is not None
    meta = pq.ParquetFile(io.BytesIO(await written.bytes())).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    assert result.merged == [s.name for s in specs]


async def test_row_keys_distinguish_nulls_empties_and_splits(bucket: LocalBucket) -> None:
    t = pa.table({"a": ["ab", "a", None, "", "ab", None],
                  "b": ["c", "bc", "x", "x", "c", "x"],
                  "l": [[1], [1], [], [], [1], []]})
    await bucket.put("t", fr.parquet_bytes(t))
    result = await compaction.stream_merge(bucket, ["t"], "out/t")
    assert (result.rows_in, result.rows_out, result.duplicates_dropped) == (6, 4, 2)
    out = (await read_table(bucket, "out/t")).to_pylist()
    assert out == [{"a": "ab", "b": "c", "l": [1]}, {"a": "a", "b": "bc", "l": [1]},
                   {"a": None, "b": "x", "l": []}, {"a": "", "b": "x", "l": []}]


async def test_float_and_timestamp_values_compare_exactly(bucket: LocalBucket) -> None:
    t = pa.table({"f": [0.1 + 0.2, 0.3, 0.1 + 0.2, -0.0, 0.0],
                  "ts": pa.array([1, 1, 1, 2, 2], pa.timestamp("us"))})
    await bucket.put("f", fr.parquet_bytes(t))
    result = await compaction.stream_merge(bucket, ["f"], "out/f")
    assert result.rows_out == 4


async def test_a_fragment_with_another_schema_is_refused_and_nothing_is_written(bucket: LocalBucket) -> None:
    await bucket.put("a", fr.fragment("battle", 0, 10))
    await bucket.put("b", fr.fragment("battle", 0, 10, variant=True))
    with pytest.raises(compaction.FragmentError) as info:
        await compaction.stream_merge(bucket, ["a", "b"], "out/ab")
    assert info.value.key == "b"
    assert bucket.keys() == ["a", "b"]


async def test_skip_leaves_fragments_out(bucket: LocalBucket) -> None:
    await bucket.put("a", fr.fragment("cells", 0, 10))
    await bucket.put("b", fr.fragment("cells", 10, 10))
    result = await compaction.stream_merge(bucket, ["a", "b"], "out/s", skip={"b"})
    assert result.rows_out == 10 and result.merged == ["a"]


async def test_output_goes_up_in_equal_parts_of_at_least_5_mib(bucket: LocalBucket) -> None:
    tables = [fr.bench_table(12_000, i * 12_000) for i in range(2)]
    for i, t in enumerate(tables):
        await bucket.put(f"big{i}", fr.parquet_bytes(t))
    result = await compaction.stream_merge(bucket, ["big0", "big1"], "out/big")
    assert result.rows_out == 24_000
    assert result.bytes_out > compaction.PART_SIZE
    # One multipart upload of several parts: the output is written once.
    assert len(bucket.multipart_parts) == 1 and bucket.multipart_parts[0] >= 2
    assert (await read_table(bucket, "out/big")).num_rows == 24_000


async def test_output_is_uploaded_once_to_the_final_key_and_invisible_until_complete(
        bucket: LocalBucket) -> None:
    # The group's previous output is an input and the target: while parts go up, readers
    # still see the old object; completing the upload replaces it in one step.
    old = fr.rows("battle", 0, 100)
    await bucket.put("out/p", fr.parquet_bytes(old))
    await bucket.put("new", fr.fragment("battle", 50, 100))
    seen_during_upload: list[int] = []
    create = bucket.createMultipartUpload

    async def watched_create(key: str, **options: object) -> object:
        upload = await create(key, **options)
        upload_part = upload.uploadPart

        async def watched_part(number: int, data: bytes) -> object:
            seen_during_upload.append((await read_table(bucket, "out/p")).num_rows)
            return await upload_part(number, data)

        upload.uploadPart = watched_part  # type: ignore[method-assign,assignment]  # a spy in its place
        return upload

    bucket.createMultipartUpload = watched_create  # type: ignore[method-assign,assignment]  # a spy in its place
    bucket.calls.clear()
    result = await compaction.stream_merge(bucket, ["out/p", "new"], "out/p")
    assert seen_during_upload and set(seen_during_upload) == {100}
    assert result.rows_out == 150 and (await read_table(bucket, "out/p")).num_rows == 150
    writes = [c for c in bucket.calls if c[0] in ("put", "delete", "createMultipartUpload")]
    assert writes == [("createMultipartUpload", "out/p")]  # no temporary key, no copy, no delete
    assert bucket.keys() == ["new", "out/p"]


def test_step_delay_knob_reads_env_vars() -> None:
    class Env:
        COMPACTION_STEP_DELAY_MS = "250"

    assert compaction.step_delay_ms(Env()) == 250
    assert compaction.step_delay_ms(object()) == 0


def test_bytes_under_null_slots_do_not_split_equal_rows() -> None:
    validity = pa.py_buffer(bytes([0b10]))  # row 0 null, row 1 valid
    a = pa.Array.from_buffers(pa.int32(), 2, [validity, pa.py_buffer(struct.pack("<ii", 7, 5))])
    b = pa.Array.from_buffers(pa.int32(), 2, [validity, pa.py_buffer(struct.pack("<ii", 9, 5))])
    s1 = pa.Array.from_buffers(pa.string(), 1, [pa.py_buffer(bytes([0])), pa.py_buffer(struct.pack("<ii", 0, 0)),
                                               pa.py_buffer(b"")])
    s2 = pa.Array.from_buffers(pa.string(), 1, [pa.py_buffer(bytes([0])), pa.py_buffer(struct.pack("<ii", 0, 3)),
                                               pa.py_buffer(b"abc")])
    assert a.to_pylist() == b.to_pylist() == [None, 5]
    dedupe = compaction.RowDeduplicator()
    assert dedupe.filter(pa.record_batch({"x": a})).num_rows == 2
    assert dedupe.filter(pa.record_batch({"x": b})).num_rows == 0
    dedupe = compaction.RowDeduplicator()  # one merge = one schema
    assert dedupe.filter(pa.record_batch({"s": s1})).num_rows == 1
    assert dedupe.filter(pa.record_batch({"s": s2})).num_rows == 0


async def test_large_fragments_are_spooled_to_disk_with_the_same_result(
        bucket: LocalBucket, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    specs = [fr.FragmentSpec("s0", "cells", 0, 300), fr.FragmentSpec("s1", "cells", 200, 300)]
    for s in specs:
        await bucket.put(s.name, s.data())
    monkeypatch.setattr(compaction, "IN_MEMORY_MAX", 1)
    spool = tmp_path / "spool"
    spool.mkdir()
    result = await compaction.stream_merge(bucket, [s.name for s in specs], "out/sp",
                                           spool_dir=str(spool))
    assert (result.rows_in, result.rows_out) == (600, 500)
    assert list(spool.iterdir()) == []  # spool files are gone
    assert (await read_table(bucket, "out/sp")).num_rows == 500


async def test_a_missing_input_is_a_fragment_error_and_nothing_is_written(bucket: LocalBucket) -> None:
    await bucket.put("here", fr.fragment("cells", 0, 10))
    with pytest.raises(compaction.FragmentError) as info:
        await compaction.stream_merge(bucket, ["here", "gone"], "out/m")
    assert info.value.key == "gone" and "missing" in info.value.reason
    assert bucket.keys() == ["here"]


async def test_local_bucket_multipart_in_and_out_of_order(bucket: LocalBucket) -> None:
    five = 5 * 1024 * 1024
    for order in ([1, 2, 3], [1, 3, 2], [2, 1, 3], [1, 2, 2, 3]):
        upload = await bucket.createMultipartUpload("m")
        parts = {}
        for n in order:
            parts[n] = await upload.uploadPart(n, bytes([n]) * (five if n < 3 else 10))
        await upload.complete([parts[n] for n in (1, 2, 3)])
        stored = await bucket.get("m")
        assert stored is not None
        data = await stored.bytes()
        assert data == b"\x01" * five + b"\x02" * five + b"\x03" * 10, order


async def test_dedup_spills_to_disk_past_its_memory_budget_with_the_same_result(
        bucket: LocalBucket, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    specs = [fr.FragmentSpec(f"d{i}", "cells", i * 700, 1000) for i in range(4)]
    for s in specs:
        await bucket.put(s.name, s.data())
    expected = await compaction.stream_merge(bucket, [s.name for s in specs], "out/a")
    monkeypatch.setattr(compaction, "DEDUP_MEMORY_ROWS", 500)
    spool = tmp_path / "spool"
    spool.mkdir()
    spilled = await compaction.stream_merge(bucket, [s.name for s in specs], "out/b",
                                            spool_dir=str(spool))
    assert (spilled.rows_in, spilled.rows_out, spilled.duplicates_dropped) == (
        expected.rows_in, expected.rows_out, expected.duplicates_dropped) == (4000, 3100, 900)
    assert (await read_table(bucket, "out/b")).equals(await read_table(bucket, "out/a"))
    assert list(spool.iterdir()) == []  # the spill file is gone


def test_deduplicator_spill_keeps_first_occurrences_within_and_across_batches() -> None:
    dedupe = compaction.RowDeduplicator(memory_rows=3)
    first = dedupe.filter(pa.record_batch({"v": [1, 2, 3, 4, 2]}))
    assert first.column(0).to_pylist() == [1, 2, 3, 4] and dedupe.spilled
    second = dedupe.filter(pa.record_batch({"v": [5, 1, 5, 6, 4, 7]}))
    assert second.column(0).to_pylist() == [5, 6, 7]
    assert len(dedupe) == 7 and dedupe.dropped == 4
    dedupe.close()


@pytest.mark.parametrize("rows", [100, 12_000])
async def test_a_failing_part_upload_is_an_upload_error_not_a_bad_fragment(bucket: LocalBucket, rows: int) -> None:
    # Small output: the only part fails after encoding; large output (> PART_SIZE): a part
    # fails while the encoder is still writing (and may be waiting on the upload).
    for i in range(2):
        if rows > 1000:
            data = fr.parquet_bytes(fr.bench_table(rows, i * rows))
        else:
            data = fr.fragment("battle", i * rows, rows)
        await bucket.put(f"f{i}", data)
    create = bucket.createMultipartUpload
    aborted: list[bool] = []

    async def failing_create(key: str, **options: object) -> object:
        upload = await create(key, **options)
        abort = upload.abort

        async def fail(number: int, data: bytes) -> object:
            raise RuntimeError("uploadPart: We encountered an internal error. Please try again. (10001)")

        async def watched_abort() -> None:
            aborted.append(True)
            await abort()

        upload.uploadPart = fail  # type: ignore[method-assign,assignment]  # a failure in its place
        upload.abort = watched_abort  # type: ignore[method-assign]  # a spy in its place
        return upload

    bucket.createMultipartUpload = failing_create  # type: ignore[method-assign,assignment]  # a failure in its place
    with pytest.raises(Exception) as info:
        await compaction.stream_merge(bucket, ["f0", "f1"], "out/u")
    assert not isinstance(info.value, compaction.FragmentError)  # nothing gets quarantined for it
    assert "10001" in str(info.value)
    assert aborted == [True] and bucket.keys() == ["f0", "f1"]
