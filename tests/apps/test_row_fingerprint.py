"""Unit tests of apps/workflow/src/row_fingerprint.py: vectorised row fingerprints and the
bounded-memory fingerprint set behind the merge's de-duplication."""

from __future__ import annotations

import math
import random
import struct
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import row_fingerprint as rfp


def keys(fp: rfp.RowFingerprinter, batch: pa.RecordBatch | pa.Table) -> list[tuple[int, int]]:
    a, b = fp.fingerprints(batch)
    return list(zip(a.tolist(), b.tolist(), strict=True))


def test_equal_rows_get_equal_fingerprints_whatever_lies_under_null_slots() -> None:
    fp = rfp.RowFingerprinter()
    validity = pa.py_buffer(bytes([0b10]))  # row 0 null, row 1 valid
    ints = [pa.Array.from_buffers(pa.int64(), 2, [validity, pa.py_buffer(struct.pack("<qq", junk, 5))])
            for junk in (7, -1)]
    # Null string slots whose offsets still cover (different) bytes.
    strs = [pa.Array.from_buffers(pa.string(), 2, [validity, pa.py_buffer(struct.pack("<iii", 0, 3, 5)),
                                                   pa.py_buffer(junk + b"xy")]) for junk in (b"abc", b"zzz")]
    k1 = keys(fp, pa.record_batch([ints[0], strs[0]], names=["i", "s"]))
    k2 = keys(fp, pa.record_batch([ints[1], strs[1]], names=["i", "s"]))
    assert k1 == k2
    assert k1[0] != k1[1]


def test_nan_embedded_bytes_and_offsets_hash_by_value() -> None:
    fp = rfp.RowFingerprinter()
    nan = struct.unpack("<d", struct.pack("<Q", 0x7FF8000000000001))[0]
    rows = {"f": [nan, 1.5, None], "s": ["a\x00b", "\x00", ""], "b": [b"\x00\x00", b"\xff" * 9, None]}
    batch = pa.record_batch(rows)
    again = pa.record_batch(rows)
    assert keys(fp, batch) == keys(fp, again)
    # A sliced batch (non-zero array offsets) hashes its rows the same way.
    padded = pa.record_batch({k: [v[0]] + v for k, v in rows.items()}).slice(1)
    assert keys(fp, padded) == keys(fp, batch)
    # Same NaN bits: equal; another NaN payload: different (exact bits, as documented).
    other_nan = struct.unpack("<d", struct.pack("<Q", 0x7FF8000000000002))[0]
    assert math.isnan(other_nan)
    k = keys(fp, pa.record_batch({"f": [nan, nan, other_nan, 0.0, -0.0]}))
    assert k[0] == k[1] and len({k[1], k[2], k[3], k[4]}) == 4


def test_a_value_hashes_the_same_in_every_layout() -> None:
    """Equal lengths (reshape), slightly varying (padded) and widely varying (gathered)."""
    fp = rfp.RowFingerprinter()
    probe = [b"", b"x", b"12345678", b"123456789", b"\x00" * 17, bytes(range(40))]
    for value in probe:
        same = pa.array([value] * 4, pa.binary())
        little = pa.array([value, value + b"!", b"ab", value], pa.binary())
        wide = pa.array([value, b"y" * 5000, b"", value], pa.binary())
        results = [keys(fp, pa.table({"v": arr}))[0] for arr in (same, little, wide)]
        assert results[0] == results[1] == results[2], value
    # Strings and their large variant of the same schema position are separate merges, but
    # large_binary must still agree with itself across layouts.
    big = [pa.array([b"abc", b"abc"], pa.large_binary()), pa.array([b"abc", b"q" * 999], pa.large_binary())]
    assert keys(fp, pa.table({"v": big[0]}))[0] == keys(fp, pa.table({"v": big[1]}))[0]


def tricky_corpus() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    # Splits of the same bytes across columns, empty vs null, trailing zero bytes.
    for s1, s2 in [("ab", "c"), ("a", "bc"), ("abc", ""), ("abc", None), ("", "abc"), (None, "abc"),
                   ("a\x00", "b"), ("a", "\x00b"), ("a", "b"), ("a\x00", "b\x00"), (None, None), ("", "")]:
        rows.append({"s1": s1, "s2": s2, "i": 0, "f": 0.0})
    # Column order, sign of zero, one-bit differences in every byte position.
    rows += [{"s1": "x", "s2": "y", "i": 1, "f": 2.0}, {"s1": "x", "s2": "y", "i": 2, "f": 1.0},
             {"s1": "x", "s2": "y", "i": 0, "f": -0.0}, {"s1": "x", "s2": "y", "i": None, "f": 0.0}]
    base = bytes(range(32)).decode("latin-1")
    for pos in range(32):
        for bit in (0, 7):
            flipped = bytearray(base.encode("latin-1"))
            flipped[pos] ^= 1 << bit
            rows.append({"s1": flipped.decode("latin-1"), "s2": "", "i": pos, "f": float(bit)})
    # Thue-Morse strings: the classic collision for polynomial hashes mod 2^64.
    tm = [bin(i).count("1") % 2 for i in range(2048)]
    a = "".join("ab"[t] for t in tm)
    b = "".join("ba"[t] for t in tm)
    rows += [{"s1": a, "s2": "", "i": 7, "f": 7.0}, {"s1": b, "s2": "", "i": 7, "f": 7.0}]
    # The same words in another order inside one value (word sums must see positions).
    rows += [{"s1": "AAAAAAAABBBBBBBB", "s2": "", "i": 9, "f": 9.0},
             {"s1": "BBBBBBBBAAAAAAAA", "s2": "", "i": 9, "f": 9.0}]
    return rows


