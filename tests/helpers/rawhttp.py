"""HTTP/1.1 requests written byte for byte, for inputs a client library would refuse or
normalise: undecodable percent-escapes, raw non-UTF-8 header bytes, lying framing."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


async def raw_request(port: int, method: str, target: bytes | str,
                      headers: Mapping[Any, bytes | str] | None = None,
                      body: bytes = b"", host: str = "127.0.0.1", timeout: float = 30.0) -> RawResponse:
    """Send one request (``Connection: close``; ``Content-Length`` unless ``headers`` frames
    the body itself) and read the whole response."""
    def raw(value: bytes | str) -> bytes:
        return value if isinstance(value, bytes) else value.encode("latin-1")

    fields: dict[bytes | str, bytes | str] = dict(headers or {})  # names as str, or raw bytes
    lowered = {k.lower() for k in fields}
    fields.setdefault("Host", f"{host}:{port}")
    if "content-length" not in lowered and "transfer-encoding" not in lowered:
        fields["Content-Length"] = str(len(body))
    fields["Connection"] = "close"
    head = raw(method) + b" " + raw(target) + b" HTTP/1.1\r\n"
    head += b"".join(raw(k) + b": " + raw(v) + b"\r\n" for k, v in fields.items()) + b"\r\n"
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(head + body)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    status_line, _, rest = data.partition(b"\r\n")
    header_block, _, payload = rest.partition(b"\r\n\r\n")
    parsed: dict[str, str] = {}
    for line in header_block.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name:
            parsed[name.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
    if parsed.get("transfer-encoding", "").lower() == "chunked":
        payload = _unchunk(payload)
    return RawResponse(int(status_line.split()[1]), parsed, payload)


def _unchunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2:]
    return bytes(out)
