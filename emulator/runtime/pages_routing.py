"""Pages Functions file-based routing, adapted to Python files (docs/hosting.md, "Pages Functions").

``functions/api/[id].py`` → ``/api/:id``, ``functions/[[path]].py`` → ``/:path*`` (zero or
more segments, the param is a list), ``index.py`` → its folder, ``_middleware.py`` →
middleware mounted at its folder. Handlers are module-level names ``on_request`` (any
method) and ``on_request_get`` / ``_post`` / ``_put`` / ``_patch`` / ``_delete`` /
``_options`` / ``_head`` (the JS ``onRequest*`` spellings are accepted too); each may be a
function or a list of functions.

Matching follows path-to-regexp as Pages uses it: case-insensitive, an optional trailing
slash; routes need to match the whole path, middleware only a prefix ending at a ``/``.
Routes are ordered most specific first (more segments; static before ``:param`` before
wildcard at the first difference; method-specific before any-method; then by path), and
the first matching route with handlers wins; middleware runs outermost first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterator
from urllib.parse import unquote

from emulator.jsobject import JsObject
from emulator.runtime.loader import AppLoadError, AppPackage
from emulator.runtime.relaxed_call import accepts_positional

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD")
_PARAM_NAME = re.compile(r"^[A-Za-z0-9_]+$")


class RouteError(AppLoadError):
    """A ``functions/`` file name that cannot become a route."""


def _handler_names() -> dict[str, str | None]:
    names: dict[str, str | None] = {"on_request": None, "onRequest": None}
    for m in METHODS:
        names[f"on_request_{m.lower()}"] = m
        names[f"onRequest{m.capitalize()}"] = m
    return names


HANDLER_NAMES = _handler_names()


def segment_for(part: str) -> str:
    """A file/folder name as a route segment (``[id]`` → ``:id``, ``[[p]]`` → ``:p*``)."""
    if part.startswith("[[") and part.endswith("]]"):
        name = part[2:-2]
        if not _PARAM_NAME.match(name):
            raise RouteError(f'Invalid Pages function route parameter - "{part}". Parameters names must only '
                             "contain alphanumeric and underscore characters.")
        return f":{name}*"
    if part.startswith("[") and part.endswith("]"):
        name = part[1:-1]
        if not _PARAM_NAME.match(name):
            raise RouteError(f'Invalid Pages function route parameter - "{part}". Parameter names must only '
                             "contain alphanumeric and underscore characters.")
        return f":{name}"
    return part


def route_regex(segments: list[str], end: bool) -> re.Pattern[str]:
    # Groups are named by position: param names may start with a digit or repeat.
    out = ["^"]
    for i, seg in enumerate(segments):
        if seg.startswith(":") and seg.endswith("*"):
            out.append(f"(?:/(?P<g{i}>[^/]+(?:/[^/]+)*))?")
        elif seg.startswith(":"):
            out.append(f"/(?P<g{i}>[^/]+)")
        else:
            out.append("/" + re.escape(seg))
    out.append("/?$" if end else "(?:/(?=$))?(?=/|$)")
    return re.compile("".join(out), re.IGNORECASE)


def _rank(seg: str) -> int:
    return 2 if seg.endswith("*") and seg.startswith(":") else 1 if seg.startswith(":") else 0


@dataclass
class Route:
    path: str  # "/api/:id"
    segments: list[str]
    method: str | None
    handlers: list[Callable[..., Any]]
    file: Path
    middleware: bool
    regex: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        self.regex = route_regex(self.segments, end=not self.middleware)

    def sort_key(self) -> tuple[Any, ...]:
        return (-len(self.segments), [_rank(s) for s in self.segments], 0 if self.method else 1, self.path)

    def match(self, pathname: str) -> JsObject | None:
        m = self.regex.match(pathname)
        if m is None:
            return None
        params = JsObject()
        for i, seg in enumerate(self.segments):
            if not seg.startswith(":"):
                continue
            raw = m.group(f"g{i}")
            if seg.endswith("*"):
                params[seg[1:-1]] = [unquote(s) for s in raw.split("/")] if raw else []
            else:
                params[seg[1:]] = unquote(raw)
        return params


@dataclass(frozen=True, slots=True)
class Step:
    """One handler of a matched chain.

    Steps are cached per (method, path) and shared by every request matched that way, so
    ``params`` is the route's match as a template: a request that reads its params gets
    its own copy (``fresh_params``), one per route (``group``, the route's position in the
    chain), shared by that route's handlers.
    """

    handler: Callable[..., Any]
    params: JsObject
    path: str
    group: int
    # Whether the handler declares a parameter for `context` (workerd's relaxed_call
    # drops arguments a handler does not declare), decided once per matched chain.
    takes_context: bool = True


# Distinct (method, path) pairs whose matched chain is remembered; past this the cache
# starts over (request paths come from clients, so it must stay bounded).
_CHAIN_CACHE_SIZE = 2048


def fresh_params(params: JsObject) -> JsObject:
    """A request's own copy of cached params: handlers may change ``context.params``."""
    if not params:
        return JsObject()
    return JsObject({k: list(v) if isinstance(v, list) else v for k, v in params.items()})