def test_distinct_rows_get_distinct_fingerprints_on_a_tricky_and_a_random_corpus() -> None:
    fp = rfp.RowFingerprinter()
    schema = pa.schema([("s1", pa.string()), ("s2", pa.string()), ("i", pa.int64()), ("f", pa.float64())])
    corpus = tricky_corpus()
    assert len({tuple(map(repr, r.values())) for r in corpus}) == len(corpus)
    assert len(set(keys(fp, pa.Table.from_pylist(corpus, schema)))) == len(corpus)

    rng = random.Random(7)
    rows = [{"s1": rng.choice(["", "a", "ab"]) + "".join(rng.choice("ab\x00") for _ in range(rng.randrange(12)))
             if rng.random() > 0.05 else None,
             "s2": None, "i": rng.randrange(4), "f": float(rng.randrange(3))} for _ in range(60_000)]
    table = pa.Table.from_pylist(rows, schema)
    distinct_rows = len({(r["s1"], r["i"], r["f"]) for r in rows})
    assert len(set(keys(fp, table))) == distinct_rows


def test_nested_and_dictionary_columns() -> None:
    fp = rfp.RowFingerprinter()
    structs = pa.array([{"x": 1, "y": "a"}, {"x": 1, "y": "a"}, None, {"x": None, "y": None}, {"x": 1, "y": "b"}],
                       pa.struct([("x", pa.int32()), ("y", pa.string())]))
    k = keys(fp, pa.table({"s": structs}))
    assert k[0] == k[1] and len({k[1], k[2], k[3], k[4]}) == 4
    lists = pa.array([[1, 2], [1, 2], [12], [], None], pa.list_(pa.int64()))
    k = keys(fp, pa.table({"l": lists}))
    assert k[0] == k[1] and len({k[1], k[2], k[3], k[4]}) == 4
    words = ["red", "blue", "red"]
    assert keys(fp, pa.table({"d": pa.array(words).dictionary_encode()})) == keys(fp, pa.table({"d": pa.array(words)}))


def test_fingerprints_are_keyed_per_instance() -> None:
    batch = pa.record_batch({"v": ["same"]})
    assert keys(rfp.RowFingerprinter(b"\x01" * 32), batch) == keys(rfp.RowFingerprinter(b"\x01" * 32), batch)
    assert keys(rfp.RowFingerprinter(b"\x01" * 32), batch) != keys(rfp.RowFingerprinter(b"\x02" * 32), batch)


def feed(digests: rfp.DigestSet, batches: list[tuple[np.ndarray, np.ndarray]]) -> list[list[int]]:
    return [digests.add_new(a, b).tolist() for a, b in batches]


def random_batches(seed: int, count: int, size: int, universe: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    lanes = rng.integers(0, 2**64, size=(universe, 2), dtype=np.uint64)
    # A few pairs share lane a with different lane b: membership must still look at lane b.
    lanes[1::50, 0] = lanes[0::50, 0][: len(lanes[1::50])]
    out = []
    for _ in range(count):
        pick = rng.integers(0, universe, size=size)
        out.append((lanes[pick, 0].copy(), lanes[pick, 1].copy()))
    return out


def reference(batches: list[tuple[np.ndarray, np.ndarray]]) -> list[list[int]]:
    seen: set[tuple[int, int]] = set()
    out = []
    for a, b in batches:
        keep = []
        for i, pair in enumerate(zip(a.tolist(), b.tolist(), strict=True)):
            if pair not in seen:
                seen.add(pair)
                keep.append(i)
        out.append(keep)
    return out


def test_digest_set_keeps_first_occurrences_like_a_python_set() -> None:
    batches = random_batches(1, 40, 500, 6000)
    digests = rfp.DigestSet(memory_rows=10**9)
    assert feed(digests, batches) == reference(batches)
    distinct = {p for a, b in batches for p in zip(a.tolist(), b.tolist(), strict=True)}
    assert not digests.spilled and len(digests) == len(distinct)
    digests.close()


def test_digest_set_spills_to_disk_with_the_same_answers(tmp_path: Path) -> None:
    batches = random_batches(2, 40, 500, 6000)
    digests = rfp.DigestSet(memory_rows=1000, spill_dir=str(tmp_path))
    answers = feed(digests, batches)
    assert digests.spilled
    assert list(tmp_path.iterdir())  # the spill file lives in the spill dir
    assert answers == reference(batches)
    digests.close()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("seed", [3, 4])
def test_lane_a_collisions_are_resolved_by_lane_b(seed: int) -> None:
    # Every fingerprint shares lane a with others: only lane b tells them apart.
    rng = np.random.default_rng(seed)
    a = np.repeat(np.array([5, 9], dtype=np.uint64), 300)
    b = rng.integers(0, 40, size=600).astype(np.uint64)
    batches = [(a[i:i + 100], b[i:i + 100]) for i in range(0, 600, 100)]
    digests = rfp.DigestSet(memory_rows=10**9)
    assert feed(digests, batches) == reference(batches)
