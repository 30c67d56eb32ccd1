"""Checks on upload input: names safe to use in R2 keys, and real Parquet content."""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
DEFAULT_MAX_UPLOAD_BYTES = 64 * 1024 * 1024


class InputError(Exception):
    """400 with a message that names the offending field."""


def check_name(field: str, value: object) -> str:
    if not isinstance(value, str) or value == "":
        raise InputError(f'field "{field}" is required')
    if not NAME_RE.fullmatch(value):
        raise InputError(f'field "{field}" must match ^[A-Za-z0-9_.-]{{1,64}}$')
    if set(value) == {"."}:
        # "." and ".." would read as path segments in the R2 key and on any file-backed store.
        raise InputError(f'field "{field}" must not be "." or ".."')
    return value


@dataclass(frozen=True)
class ParquetInfo:
    rows: int
    row_groups: int
    columns: int
    fingerprint: str


def schema_fingerprint(schema: pa.Schema) -> str:
    """Same fingerprint as the workflow's grouping: field names and types, nothing else."""
    text = "|".join(f"{f.name}:{f.type}" for f in schema)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def inspect_parquet(data: bytes) -> ParquetInfo:
    """Footer and schema of an uploaded file; InputError naming "file" if it is not Parquet."""
    if len(data) < 12 or data[:4] != b"PAR1" or data[-4:] != b"PAR1":
        raise InputError('field "file" is not a Parquet file (missing PAR1 magic: truncated or another format)')
    # Imported here, not at the top: only uploads read Parquet, and every other route (and
    # `cf-emulator dev`'s start) does without pyarrow's ~0.2 s import.
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(io.BytesIO(data))
        meta = pf.metadata
        schema = pf.schema_arrow
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several error types for a bad footer
        raise InputError(f'field "file" is not a valid Parquet file: {exc}') from None
    return ParquetInfo(meta.num_rows, meta.num_row_groups, len(schema), schema_fingerprint(schema))