def route_names(functions_dir: Path) -> set[str]:
    """The top-level names of ``functions/`` that hold routes (imported by path, never by name):
    route files and folders, and ``_middleware``; ``_name`` files and folders are helpers."""
    names: set[str] = set()
    for entry in functions_dir.iterdir() if functions_dir.is_dir() else ():
        stem = entry.stem if entry.suffix == ".py" else entry.name
        if stem in ("_middleware", "_middleware_") or not stem.startswith("_"):
            names.add(stem)
    return names


class FunctionsRouter:
    """The routes of one ``functions/`` folder, imported through an ``AppPackage``.

    Matching a path runs one regex per route and middleware; a router is immutable once
    scanned (a reload builds a new one), so the matched chain of each (method, path) is
    computed once and reused as is: a request copies only the params it reads.
    """

    def __init__(self, routes: list[Route], middlewares: list[Route]) -> None:
        self.routes = sorted(routes, key=Route.sort_key)
        # Outermost (least specific) first: the reverse of route order.
        self.middlewares = sorted(middlewares, key=Route.sort_key, reverse=True)
        self._chains: dict[tuple[str, str], tuple[Step, ...]] = {}

    def __len__(self) -> int:
        return len(self.routes) + len(self.middlewares)

    def _match(self, method: str, pathname: str) -> Iterator[tuple[Route, JsObject]]:
        """The middleware (outermost first), then the first route, matching the request."""
        for route in self.middlewares:
            if route.method and route.method != method:
                continue
            params = route.match(pathname)
            if params is not None and route.handlers:
                yield route, params
        for route in self.routes:
            if route.method and route.method != method:
                continue
            params = route.match(pathname)
            if params is not None and route.handlers:
                yield route, params
                break

    def chain(self, method: str, pathname: str) -> tuple[Step, ...]:
        """The handlers a request runs, in order, each with its route's params (a template)."""
        key = (method, pathname)
        steps = self._chains.get(key)
        if steps is None:
            steps = tuple(Step(handler, params, route.path, group, accepts_positional(handler))
                          for group, (route, params) in enumerate(self._match(method, pathname))
                          for handler in route.handlers)
            if len(self._chains) >= _CHAIN_CACHE_SIZE:
                self._chains.clear()
            self._chains[key] = steps
        return steps

    @classmethod
    def scan(cls, functions_dir: Path, package: AppPackage) -> FunctionsRouter:
        routes: list[Route] = []
        middlewares: list[Route] = []
        for file in sorted(functions_dir.rglob("*.py")):
            rel = file.relative_to(functions_dir)
            if "__pycache__" in rel.parts or file.name == "__init__.py":
                continue
            is_middleware = file.stem in ("_middleware", "_middleware_")
            # Other `_name.py` files are helpers for the functions, not routes.
            if file.stem.startswith("_") and not is_middleware:
                continue
            if any(part.startswith("_") for part in rel.parts[:-1]):
                continue
            segments = [segment_for(p) for p in rel.parts[:-1]]
            if not is_middleware and file.stem != "index":
                segments.append(segment_for(file.stem))
            module = package.import_file(file)
            path = "/" + "/".join(segments)
            for attr, method in HANDLER_NAMES.items():
                value = getattr(module, attr, None)
                if value is None:
                    continue
                handlers = list(value) if isinstance(value, (list, tuple)) else [value]
                for h in handlers:
                    if not callable(h):
                        raise RouteError(f"{file}: `{attr}` must be a function or a list of functions")
                target = middlewares if is_middleware else routes
                target.append(Route(path, segments, method, handlers, file, is_middleware))
        return cls(routes, middlewares)
