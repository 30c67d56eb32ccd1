"""``/_emulator/r2``: object routes over HTTP, and what they refuse."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from emulator.bindings.r2.routes import routes
from emulator.platform import Platform


async def test_keys_and_buckets_are_validated(platform: Platform, aiohttp_client: Any) -> None:
    app = web.Application()
    app.add_routes(routes(platform.plugin("r2")))  # type: ignore[arg-type]  # the plugin's own routes() takes it (typed BindingPlugin)
    client = await aiohttp_client(app)
    store = platform.plugin("r2").store  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)
    long_key = quote("é" * 512 + "x")  # 1025 bytes
    for method, url in (("GET", f"/buckets/bucket/object?key={long_key}"),
                        ("GET", f"/buckets/bucket/object/meta?key={long_key}"),
                        ("PUT", f"/buckets/bucket/object?key={long_key}"),
                        ("DELETE", f"/buckets/bucket/object?key={long_key}"),
                        ("PUT", "/buckets/new-bucket/object"),                 # no ?key=
                        ("PUT", f"/buckets/{'b' * 300}/object?key=k")):
        resp = await client.request(method, url, data=b"v")
        assert resp.status == 400 and "error" in await resp.json(), (method, url[:60])
    # A rejected PUT creates no bucket (a good one may: the CLI puts into new buckets).
    assert store.bucket_names() == ["bucket"]
    resp = await client.put(f"/buckets/bucket/object?key={quote('é' * 512)}", data=b"v")
    assert resp.status == 200
    resp = await client.put("/buckets/new-bucket/object?key=k", data=b"v")
    assert resp.status == 200 and "new-bucket" in store.bucket_names()
