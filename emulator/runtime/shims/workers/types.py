"""Typing aids of the SDK (``workers.types``): aliases and ``TypedDict``s, no behaviour."""

from __future__ import annotations

from collections.abc import Awaitable
from http import HTTPMethod
from typing import Any, Protocol, TypedDict

__all__ = ["Body", "Context", "FetchKwargs", "Headers", "JSBody", "RequestInitCfProperties"]


class Context(Protocol):
    """What ``ctx`` offers a handler (the SDK's protocol): ``waitUntil(awaitable)``."""

    def waitUntil(self, other: Awaitable[Any]) -> None: ...  # noqa: N802 - Cloudflare spelling


# Type aliases, spelled as the SDK spells them (strings: they name JS types).
JSBody = "js.Blob | JsBuffer | js.FormData | js.ReadableStream | js.URLSearchParams"
Body = "str | FormData | JSBody"
Headers = "dict[str, str] | list[tuple[str, str]] | js.Headers"


class RequestInitCfProperties(TypedDict, total=False):
    """``cf`` options of an outbound request (Cloudflare's RequestInitCfProperties)."""

    apps: bool | None
    cacheEverything: bool | None
    cacheKey: str | None
    cacheTags: list[str] | None
    cacheTtl: int
    cacheTtlByStatus: dict[str, int]
    image: Any | None
    mirage: bool | None
    polish: str | None
    resolveOverride: str | None
    scrapeShield: bool | None
    webp: bool | None


class FetchKwargs(TypedDict, total=False):
    """Keyword arguments of ``Request(...)`` and ``fetch(...)``."""

    headers: Any
    body: Any
    method: HTTPMethod | str | None
    redirect: str | None
    cf: RequestInitCfProperties | None
    fetcher: Any
