"""Who may reach the internal API (``/_emulator/*``) and the S3 endpoint.

Two browser attacks reach a server on ``127.0.0.1`` from an ordinary web page
(docs/security.md):

- **DNS rebinding**: ``evil.example`` first resolves to the attacker's server, then to
  ``127.0.0.1``; the page's requests then reach us, same-origin *for the browser*, with
  ``Host: evil.example``. ``HostAllowList`` refuses such Host values, as Jupyter and Vite do.
- **Cross-site writes**: any page may send a "simple" request (GET/HEAD/POST with a
  ``text/plain``, ``multipart/form-data`` or ``application/x-www-form-urlencoded`` body, or
  none) to any origin without asking first; only the *reading* of the answer is blocked.
  ``internal_refusal`` therefore also requires, for every state-changing internal request,
  an absent or same-origin ``Origin`` and a request a browser must preflight (which we never
  approve: the internal API answers no preflight with ``Access-Control-Allow-*``).

Both checks are plain functions of the request line and headers, run only for the routed
``/_emulator`` paths and the S3 endpoint: app traffic never pays for them (apps must answer
under any name, as ``wrangler dev`` serves them).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

# Methods that only read: never refused for their Origin or content type (the Host check
# still applies).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The fetch standard's "CORS-safelisted" request content types and methods: a browser sends
# a request with these to any origin without a preflight.
SIMPLE_CONTENT_TYPES = frozenset({"text/plain", "multipart/form-data", "application/x-www-form-urlencoded"})
SIMPLE_METHODS = frozenset({"GET", "HEAD", "POST"})
# Binding to one of these listens on every interface of the machine.
WILDCARD_IPS = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 - recognised here, never bound
# No Content-Type at all is as simple as these: a body-less ``fetch(url, {method: "POST"})``.
_REFUSED_CONTENT_TYPES = SIMPLE_CONTENT_TYPES | {""}
_CACHE_MAX = 512
# A DNS name as browsers send it (IDNs arrive as punycode), or an IPv4 address.
_HOST_NAME = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$")


def split_host(host: str) -> tuple[str, int | None] | None:
    """``(hostname, port)`` of a Host header value (``[::1]:8787``, ``LOCALHOST.``); the
    name lowercased and without a trailing dot. ``None`` when the value is malformed."""
    host = host.strip().lower()
    port: str | None = None
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            return None
        name, rest = host[1:end], host[end + 1:]
        if rest:
            if not rest.startswith(":"):
                return None
            port = rest[1:]
    elif host.count(":") == 1:
        name, port = host.split(":")
    else:
        name = host  # a bare name, or an IPv6 literal without brackets
    if port is not None and not (port.isdigit() and port.isascii() and len(port) <= 5):
        return None
    if name.endswith("."):
        name = name[:-1]
    if not _HOST_NAME.match(name) and _ip(name) is None:
        return None
    return name, int(port) if port is not None else None


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def _is_loopback(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if addr.is_loopback:
        return True
    mapped = getattr(addr, "ipv4_mapped", None)  # ::ffff:127.0.0.1
    return mapped is not None and mapped.is_loopback


class HostAllowList:
    """The ``Host`` values the internal API and the S3 endpoint answer.

    Always: ``localhost``, ``*.localhost``, any loopback address (``127.0.0.0/8``, ``::1``)
    and the address given to ``--ip`` (with or without a port). When ``--ip`` is a wildcard
    (``0.0.0.0``, ``::``), also any IP literal — a rebinding attack needs a *name* the
    attacker controls, so an address typed as an address cannot be one (Vite's rule) — and
    the machine's host name. ``extra`` adds names (``--allowed-host``): ``name`` exactly,
    ``.example.test`` for that domain and its subdomains.
    """

    def __init__(self, ip: str = "127.0.0.1", extra: Iterable[str] = ()) -> None:
        self.ip = ip
        self.wildcard = ip in WILDCARD_IPS
        self._names: set[str] = set()
        self._suffixes: list[str] = []
        self._addresses: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
        bound = split_host(ip) if ip and not self.wildcard else None
        if bound is not None:
            addr = _ip(bound[0])
            if addr is not None:
                self._addresses.add(addr)
            else:
                self._names.add(bound[0])  # `--ip myhost.lan`
        if self.wildcard:
            hostname = socket.gethostname().lower().rstrip(".")
            if hostname:
                self._names.update({hostname, hostname.split(".")[0]})
        for entry in extra:
            entry = entry.strip().lower().rstrip(".")
            if entry.startswith(".") and len(entry) > 1:
                self._suffixes.append(entry)
                self._names.add(entry[1:])
            elif entry:
                parsed = split_host(entry)
                if parsed is None:
                    raise ValueError(f"{entry!r} is not a host name")
                addr = _ip(parsed[0])
                if addr is not None:
                    self._addresses.add(addr)
                else:
                    self._names.add(parsed[0])
        # Host header value → verdict; browsers send the same few values over and over.
        self._cache: dict[str | None, bool] = {}

    def allows(self, host: str | None) -> bool:
        """Whether a request with this ``Host`` header may reach internal routes."""
        verdict = self._cache.get(host)
        if verdict is None:
            verdict = self._decide(host)
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[host] = verdict
        return verdict

    def _decide(self, host: str | None) -> bool:
        if host is None:
            # Every browser sends Host; a request without one (HTTP/1.0 tools) cannot be a
            # rebinding attack.
            return True
        parsed = split_host(host)
        if parsed is None:
            return False
        name = parsed[0]
        addr = _ip(name)
        if addr is not None:
            return _is_loopback(addr) or addr in self._addresses or self.wildcard
        if name == "localhost" or name.endswith(".localhost") or name in self._names:
            return True
        return any(name.endswith(suffix) for suffix in self._suffixes)

    def describe(self) -> str:
        """The allowed names, for error messages."""
        shown = ["localhost", "127.0.0.1", "[::1]"]
        if self.ip and not self.wildcard and self.ip not in ("127.0.0.1", "localhost"):
            shown.append(f"[{self.ip}]" if ":" in self.ip else self.ip)
        shown += sorted(self._names - {"localhost"})
        return ", ".join(shown) + (" or any IP address" if self.wildcard else "")


def content_type_essence(value: str | None) -> str:
    """The ``type/subtype`` of a Content-Type value, lowercased (``""`` when absent)."""
    if not value:
        return ""
    return value.split(";", 1)[0].strip().lower()


def same_origin(origin: str, host: str | None) -> bool:
    """Whether ``Origin`` names the server the request reached (its ``Host``)."""
    if host is None or origin == "null":
        return False
    try:
        parts = urlsplit(origin)
        origin_port = parts.port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
        return False
    target = split_host(host)
    if target is None:
        return False
    default = 443 if parts.scheme == "https" else 80
    return (parts.hostname.rstrip(".") == target[0]
            and (origin_port or default) == (target[1] or default))


def internal_refusal(method: str, headers: Mapping[str, str], hosts: HostAllowList) -> str | None:
    """Why a request to ``/_emulator/*`` is refused, or ``None`` when it may proceed."""
    host = headers.get("Host")
    if not hosts.allows(host):
        return (f"Host {host!r} is not allowed here (DNS-rebinding protection): reach the internal "
                f"API as {hosts.describe()}, or start `dev` with --allowed-host NAME. "
                "See docs/security.md.")
    if method in SAFE_METHODS:
        return None
    origin = headers.get("Origin")
    if origin is not None and not same_origin(origin, host):
        return (f"cross-origin {method} refused: Origin {origin!r} is not this server. The "
                "internal API only accepts writes from its own dashboard and from tools that "
                "send no Origin (the CLI, scripts). See docs/security.md.")
    if method in SIMPLE_METHODS and \
            content_type_essence(headers.get("Content-Type")) in _REFUSED_CONTENT_TYPES:
        return (f"{method} needs a Content-Type such as application/json: a request with "
                f"{headers.get('Content-Type') or 'no Content-Type'} could come from any web page "
                "(browsers send it without asking). See docs/security.md.")
    return None
