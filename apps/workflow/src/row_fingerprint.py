"""Vectorised 128-bit row fingerprints and a bounded-memory set of them.

The merge drops exact duplicate rows. Building a Python object per row and hashing it cost
about 2 CPU-µs a row, as much as decoding and encoding the Parquet together, so here every
step runs over whole record batches with numpy (Cloudflare's Python Workers ship numpy in
Pyodide, like pyarrow):

- each column gives two 64-bit hashes per row, one per *lane*, straight from its Arrow
  buffers: fixed-width values are read as integers (their exact bits: ``-0.0`` ≠ ``0.0``,
  NaNs with the same bits are equal), variable-length values are cut into 8-byte words
  (the data buffer reshaped when all values have one length, else padded with Arrow
  kernels or gathered through a stride-1 ``uint64`` view), each word mixed once with its
  position in the value, the mixed words summed per value in two independent ways (plainly
  for lane a, with random odd per-position weights for lane b), then finalised with the
  length; null slots hash to a per-column null constant whatever bytes lie under them;
- the columns of a row are chained through a keyed bijective mixer in column order, so the
  two lanes make a 128-bit fingerprint per row.

The mixers are SplitMix64/Murmur3 finalisers (bijections of 64-bit words), keyed with
random per-instance seeds (as Python keys its SipHash per process): equal rows always get
equal fingerprints within one ``RowFingerprinter``, and distinct rows collide with a
probability of about n²/2^129 for n distinct rows on non-adversarial data. The lanes use
different finalisers and independent seeds. Each batch is checked against the set through a
bit-packed prefilter first, so most new rows cost no binary search. This is a fast
non-cryptographic hash, not a PRF: a dataset is compacted only with its own uploader's rows,
so a crafted collision could only drop that uploader's own row.

``DigestSet`` keeps the fingerprints seen so far as a few sorted numpy arrays (16 bytes per
distinct row, merged like an LSM tree); past ``memory_rows`` it moves them to a temporary
SQLite file with a bounded page cache, so memory stays bounded whatever the input size.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

U64 = np.uint64
_M1 = U64(0xBF58476D1CE4E5B9)   # SplitMix64 finaliser
_M2 = U64(0x94D049BB133111EB)
_M3 = U64(0xFF51AFD7ED558CCD)   # Murmur3 fmix64
_M4 = U64(0xC4CEB9FE1A85EC53)
_GOLDEN = U64(0x9E3779B97F4A7C15)
_MASK64 = (1 << 64) - 1
# Words per block in the byte hashing (16 K words = 128 KiB per temporary array).
BLOCK_WORDS = 16 * 1024
# Membership prefilter: 2^PREFILTER_BITS bits (8 MiB), indexed by lane a's top bits.
PREFILTER_BITS = 26
# Fingerprints moved to SQLite per statement when the set spills.
SPILL_SLICE = 64 * 1024
_S30, _S27, _S31, _S33 = U64(30), U64(27), U64(31), U64(33)
_WORD_MASKS = np.array([(1 << (8 * r)) - 1 if r else (1 << 64) - 1 for r in range(8)], dtype=np.uint64)


def _mix_a(x: np.ndarray, t: np.ndarray | None = None) -> np.ndarray:
    """SplitMix64's finaliser, in place (a bijection of uint64); ``t``: scratch of x's shape."""
    t = np.right_shift(x, _S30, out=t)
    x ^= t
    x *= _M1
    np.right_shift(x, _S27, out=t)
    x ^= t
    x *= _M2
    np.right_shift(x, _S31, out=t)
    x ^= t
    return x


def _mix_b(x: np.ndarray) -> np.ndarray:
    """Murmur3's fmix64, in place (another bijection, so the lanes are not the same function)."""
    t = x >> _S33
    x ^= t
    x *= _M3
    np.right_shift(x, _S33, out=t)
    x ^= t
    x *= _M4
    np.right_shift(x, _S33, out=t)
    x ^= t
    return x


_MIXERS = (_mix_a, _mix_b)


def _validity(col: pa.Array) -> np.ndarray | None:
    """Boolean validity per slot, or None when the column has no nulls."""
    if col.null_count == 0:
        return None
    return np.asarray(col.is_valid().to_numpy(zero_copy_only=False), dtype=bool)


