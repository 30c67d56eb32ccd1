"""Static assets: the Pages asset server and Workers static assets.

``PagesAssetServer`` follows ``pages-shared/asset-server/handler.ts`` (docs/hosting.md,
"Static files"): ``_redirects`` first, 405 for non-GET/HEAD, the ``.html`` / ``index.html`` resolution
with 308 redirects, nearest ``404.html`` walking up, then the SPA fallback to
``/index.html``; ``etag`` + ``If-None-Match`` → 304, ``cache-control: public, max-age=0,
must-revalidate``; ``_headers`` applied last; a final 404 gets ``cache-control: no-store``.
Parity: ``pages dev`` also adds ``x-server-env: dev``; production does not, and neither do we.

``WorkersAssetServer`` follows the Workers asset-worker: ``html_handling``
(``auto-trailing-slash`` default, ``force-trailing-slash``, ``drop-trailing-slash``,
``none``) with **307** redirects, and ``not_found_handling`` (``none``, ``404-page``,
``single-page-application``). A matching file is served before the Worker runs
(Cloudflare's default); otherwise the Worker gets the request.

Both resolve paths only inside their directory: ``..`` segments (also percent-encoded),
NUL bytes, backslashes and symlinks that lead outside are "not found". ``_headers``,
``_redirects``, ``_routes.json`` and ``_worker.py`` are never served.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from collections.abc import Callable
from urllib.parse import quote, unquote, urljoin, urlsplit

from emulator.runtime.asset_rules import HeaderRules, RedirectRules, parse_headers, parse_redirects
from emulator.runtime.http import Headers, Request, Response
from emulator.runtime.mime_table import EXTENSION_TYPES

CACHE_CONTROL = "public, max-age=0, must-revalidate"
HIDDEN_TOP_LEVEL = frozenset({"_headers", "_redirects", "_routes.json", "_worker.py", "_worker.js",
                              ".assetsignore"})
_PATH_SAFE = "/!$&'()*+,;=:@~"

def content_type(path: str) -> str | None:
    """The ``Content-Type`` Cloudflare serves an asset with, or None for none at all.

    workers-shared's ``getContentType``: ``mime.getType(path)`` (the mime v4.0.7 table,
    ``mime_table``), plus ``; charset=utf-8`` for ``text/*`` types. The extension is what
    follows the last dot of the last path segment, lower-cased; a segment without a dot
    (``/LICENSE``) or with only a leading one (``/.htaccess``) has none, and an unknown
    extension gets no header at all, not ``application/octet-stream``
    (docs/python-workers.md, "Static assets").
    """
    last = path.replace("\\", "/").rsplit("/", 1)[-1].lower()
    ext = last.rsplit(".", 1)[-1]
    has_dot = len(ext) < len(last) - 1
    if not has_dot and len(last) < len(path):
        return None
    found = EXTENSION_TYPES.get(ext)
    if found is None:
        return None
    return f"{found}; charset=utf-8" if found.startswith("text/") and "charset" not in found else found


def _quote_path(path: str) -> str:
    return quote(path, safe=_PATH_SAFE)


class AssetDirectory:
    """Files of one asset directory, addressed by decoded URL pathnames."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._real_root = os.path.realpath(root)
        self._etags: dict[str, tuple[int, int, str]] = {}

    def find(self, pathname: str) -> str | None:
        """The real file path for ``pathname`` (``/a/b.css``), or None."""
        if not pathname.startswith("/") or pathname.endswith("/") or "\x00" in pathname or "\\" in pathname:
            return None
        parts = pathname[1:].split("/")
        if any(p in ("", ".", "..") or p == "__pycache__" for p in parts):
            return None
        if len(parts) == 1 and parts[0] in HIDDEN_TOP_LEVEL:
            return None
        candidate = os.path.join(self._real_root, *parts)
        real = os.path.realpath(candidate)
        # A symlink may point anywhere; only files that really live inside the directory count.
        if not real.startswith(self._real_root + os.sep) or not os.path.isfile(real):
            return None
        return real

    def etag(self, real: str) -> str:
        st = os.stat(real)
        cached = self._etags.get(real)
        if cached and cached[0] == st.st_mtime_ns and cached[1] == st.st_size:
            return cached[2]
        with open(real, "rb") as fh:
            digest = hashlib.blake2b(fh.read(), digest_size=16).hexdigest()
        self._etags[real] = (st.st_mtime_ns, st.st_size, digest)
        return digest

    def serve(self, request: Request, real: str, status: int = 200, conditional: bool = True) -> Response:
        etag = self.etag(real)
        headers = Headers()
        ctype = content_type(real)
        if ctype is not None:
            headers.set("content-type", ctype)
        headers.set("etag", f'"{etag}"')
        headers.set("cache-control", CACHE_CONTROL)
        if conditional and status == 200:
            inm = request.headers.get("if-none-match")
            if inm and any(tag.strip() in (f'"{etag}"', f'W/"{etag}"') for tag in inm.split(",")):
                headers.delete("content-type")
                return Response(None, status=304, headers=headers)
        if str(request.method) == "HEAD":
            headers.set("content-length", str(os.path.getsize(real)))
            return Response(None, status=status, headers=headers)
        with open(real, "rb") as fh:
            body = fh.read()
        return Response(body, status=status, headers=headers)


class _RulesFile:
    """``_headers`` / ``_redirects``, re-parsed when the file changes (no reload needed)."""

    def __init__(self, path: Path, parse: Callable[[str], HeaderRules | RedirectRules],
                 report: Callable[[str], None]) -> None:
        self.path = path
        self._parse = parse
        self._report = report
        self._stamp: tuple[int, int] | None = None
        self._rules: HeaderRules | RedirectRules | None = None

    def get(self) -> HeaderRules | RedirectRules | None:
        try:
            st = self.path.stat()
        except OSError:
            self._stamp, self._rules = None, None
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            self._stamp = stamp
            self._rules = self._parse(self.path.read_text(encoding="utf-8", errors="replace"))
            for issue in self._rules.issues:
                self._report(f"{self.path.name}:{issue.line}: {issue.message}")
        return self._rules


def _redirect(location: str, status: int) -> Response:
    return Response(None, status=status, headers={"location": location})


class _RuleBasedServer:
    """Shared ``_redirects`` / ``_headers`` handling of both asset servers."""

    redirect_status_for_html = 308

    def __init__(self, directory: Path, report: Callable[[str], None]) -> None:
        self.dir = AssetDirectory(directory)
        self._redirects = _RulesFile(directory / "_redirects", parse_redirects, report)
        self._headers = _RulesFile(directory / "_headers", parse_headers, report)

    def _apply_redirects(self, request: Request, pathname: str, search: str
                         ) -> tuple[Response | None, str]:
        """A redirect response, or the (possibly rewritten by a 200 rule) pathname."""
        rules = self._redirects.get()
        if not rules:
            return None, pathname
        assert isinstance(rules, RedirectRules)
        parts = urlsplit(request.url)
        found = rules.match(parts.netloc, parts.path)
        if found is None:
            return None, pathname
        status, to = found
        dest = urlsplit(urljoin(request.url, to))
        same_origin = (dest.scheme, dest.netloc) == (parts.scheme, parts.netloc)
        query = f"?{dest.query}" if dest.query else search
        fragment = f"#{dest.fragment}" if dest.fragment else ""
        if status == 200:
            if same_origin:
                return None, unquote(dest.path)
            return None, pathname
        if same_origin:
            location = f"{dest.path}{query}{fragment}"
        else:
            location = f"{dest.scheme}://{dest.netloc}{dest.path}{query}{fragment}"
        return _redirect(location, status), pathname

    def _finish(self, request: Request, response: Response) -> Response:
        rules = self._headers.get()
        parts = urlsplit(request.url)
        if rules:
            assert isinstance(rules, HeaderRules)
            rules.apply(response.headers, parts.netloc, parts.path)
        if response.status == 404:
            response.headers.delete("cache-control")
            response.headers.append("cache-control", "no-store")
        return response


class PagesAssetServer(_RuleBasedServer):
    """The static half of a Pages project (``pages_build_output_dir``)."""

    async def fetch(self, request: Request) -> Response:
        parts = urlsplit(request.url)
        search = f"?{parts.query}" if parts.query else ""
        pathname = unquote(parts.path or "/")
        redirect, pathname = self._apply_redirects(request, pathname, search)
        if redirect is not None:
            return self._finish(request, redirect)
        if str(request.method) not in ("GET", "HEAD"):
            return self._finish(request, Response("Method Not Allowed", status=405))
        return self._finish(request, self._resolve(request, pathname, search))

    def _resolve(self, request: Request, pathname: str, search: str) -> Response:
        find = self.dir.find

        def moved(path: str) -> Response:
            return _redirect(_quote_path(path) + search, 308)

        if pathname.endswith("/"):
            if (real := find(pathname + "index.html")):
                return self.dir.serve(request, real)
            if pathname.endswith("/index/"):
                return moved(pathname[: -len("index/")])
            if find(pathname[:-1] + ".html"):
                return moved(pathname[:-1])
            return self._not_found(request, pathname)
        if (real := find(pathname)):
            if pathname.endswith(".html"):
                extensionless = pathname[: -len(".html")]
                if extensionless.endswith("/index"):
                    return moved(extensionless[: -len("index")])
                if find(extensionless):
                    return self.dir.serve(request, real)  # `/x` is itself an asset: no redirect
                return moved(extensionless)
            return self.dir.serve(request, real)
        if pathname.endswith("/index"):
            return moved(pathname[: -len("index")])
        if (real := find(pathname + ".html")):
            return self.dir.serve(request, real)
        if find(pathname + "/index.html"):
            return moved(pathname + "/")
        return self._not_found(request, pathname)

    def _not_found(self, request: Request, pathname: str) -> Response:
        cwd = pathname
        while cwd:
            cwd = cwd[: cwd.rfind("/")]
            if (real := self.dir.find(f"{cwd}/404.html")):
                return self.dir.serve(request, real, status=404)
        if (real := self.dir.find("/index.html")):
            return self.dir.serve(request, real)  # single-page-app fallback
        return Response(None, status=404)


HTML_HANDLING = ("auto-trailing-slash", "force-trailing-slash", "drop-trailing-slash", "none")
NOT_FOUND_HANDLING = ("none", "404-page", "single-page-application")


class WorkersAssetServer(_RuleBasedServer):
    """Workers static assets (``[assets]`` in a Worker's config)."""

    def __init__(self, directory: Path, report: Callable[[str], None],
                 html_handling: str = "auto-trailing-slash", not_found_handling: str = "none") -> None:
        super().__init__(directory, report)
        self.html_handling = html_handling if html_handling in HTML_HANDLING else "auto-trailing-slash"
        self.not_found_handling = not_found_handling if not_found_handling in NOT_FOUND_HANDLING else "none"

    async def match(self, request: Request) -> Response | None:
        """The asset response if the request matches an asset (or an html redirect), else None."""
        if str(request.method) not in ("GET", "HEAD"):
            return None
        parts = urlsplit(request.url)
        search = f"?{parts.query}" if parts.query else ""
        redirect, pathname = self._apply_redirects(request, unquote(parts.path or "/"), search)
        if redirect is not None:
            return self._finish(request, redirect)
        found = self._intent(request, pathname, search)
        return None if found is None else self._finish(request, found)

    async def fetch(self, request: Request) -> Response:
        """``env.ASSETS.fetch``: the asset, or the ``not_found_handling`` answer."""
        if str(request.method) not in ("GET", "HEAD"):
            return Response("Method Not Allowed", status=405, headers={"allow": "GET, HEAD"})
        found = await self.match(request)
        if found is not None:
            return found
        pathname = unquote(urlsplit(request.url).path or "/")
        return self._finish(request, self._not_found(request, pathname))

    def _not_found(self, request: Request, pathname: str) -> Response:
        if self.not_found_handling == "404-page":
            cwd = pathname
            while cwd:
                cwd = cwd[: cwd.rfind("/")]
                if (real := self.dir.find(f"{cwd}/404.html")):
                    return self.dir.serve(request, real, status=404)
        elif self.not_found_handling == "single-page-application" and (real := self.dir.find("/index.html")):
            return self.dir.serve(request, real)
        return Response(None, status=404)

    def _intent(self, request: Request, pathname: str, search: str) -> Response | None:
        find = self.dir.find

        def serve(path: str) -> Response | None:
            real = find(path)
            return self.dir.serve(request, real) if real else None

        def moved_if(file: str, destination: str) -> Response | None:
            # Cloudflare's asset-worker uses 307 for html_handling redirects.
            if find(file):
                return _redirect(_quote_path(destination) + search, 307)
            return None

        mode = self.html_handling
        if mode == "none":
            return serve(pathname)
        if mode == "auto-trailing-slash":
            if pathname.endswith("/index"):
                return (serve(pathname) or moved_if(pathname + ".html", pathname[: -len("index")])
                        or moved_if(pathname[: -len("/index")] + ".html", pathname[: -len("/index")]))
            if pathname.endswith("/index.html"):
                return (moved_if(pathname, pathname[: -len("index.html")])
                        or moved_if(pathname[: -len("/index.html")] + ".html", pathname[: -len("/index.html")]))
            if pathname.endswith("/"):
                return serve(pathname + "index.html") or moved_if(pathname[:-1] + ".html", pathname[:-1])
            if pathname.endswith(".html"):
                bare = pathname[: -len(".html")]
                return moved_if(pathname, bare) or moved_if(bare + "/index.html", bare + "/")
            return (serve(pathname) or serve(pathname + ".html")
                    or moved_if(pathname + "/index.html", pathname + "/"))
        if mode == "force-trailing-slash":
            if pathname.endswith("/index.html"):
                return moved_if(pathname, pathname[: -len("index.html")])
            if pathname.endswith(".html"):
                bare = pathname[: -len(".html")]
                return moved_if(pathname, bare + "/") or moved_if(bare + "/index.html", bare + "/")
            if pathname.endswith("/"):
                return (serve(pathname + "index.html")
                        or (serve(pathname[:-1] + ".html") if pathname != "/" else None))
            return (serve(pathname) or moved_if(pathname + ".html", pathname + "/")
                    or moved_if(pathname + "/index.html", pathname + "/"))
        # drop-trailing-slash
        if pathname.endswith("/index.html"):
            target = pathname[: -len("/index.html")] or "/"
            return moved_if(pathname, target)
        if pathname.endswith(".html"):
            bare = pathname[: -len(".html")]
            return moved_if(pathname, bare) or moved_if(bare + "/index.html", bare)
        if pathname == "/":
            return serve("/index.html")
        if pathname.endswith("/"):
            bare = pathname[:-1]
            return moved_if(bare + ".html", bare) or moved_if(bare + "/index.html", bare)
        return serve(pathname) or serve(pathname + ".html") or serve(pathname + "/index.html")
