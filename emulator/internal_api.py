"""Reading requests to the internal API (``/_emulator/*``): bad input is a JSON 4xx, never a 500.

The plugins' routes and the dashboard take their inputs through these functions rather than
``request.match_info`` / ``request.query`` / ``request.json()`` directly. They raise
``RequestError``, an aiohttp HTTP error whose body is already the API's JSON error
(``{"error", "status", "message"}``), which server.py's ``_json_errors`` wrapper passes through.
``checked(handler)`` wraps every internal handler (server.py) and refuses a URL whose
percent-escapes are not UTF-8 before the handler runs: aiohttp decodes such escapes leniently
(``a%FFz`` becomes the text ``a%FFz`` in a path, U+FFFD in a query), which would silently name
another queue, bucket or key. docs/internal-api.md lists the rules.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any
from collections.abc import Awaitable, Callable

from aiohttp import web

from emulator.state import safe_component

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# JSON bodies nested deeper than this are refused: well past any real request, well inside
# what json (and what stores the value later) can recurse through on Python 3.11.
MAX_JSON_DEPTH = 256
# Resource names become file names in the state directory (``safe_component``): keep those
# under the 255-byte limit of common file systems, with room for a suffix.
MAX_NAME_BYTES = 200
# ASCII digits only: int() also takes "١٢", "1_000" and thousands of digits.
_INTEGER = re.compile(r"-?[0-9]{1,19}")


def error_body(status: int, message: str) -> dict[str, Any]:
    """The internal API's JSON error: ``{"error", "status", "message"}`` (docs/internal-api.md)."""
    return {"error": message, "status": status, "message": message}


def json_error(status: int, message: str) -> web.Response:
    """A handler's error answer (``error_body``) with its status."""
    return web.json_response(error_body(status, message), status=status)


class RequestError(web.HTTPException):
    """A client error answered as the internal API's JSON error, raised from anywhere in a handler."""

    def __init__(self, status: int, message: str) -> None:
        self.status_code = status
        super().__init__(text=json.dumps(error_body(status, message)), content_type="application/json")


def _utf8(text: str, what: str) -> str:
    raw = urllib.parse.unquote_to_bytes(text.encode("utf-8", "surrogateescape"))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError(400, f"the {what} is not valid UTF-8 once percent-decoded") from None


def check_url(request: web.Request) -> None:
    """Refuse a path or query string whose percent-escapes do not decode as UTF-8."""
    path, _, query = request.raw_path.partition("?")
    _utf8(path, "URL path")
    _utf8(query, "query string")


def checked(handler: Handler) -> Handler:
    """``handler`` behind ``check_url``."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        check_url(request)
        return await handler(request)

    return wrapped


def path_name(request: web.Request, key: str, what: str) -> str:
    """A resource name (queue, bucket, database, workflow) from the path: non-empty, and short
    enough to name a file in the state directory."""
    name = request.match_info[key]
    if not name:
        raise RequestError(400, f"the {what} name is empty")
    if len(safe_component(name).encode()) > MAX_NAME_BYTES:
        raise RequestError(400, f"the {what} name is too long ({len(name)} characters)")
    return name


def query_int(request: web.Request, name: str, default: int, minimum: int, maximum: int) -> int:
    """``?name=`` as an integer in ``[minimum, maximum]`` (absent or empty: ``default``)."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    text = raw.strip()
    if not _INTEGER.fullmatch(text):
        raise RequestError(400, f"{name} must be an integer, got {raw[:40]!r}")
    value = int(text)
    if not minimum <= value <= maximum:
        raise RequestError(400, f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


async def json_body(request: web.Request, shape: str, *, optional: bool = False) -> dict[str, Any]:
    """The request body as a JSON object; ``shape`` tells the caller what to send.

    ``optional``: an empty body is ``{}``. Refused with 400: what ``json_value`` refuses, and
    a value that is not an object.
    """
    raw = await request.read()
    if not raw.strip() and optional:
        return {}
    value = _parse(raw, shape)
    if not isinstance(value, dict):
        raise RequestError(400, f"the request body must be a JSON object: {shape}")
    return value


async def json_value(request: web.Request, shape: str) -> Any:
    """The request body as any JSON value (an array of keys, a rules list...).

    Refused with 400: a body that is not UTF-8, not JSON (``NaN`` and ``Infinity`` included,
    as ``JSON.parse`` refuses them), or nested more than ``MAX_JSON_DEPTH`` levels.
    """
    return _parse(await request.read(), shape)


def _parse(raw: bytes, shape: str) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError(400, f"the request body must be UTF-8 JSON: {shape}") from None
    if _nesting(text) > MAX_JSON_DEPTH:
        raise RequestError(400, f"the request body is nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except ValueError:
        raise RequestError(400, f"the request body must be JSON: {shape}") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]')


def _nesting(text: str) -> int:
    """How deeply brackets nest in a JSON text, strings skipped (an upper bound for bad JSON)."""
    depth = deepest = 0
    for m in _TOKENS.finditer(text):
        ch = m.group()[0]
        if ch == "[" or ch == "{":
            depth += 1
            if depth > deepest:
                deepest = depth
        elif ch == "]" or ch == "}":
            depth -= 1
    return deepest