def _fixed_words(col: pa.Array, width: int) -> list[np.ndarray]:
    """The exact bits of each fixed-width value as uint64 words (one per 8 bytes)."""
    n = len(col)
    buf = col.buffers()[1]
    raw = np.frombuffer(buf, dtype=np.uint8, count=(col.offset + n) * width)[col.offset * width:]
    if width in (1, 2, 4, 8):
        return [raw.view(f"<u{width}").astype(np.uint64)]
    if width % 8 == 0:
        words = raw.view("<u8").reshape(n, width // 8)
        return [np.ascontiguousarray(words[:, i]) for i in range(width // 8)]
    raise TypeError(f"unsupported fixed width {width}")


def _position_keys(count: int, seeds: tuple[np.uint64, np.uint64]) -> tuple[np.ndarray, np.ndarray]:
    """Per word position k: lane a's key ``k·φ ^ seed_a`` and lane b's odd coefficient."""
    k = np.arange(count, dtype=np.uint64) * _GOLDEN
    keys = k ^ seeds[0]
    coef = _mix_b(k ^ seeds[1])
    coef |= U64(1)
    return keys, coef


def _word_sums(words: np.ndarray, seeds: tuple[np.uint64, np.uint64]) -> tuple[np.ndarray, np.ndarray]:
    """Both lanes' word sums along the last axis of a (rows, words) uint64 matrix."""
    rows, width = words.shape
    keys, coef = _position_keys(width, seeds)
    sa = np.empty(rows, dtype=np.uint64)
    sb = np.empty(rows, dtype=np.uint64)
    # Blocks of about BLOCK_WORDS words keep the temporaries in the CPU cache across the
    # dozen passes below (measured ~1.4x faster than whole-batch passes).
    step = max(1, BLOCK_WORDS // max(width, 1))
    xbuf = np.empty((min(step, rows), width), dtype=np.uint64)
    tbuf = np.empty_like(xbuf)
    for lo in range(0, rows, step):
        block = words[lo:lo + step]
        x, t = xbuf[:len(block)], tbuf[:len(block)]
        np.bitwise_xor(block, keys, out=x)
        _mix_a(x, t)
        np.add.reduce(x, axis=1, dtype=np.uint64, out=sa[lo:lo + step])
        x *= coef
        np.add.reduce(x, axis=1, dtype=np.uint64, out=sb[lo:lo + step])
    return sa, sb


def _var_hashes(col: pa.Array, seeds: tuple[np.uint64, np.uint64]) -> tuple[np.ndarray, np.ndarray]:
    """Per-value (lane a, lane b) hashes of a binary/large_binary array's bytes.

    A value of ``len`` bytes is read as ``ceil(len / 8)`` little-endian words ``w_k`` (the
    last one zero-padded) and each word is mixed once, ``x_k = mix_a(w_k ^ k·φ ^ seed_a)``
    (a keyed bijection). Lane a is ``mix_a(Σ x_k ^ (len·φ + seed_a))``; lane b is
    ``mix_b(Σ c_k·x_k ^ (len·φ + seed_b))`` with random odd per-position coefficients
    ``c_k``, so a collision needs two independent sums to cancel at once. Three layouts
    compute exactly that function (a value hashes the same whichever a batch takes): all
    values the same length → the data buffer reshaped; lengths that vary a little → values
    zero-padded to the longest (Arrow kernels) and the extra zero words' known contributions
    subtracted; lengths that vary a lot → each word gathered from a stride-1 uint64 view of
    the data and summed per value with ``reduceat``.
    """
    if col.null_count:
        col = col.fill_null(b"")   # null slots get the null constant later; only the layout matters
    n = len(col)
    bufs = col.buffers()
    off_type = np.int64 if pa.types.is_large_binary(col.type) else np.int32
    offsets = np.frombuffer(bufs[1], dtype=off_type, count=col.offset + n + 1)[col.offset:].astype(np.int64)
    base, end = int(offsets[0]), int(offsets[-1])
    lengths = np.diff(offsets)
    max_len = int(lengths.max()) if n else 0
    width = (max_len + 7) >> 3                      # words per value in the padded layout
    if n == 0:
        sa, sb = np.zeros(0, np.uint64), np.zeros(0, np.uint64)
    elif end - base == n * max_len:
        # Every value has the same length: rows of the data buffer, padded to whole words.
        raw = np.frombuffer(bufs[2], dtype=np.uint8, count=end)[base:] if end > base else np.zeros(0, np.uint8)
        if max_len % 8 == 0 and raw.ctypes.data % 8 == 0:
            words = raw.view("<u8").reshape(n, width)      # whole aligned words: no copy
        else:
            padded = np.zeros((n, width * 8), dtype=np.uint8)
            padded[:, :max_len] = raw.reshape(n, max_len)
            words = padded.view("<u8")
        sa, sb = _word_sums(words, seeds)
    elif n * width * 8 <= 2 * (end - base) + 64 * n:
        # Pad every value to ``width`` words with Arrow kernels, then one matrix.
        pad = pc.binary_repeat(pa.scalar(b"\x00", col.type), pa.array(width * 8 - lengths, pa.int64()))
        joined = pc.binary_join_element_wise(col, pad, pa.scalar(b"", col.type))
        words = np.frombuffer(joined.buffers()[2], dtype=np.uint8, count=n * width * 8).view("<u8").reshape(n, width)
        sa, sb = _word_sums(words, seeds)
        # Take away the zero words past each value's own words.
        keys, coef = _position_keys(width, seeds)
        zero = _mix_a(keys.copy())
        nwords = (lengths + 7) >> 3
        for lane, weights in enumerate((zero, zero * coef)):
            tail = np.concatenate((np.zeros(1, np.uint64), np.cumsum(weights, dtype=np.uint64)))
            (sa if lane == 0 else sb)[...] -= tail[width] - tail[nwords]
    else:
        # The data of this slice plus 8 zero bytes, so the last 8-byte read stays in bounds.
        data = np.zeros(end - base + 8, dtype=np.uint8)
        data[: end - base] = np.frombuffer(bufs[2], dtype=np.uint8, count=end)[base:]
        starts = offsets[:-1] - base
        nwords = (lengths + 7) >> 3
        total = int(nwords.sum())
        first_word = np.cumsum(nwords) - nwords
        value_of_word = np.repeat(np.arange(n), nwords)
        k = np.arange(total, dtype=np.int64) - first_word[value_of_word]   # word number in its value
        pos = starts[value_of_word] + 8 * k
        # Stride-1 uint64 view: element i is the (unaligned) little-endian word at byte i.
        words = np.ndarray(shape=(len(data) - 7,), dtype="<u8", buffer=data.data, strides=(1,))[pos]
        has_words = nwords > 0
        last = (first_word + nwords - 1)[has_words]
        words[last] &= _WORD_MASKS[lengths[has_words] & 7]   # bytes past the value's end
        keys, coef = _position_keys(width, seeds)
        x = words ^ keys[k]
        _mix_a(x)
        sa, sb = np.zeros(n, dtype=np.uint64), np.zeros(n, dtype=np.uint64)
        sa[has_words] = np.add.reduceat(x, first_word[has_words])
        x *= coef[k]
        sb[has_words] = np.add.reduceat(x, first_word[has_words])
    ln = lengths.astype(np.uint64) * _GOLDEN
    sa ^= ln + seeds[0]
    sb ^= ln + seeds[1]
    return _mix_a(sa), _mix_b(sb)


class RowFingerprinter:
    """128-bit fingerprints (two uint64 lanes) of the rows of record batches of one schema."""

    def __init__(self, seed: bytes | None = None) -> None:
        raw = seed if seed is not None else os.urandom(32)
        if len(raw) < 32:
            raw = (raw * 32)[:32]
        s = np.frombuffer(raw[:32], dtype="<u8")
        self._seed_a, self._seed_b, self._col_a, self._col_b = (U64(v) for v in s)

    def _column(self, col: pa.Array, index: int, a: np.ndarray, b: np.ndarray) -> None:
        """Chain column ``index`` of every row into the lanes ``a`` and ``b`` (in place)."""
        ha, hb = self._column_hashes(col, index)
        for lane, h, mix, colseed in ((a, ha, _mix_a, self._col_a), (b, hb, _mix_b, self._col_b)):
            lane ^= h
            lane += U64((int(colseed) + (index + 1) * int(_GOLDEN)) & _MASK64)
            mix(lane)

    def _column_hashes(self, col: pa.Array, index: int) -> tuple[np.ndarray, np.ndarray]:
        t = col.type
        n = len(col)
        salt = U64(((index + 1) * 0x100000001B3) & _MASK64)
        seeds = (self._seed_a ^ salt, self._seed_b ^ salt)
        valid = _validity(col)
        if pa.types.is_dictionary(t):
            return self._column_hashes(pc.cast(col, t.value_type), index)
        if pa.types.is_struct(t):
            # Children (with the struct's offset applied) chained in order, then the struct's
            # own validity decides: a null struct hashes to the null constant.
            a = np.full(n, seeds[0], dtype=np.uint64)
            b = np.full(n, seeds[1], dtype=np.uint64)
            for i, child in enumerate(col.flatten()):
                self._column(child, i, a, b)
            ha, hb = a, b
        elif (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)
              or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)
              or pa.types.is_binary_view(t) or pa.types.is_string_view(t)):
            target = pa.large_binary() if (pa.types.is_large_string(t) or pa.types.is_large_binary(t)) else pa.binary()
            data = col if t == target else pc.cast(col, target)
            ha, hb = _var_hashes(data, seeds)
        elif pa.types.is_boolean(t):
            words = [np.asarray(pc.cast(col, pa.uint8()).fill_null(0).to_numpy(zero_copy_only=False),
                     dtype=np.uint64)]
            ha, hb = self._words_hash(words, seeds)
        else:
            try:
                width = t.bit_width // 8
            except ValueError:
                width = 0
            if width > 0 and len(col.buffers()) == 2:
                # Integers, floats, temporals, decimals: their bits, never formatted.
                ha, hb = self._words_hash(_fixed_words(col, width), seeds)
            else:
                # Lists, maps and other nested values: an exact but slow Python repr.
                text = pa.array([None if v is None else repr(v).encode() for v in col.to_pylist()], pa.binary())
                ha, hb = _var_hashes(text.fill_null(b""), seeds)
        if valid is not None:
            # Null slots: a constant, whatever bytes Arrow left under them.
            ha = np.where(valid, ha, _mix_a(np.array([seeds[0] ^ _M3], dtype=np.uint64))[0])
            hb = np.where(valid, hb, _mix_b(np.array([seeds[1] ^ _M1], dtype=np.uint64))[0])
        return ha, hb

    @staticmethod
    def _words_hash(words: list[np.ndarray], seeds: tuple[np.uint64, np.uint64]) -> tuple[np.ndarray, np.ndarray]:
        out = []
        for lane, mix in enumerate(_MIXERS):
            h = words[0] ^ seeds[lane]
            mix(h)
            for w in words[1:]:
                h ^= w
                h += _GOLDEN
                mix(h)
            out.append(h)
        return out[0], out[1]

    def fingerprints(self, batch: pa.RecordBatch | pa.Table) -> tuple[np.ndarray, np.ndarray]:
        """(lane a, lane b): two uint64 arrays, one entry per row."""
        n = batch.num_rows
        a = np.full(n, self._seed_a, dtype=np.uint64)
        b = np.full(n, self._seed_b, dtype=np.uint64)
        for i, col in enumerate(batch.columns):
            if isinstance(col, pa.ChunkedArray):
                col = col.combine_chunks()
            self._column(col, i, a, b)
        return a, b


def distinct_sorted(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (a, b) pairs of a batch, sorted by lane a: (indexes, a, b).

    Each pair's index is its first occurrence in the batch.
    """
    n = len(a)
    order = np.argsort(a, kind="stable")
    sa, sb = a[order], b[order]
    if n > 1 and bool((sa[1:] == sa[:-1]).any()):
        # Repeated lane-a values (duplicate rows, or a 2^-64 coincidence): order by (a, b,
        # position) so equal pairs are adjacent with the earliest first, and keep that one.
        order = np.lexsort((np.arange(n), b, a))
        sa, sb = a[order], b[order]
        starts = np.ones(n, dtype=bool)
        starts[1:] = (sa[1:] != sa[:-1]) | (sb[1:] != sb[:-1])
        order, sa, sb = order[starts], sa[starts], sb[starts]
    return order, sa, sb


class DigestSet:
    """The set of fingerprints seen in one merge: sorted numpy runs, then SQLite on disk.

    In memory, fingerprints live in runs sorted by lane a whose sizes follow a binary
    counter, like an LSM tree: an add appends one run and merges (linearly) equal-sized ones,
    so there are O(log n) runs and a batch lookup is one ``searchsorted`` per run. That costs
    16 bytes per distinct row, plus about as much again while the two largest runs merge. Past ``memory_rows``
    distinct rows everything moves to a temporary SQLite table with a 16 MiB page cache.
    """

    def __init__(self, memory_rows: int, spill_dir: str | None = None) -> None:
        self.memory_rows = memory_rows
        self.spill_dir = spill_dir
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []
        self._count = 0
        self._spilled: _SpilledDigests | None = None
        # Lane a's top bits → 1 if some fingerprint with those bits was added. Most rows of a
        # merge are new, and most new rows miss here, which spares their binary searches.
        self._prefilter: np.ndarray | None = None

    def __len__(self) -> int:
        return self._count

    @property
    def spilled(self) -> bool:
        return self._spilled is not None

    def add_new(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Record the batch's fingerprints; return the (sorted) indexes of rows never seen before,
        the first occurrence only for rows repeated within the batch."""
        first, fa, fb = distinct_sorted(a, b)
        if self._spilled is not None:
            fresh = self._spilled.add_new(fa, fb)
        else:
            if self._prefilter is None:
                self._prefilter = np.zeros(1 << (PREFILTER_BITS - 3), dtype=np.uint8)
            slots = fa >> U64(64 - PREFILTER_BITS)
            byte, bit = slots >> U64(3), (slots & U64(7)).astype(np.uint8)
            maybe = np.nonzero((self._prefilter[byte] >> bit) & 1)[0]
            fresh = np.ones(len(first), dtype=bool)
            if len(maybe):
                ma, mb = fa[maybe], fb[maybe]
                seen = np.zeros(len(maybe), dtype=bool)
                for ra, rb in self._runs:
                    seen |= _member(ra, rb, ma, mb)
                fresh[maybe[seen]] = False
            if fresh.any():
                # fa is sorted by lane a, so equal prefilter bytes are adjacent: OR each
                # group's bits together, then set every byte once.
                nb = byte[fresh]
                masks = np.left_shift(np.uint8(1), bit[fresh])
                starts = np.flatnonzero(np.concatenate(([True], nb[1:] != nb[:-1])))
                self._prefilter[nb[starts]] |= np.bitwise_or.reduceat(masks, starts)
                self._push(fa[fresh], fb[fresh])
        keep: np.ndarray = np.sort(first[fresh])
        self._count += len(keep)
        if self._spilled is None and self._count > self.memory_rows:
            self._spill()
        return keep

    def _push(self, a: np.ndarray, b: np.ndarray) -> None:
        """Append a run (already sorted by lane a); merge equal-sized runs."""
        self._runs.append((a, b))
        while len(self._runs) > 1 and len(self._runs[-1][0]) >= len(self._runs[-2][0]):
            (a2, b2), (a1, b1) = self._runs.pop(), self._runs.pop()
            self._runs.append(_merge_runs(a1, b1, a2, b2))

    def _spill(self) -> None:
        spilled = _SpilledDigests(self.spill_dir)
        for ra, rb in self._runs:
            spilled.load(ra, rb)
        self._runs = []
        self._prefilter = None
        self._spilled = spilled

    def close(self) -> None:
        if self._spilled is not None:
            self._spilled.close()
            self._spilled = None
        self._runs = []
        self._prefilter = None


def _merge_runs(a1: np.ndarray, b1: np.ndarray, a2: np.ndarray, b2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge two runs sorted by lane a in linear time (one output pair of arrays, no sort)."""
    n = len(a1) + len(a2)
    at = np.searchsorted(a1, a2, side="right") + np.arange(len(a2))   # a2's slots in the output
    from_first = np.ones(n, dtype=bool)
    from_first[at] = False
    ma = np.empty(n, dtype=np.uint64)
    mb = np.empty(n, dtype=np.uint64)
    ma[at], mb[at] = a2, b2
    ma[from_first], mb[from_first] = a1, b1
    return ma, mb


def _member(ra: np.ndarray, rb: np.ndarray, qa: np.ndarray, qb: np.ndarray) -> np.ndarray:
    """Which (qa, qb) pairs are in the run (sorted by lane a)."""
    n = len(ra)
    lo = np.searchsorted(ra, qa, side="left")
    found = np.zeros(len(qa), dtype=bool)
    inside = lo < n
    hit = np.zeros(len(qa), dtype=bool)
    hit[inside] = ra[lo[inside]] == qa[inside]
    if not hit.any():
        return found
    # Lane a matches: usually exactly one entry, then lane b decides.
    idx = np.nonzero(hit)[0]
    found[idx] = rb[lo[idx]] == qb[idx]
    # Several entries share this lane a (probability ~n²/2^65): compare all their b's.
    nxt = lo[idx] + 1
    multi = idx[(nxt < n) & (ra[np.minimum(nxt, n - 1)] == qa[idx]) & ~found[idx]]
    for i in multi.tolist():
        left, right = int(lo[i]), int(np.searchsorted(ra, qa[i], side="right"))
        found[i] = bool((rb[left:right] == qb[i]).any())
    return found


def _blobs(a: np.ndarray, b: np.ndarray) -> list[bytes]:
    pairs = np.empty((len(a), 2), dtype=">u8")
    pairs[:, 0] = a
    pairs[:, 1] = b
    raw = pairs.tobytes()
    return [raw[i:i + 16] for i in range(0, len(raw), 16)]


class _SpilledDigests:
    """The fingerprint set in a temporary SQLite file (bounded page cache)."""

    def __init__(self, spill_dir: str | None) -> None:
        self._tmp = tempfile.NamedTemporaryFile(dir=spill_dir, suffix=".sqlite")  # noqa: SIM115 - owned by this object until close()
        # Used from the merge's decode thread, closed from the event loop's thread.
        self._db = sqlite3.connect(self._tmp.name, check_same_thread=False)
        for pragma in ("journal_mode = OFF", "synchronous = OFF", "cache_size = -16384", "temp_store = MEMORY"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.execute("CREATE TABLE seen (d BLOB PRIMARY KEY) WITHOUT ROWID")
        self._db.execute("CREATE TEMP TABLE batch (d BLOB PRIMARY KEY, i INTEGER) WITHOUT ROWID")

    def load(self, a: np.ndarray, b: np.ndarray) -> None:
        # In slices, so the blobs of a whole run (2 M × ~50 bytes as Python objects) never
        # exist at once: the spill must not cost the memory it is there to save.
        for lo in range(0, len(a), SPILL_SLICE):
            blobs = _blobs(a[lo:lo + SPILL_SLICE], b[lo:lo + SPILL_SLICE])
            self._db.executemany("INSERT OR IGNORE INTO seen (d) VALUES (?)", ((d,) for d in blobs))

    def add_new(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Mask of the (already batch-distinct) fingerprints not seen before; records them."""
        db = self._db
        db.execute("DELETE FROM batch")
        db.executemany("INSERT INTO batch (d, i) VALUES (?, ?)", zip(_blobs(a, b), range(len(a)), strict=True))
        fresh = np.zeros(len(a), dtype=bool)
        rows = [i for (i,) in db.execute(
            "SELECT i FROM batch WHERE NOT EXISTS (SELECT 1 FROM seen WHERE seen.d = batch.d)")]
        fresh[rows] = True
        db.execute("INSERT OR IGNORE INTO seen (d) SELECT d FROM batch")
        return fresh

    def close(self) -> None:
        self._db.close()
        self._tmp.close()
