"""Pages static asset rules (docs/hosting.md, "Static files") through real HTTP."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from emulator.runtime.assets import AssetDirectory
from tests.helpers.apps import pages_config, write_files

SITE = {
    "public/index.html": "home",
    "public/about.html": "about page",
    "public/blog/index.html": "blog index",
    "public/blog/404.html": "blog not found",
    "public/docs/guide.html": "guide",
    "public/both.html": "both.html",
    "public/both": "both (extensionless file)",
    "public/style.css": "body{}",
    "public/app.js": "1",
    "public/data.json": "{}",
    "public/img/logo.svg": "<svg/>",
    "public/file.unknownext": "?",
    "public/_headers": """
        /*
          X-Frame-Options: DENY
          X-Multi: one
        /blog/*
          X-Blog: yes
          X-Multi: two
          ! X-Frame-Options
        /img/:name
          X-Image: :name
        /api/*
          Cache-Control: public, max-age=60
    """,
    "public/_redirects": """
        # comments are ignored
        /old-about /about 301
        /temp /about
        /news/* /blog/:splat 302
        /users/:id/profile /people/:id 308
        /rewrite /docs/guide 200
        /external https://example.com/x 307
        /bad-line
    """,
}


@pytest.fixture
async def site(tmp_path: Path, serve: Any) -> Any:
    write_files(tmp_path, SITE)
    return await serve(pages_config(tmp_path))


@pytest.mark.parametrize("path, status, expect", [
    ("/", 200, "home"),
    ("/about", 200, "about page"),
    ("/about.html", 308, "/about"),
    ("/about/", 308, "/about"),
    ("/blog/", 200, "blog index"),
    ("/blog", 308, "/blog/"),
    ("/blog/index.html", 308, "/blog/"),
    ("/blog/index", 308, "/blog/"),
    ("/blog/index/", 308, "/blog/"),
    ("/index.html", 308, "/"),
    ("/docs/guide", 200, "guide"),
    ("/both.html", 200, "both.html"),  # `/both` is itself an asset: no redirect
    ("/both", 200, "both (extensionless file)"),
    ("/blog/missing/deep", 404, "blog not found"),
    ("/nowhere", 200, "home"),  # single-page-app fallback
    ("/about.html?x=1", 308, "/about?x=1"),
])
async def test_resolution_order(site: Any, path: str, status: int, expect: str) -> None:
    resp = await site.get(path, allow_redirects=False)
    assert resp.status == status
    if status == 308:
        assert resp.headers["location"] == expect
    else:
        assert await resp.text() == expect


async def test_plain_404_without_index(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {"public/a.txt": "a"})
    client = await serve(pages_config(tmp_path))
    resp = await client.get("/missing")
    assert resp.status == 404
    assert resp.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path, ctype", [
    ("/", "text/html; charset=utf-8"), ("/style.css", "text/css; charset=utf-8"),
    ("/app.js", "text/javascript; charset=utf-8"), ("/data.json", "application/json"),
    ("/img/logo.svg", "image/svg+xml"), ("/file.unknownext", None),
])
async def test_content_types(site: Any, path: str, ctype: str | None) -> None:
    resp = await site.get(path)
    assert resp.status == 200
    # An unknown extension gets no Content-Type at all, as on Cloudflare.
    assert resp.headers.get("content-type") == ctype


# Cloudflare's asset content types, extension by extension (mime v4.0.7 + the text/*
# charset rule): docs/python-workers.md "Static assets".
CLOUDFLARE_TYPES = {
    "html": "text/html; charset=utf-8", "htm": "text/html; charset=utf-8", "shtml": "text/html; charset=utf-8",
    "js": "text/javascript; charset=utf-8", "mjs": "text/javascript; charset=utf-8", "cjs": "application/node",
    "css": "text/css; charset=utf-8", "json": "application/json", "map": "application/json",
    "jsonld": "application/ld+json", "webmanifest": "application/manifest+json", "xml": "application/xml",
    "xhtml": "application/xhtml+xml", "txt": "text/plain; charset=utf-8", "md": "text/markdown; charset=utf-8",
    "markdown": "text/markdown; charset=utf-8", "csv": "text/csv; charset=utf-8",
    "yaml": "text/yaml; charset=utf-8", "yml": "text/yaml; charset=utf-8", "ics": "text/calendar; charset=utf-8",
    "appcache": "text/cache-manifest; charset=utf-8", "manifest": "text/cache-manifest; charset=utf-8",
    "jsx": "text/jsx; charset=utf-8", "rss": "application/rss+xml", "atom": "application/atom+xml",
    "toml": "application/toml", "sh": "application/x-sh", "bin": "application/octet-stream",
    "exe": "application/octet-stream", "dmg": "application/octet-stream", "png": "image/png",
    "jpg": "image/jpeg", "jpeg": "image/jpeg", "jpe": "image/jpeg", "gif": "image/gif", "webp": "image/webp",
    "avif": "image/avif", "svg": "image/svg+xml", "svgz": "image/svg+xml", "ico": "image/vnd.microsoft.icon",
    "bmp": "image/bmp", "tif": "image/tiff", "tiff": "image/tiff", "apng": "image/apng", "wasm": "application/wasm",
    "woff": "font/woff", "woff2": "font/woff2", "ttf": "font/ttf", "otf": "font/otf",
    "eot": "application/vnd.ms-fontobject", "pdf": "application/pdf", "zip": "application/zip",
    "gz": "application/gzip", "tar": "application/x-tar", "mp3": "audio/mpeg", "mp4": "video/mp4",
    "m4a": "audio/mp4", "webm": "video/webm", "ogg": "audio/ogg", "wav": "audio/wav", "mov": "video/quicktime",
    "avi": "video/x-msvideo", "ts": "video/mp2t", "flac": "audio/x-flac",
    # no type at all (not application/octet-stream)
    "py": None, "tsx": None, "br": None, "zst": None, "tgz": None, "unknownext": None,
}


def test_content_type_rule() -> None:
    from emulator.runtime.assets import content_type

    for ext, ctype in CLOUDFLARE_TYPES.items():
        assert content_type(f"/dir/file.{ext}") == ctype, ext
        assert content_type(f"/dir/FILE.{ext.upper()}") == ctype, ext  # extensions are case-insensitive
    assert content_type("/.htaccess") is None  # a dotfile has no extension
    assert content_type("/LICENSE") is None and content_type("/v1.2/README") is None
    assert content_type("/a.tar.gz") == "application/gzip"  # the last dot counts


@pytest.mark.parametrize("kind", ["pages", "workers"])
async def test_every_extension_is_served_with_cloudflares_type(tmp_path: Path, serve: Any, kind: str) -> None:
    from emulator.config.model import AssetsConfig
    from tests.helpers.apps import worker_config

    files: dict[str, str | bytes] = {f"public/file.{ext}": b"x" for ext in CLOUDFLARE_TYPES}
    files["public/favicon.ico"] = b"\x00\x00\x01\x00"
    if kind == "pages":
        write_files(tmp_path, files)
        client = await serve(pages_config(tmp_path))
    else:
        files["src/entry.py"] = ("from workers import WorkerEntrypoint, Response\n"
                                 "class Default(WorkerEntrypoint):\n"
                                 "    async def fetch(self, request):\n"
                                 "        return await self.env.ASSETS.fetch(request)\n")
        write_files(tmp_path, files)
        client = await serve(worker_config(tmp_path, assets=AssetsConfig(directory=tmp_path / "public",
                                                                        binding="ASSETS")))
    for ext, ctype in CLOUDFLARE_TYPES.items():
        resp = await client.get(f"/file.{ext}")
        assert resp.status == 200, ext
        assert resp.headers.get("content-type") == ctype, ext
    favicon = await client.get("/favicon.ico")
    assert favicon.headers["content-type"] == "image/vnd.microsoft.icon"


async def test_etag_and_conditional_requests(site: Any) -> None:
    first = await site.get("/style.css")
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 10
    assert first.headers["cache-control"] == "public, max-age=0, must-revalidate"
    assert "x-server-env" not in first.headers  # production headers, not `pages dev`'s
    for tag in (etag, f"W/{etag}", f'"other", {etag}'):
        again = await site.get("/style.css", headers={"If-None-Match": tag})
        assert again.status == 304
        assert await again.read() == b""
    assert (await site.get("/style.css", headers={"If-None-Match": '"stale"'})).status == 200
    head = await site.head("/style.css")
    assert head.status == 200 and await head.read() == b"" and head.headers["etag"] == etag


async def test_non_get_is_405(site: Any) -> None:
    assert (await site.post("/about")).status == 405
    assert (await site.put("/")).status == 405


async def test_headers_file(site: Any) -> None:
    home = await site.get("/")
    assert home.headers["x-frame-options"] == "DENY"
    assert home.headers["x-multi"] == "one"
    blog = await site.get("/blog/")
    assert blog.headers["x-blog"] == "yes"
    assert "x-frame-options" not in blog.headers
    assert blog.headers.getall("x-multi") == ["one", "two"]
    img = await site.get("/img/logo.svg")
    assert img.headers["x-image"] == "logo.svg"
    # A final 404 never keeps a cache-control: no-store instead.
    missing = await site.get("/blog/nope")
    assert missing.status == 404 and missing.headers["cache-control"] == "no-store"
    assert missing.headers["x-blog"] == "yes"


async def test_redirects_file(site: Any) -> None:
    cases = [("/old-about", 301, "/about"), ("/temp", 302, "/about"), ("/news/2024/post", 302, "/blog/2024/post"),
             ("/users/17/profile", 308, "/people/17"), ("/external", 307, "https://example.com/x"),
             ("/temp?keep=1", 302, "/about?keep=1")]
    for path, status, location in cases:
        resp = await site.get(path, allow_redirects=False)
        assert (resp.status, resp.headers["location"]) == (status, location), path
    rewritten = await site.get("/rewrite", allow_redirects=False)
    assert rewritten.status == 200 and await rewritten.text() == "guide"
    warnings = site.platform.log.messages("warn", "app:web")
    assert "_redirects:8: Expected exactly 2 or 3 whitespace-separated tokens. Got 1." in warnings


async def test_rule_files_are_never_served_and_reparsed_on_change(tmp_path: Path, site: Any) -> None:
    for name in ("/_headers", "/_redirects", "/_routes.json", "/_worker.py"):
        resp = await site.get(name)
        assert await resp.text() == "home", name  # the SPA fallback, never the file
    (tmp_path / "public/_redirects").write_text("/temp /blog/ 301\n")
    resp = await site.get("/temp", allow_redirects=False)
    assert resp.status == 301 and resp.headers["location"] == "/blog/"


async def _raw_get(port: int, target: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1]


@pytest.mark.parametrize("pathname", [
    "/../secret.txt", "/sub/../../secret.txt", "/..\\secret.txt", "/sub\\..\\ok.txt", "//etc/passwd",
    "{root}/secret.txt", "/./ok.txt", "/sub//ok.txt", "/sub/ok.txt\x00", "/_headers", "/linkdir/secret.txt",
    "/link.txt", "secret.txt", "", "/sub/",
])
def test_asset_directory_finds_nothing_outside_its_root(tmp_path: Path, pathname: str) -> None:
    """Both asset servers resolve decoded pathnames with ``AssetDirectory.find``."""
    write_files(tmp_path, {"public/sub/ok.txt": "ok", "public/_headers": "", "secret.txt": "TOP SECRET"})
    os.symlink(tmp_path / "secret.txt", tmp_path / "public" / "link.txt")
    os.symlink(tmp_path, tmp_path / "public" / "linkdir")
    directory = AssetDirectory(tmp_path / "public")
    assert directory.find(pathname.format(root=tmp_path)) is None
    assert directory.find("/sub/ok.txt") == os.path.realpath(tmp_path / "public" / "sub" / "ok.txt")


async def test_no_path_traversal(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {"public/index.html": "home", "secret.txt": "TOP SECRET",
                           "public/sub/ok.txt": "ok"})
    os.symlink(tmp_path / "secret.txt", tmp_path / "public" / "link.txt")
    os.symlink(tmp_path, tmp_path / "public" / "linkdir")
    client = await serve(pages_config(tmp_path))
    port = client.server.port
    for target in ("/../secret.txt", "/sub/../../secret.txt", "/%2e%2e/secret.txt", "/sub/%2E%2E/%2e%2e/secret.txt",
                   "/..%2fsecret.txt", "/%2e%2e%2fsecret.txt", "/..%5csecret.txt", "/link.txt",
                   "/linkdir/secret.txt", "/sub/ok.txt%00", "/..\\secret.txt", "/sub\\..\\..\\secret.txt",
                   "/%5C..%5Csecret.txt", f"/%2F{quote(str(tmp_path))}/secret.txt", f"/{tmp_path}/secret.txt",
                   f"//{str(tmp_path).lstrip('/')}/secret.txt", "/sub/%252e%252e/%252e%252e/secret.txt",
                   "/.%2e/secret.txt", "/%2e./secret.txt"):
        status, body = await _raw_get(port, target)
        assert b"TOP SECRET" not in body, target
    status, body = await _raw_get(port, "/sub/ok.txt")
    assert status == 200 and body == b"ok"
