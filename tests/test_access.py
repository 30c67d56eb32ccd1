"""The Host allow-list and the cross-site write rule of the internal API (docs/security.md)."""

from __future__ import annotations

import socket

import pytest

from emulator.access import HostAllowList, internal_refusal, same_origin, split_host


@pytest.mark.parametrize("value, expected", [
    ("localhost:8787", ("localhost", 8787)),
    ("LOCALHOST.", ("localhost", None)),
    ("[::1]:8787", ("::1", 8787)),
    ("[::1]", ("::1", None)),
    ("::1", ("::1", None)),
    ("127.0.0.1", ("127.0.0.1", None)),
    ("[::1", None), ("[::1]x", None), ("host:port", None), ("host:123456", None), ("", None), (":80", None),
])
def test_split_host(value: str, expected: tuple[str, int | None] | None) -> None:
    assert split_host(value) == expected


@pytest.mark.parametrize("host", [
    "localhost", "localhost:8787", "LocalHost:1", "app.localhost:8787", "a.b.localhost",
    "127.0.0.1:8787", "127.1.2.3", "[::1]:8787", "[::ffff:127.0.0.1]:80", None,
])
def test_loopback_names_and_addresses_are_always_allowed(host: str | None) -> None:
    assert HostAllowList("127.0.0.1").allows(host)


@pytest.mark.parametrize("host", [
    "evil.example", "evil.example:8787", "localhost.evil.example", "127.0.0.1.nip.io", "10.0.0.5:8787",
    "192.168.1.20", "[fe80::1]", "", "local host", "[::1", "localhost:http",
])
def test_other_names_are_refused_on_a_loopback_bind(host: str) -> None:
    assert not HostAllowList("127.0.0.1").allows(host)


def test_the_chosen_ip_is_allowed_with_or_without_port() -> None:
    hosts = HostAllowList("192.168.1.20")
    assert hosts.allows("192.168.1.20") and hosts.allows("192.168.1.20:8787")
    assert not hosts.allows("192.168.1.21:8787") and not hosts.allows("evil.example")
    v6 = HostAllowList("fd00::5")
    assert v6.allows("[fd00::5]:8787") and not v6.allows("[fd00::6]:8787")
    named = HostAllowList("devbox.lan")
    assert named.allows("DEVBOX.lan:8787") and not named.allows("other.lan")


def test_a_wildcard_bind_allows_ip_literals_and_this_machine_but_no_other_name() -> None:
    hosts = HostAllowList("0.0.0.0")
    assert hosts.allows("10.1.2.3:8787") and hosts.allows("[2001:db8::1]:8787")
    assert hosts.allows(socket.gethostname() + ":8787")
    assert not hosts.allows("evil.example:8787")


def test_extra_names_and_domains() -> None:
    hosts = HostAllowList("0.0.0.0", ["emulator", ".dev.test", "10.9.9.9"])
    assert hosts.allows("emulator:8787") and hosts.allows("dev.test") and hosts.allows("a.b.dev.test:1")
    assert not hosts.allows("notdev.test") and not hosts.allows("evil.example")
    assert HostAllowList("127.0.0.1", ["10.9.9.9"]).allows("10.9.9.9:80")
    with pytest.raises(ValueError):
        HostAllowList("127.0.0.1", ["a:b:c:d]"])


@pytest.mark.parametrize("origin, host, expected", [
    ("http://127.0.0.1:8787", "127.0.0.1:8787", True),
    ("http://LOCALHOST:8787", "localhost:8787", True),
    ("http://localhost", "localhost:80", True),
    ("http://localhost:80", "localhost", True),
    ("https://localhost", "localhost:443", True),
    ("http://[::1]:8787", "[::1]:8787", True),
    ("http://localhost:8788", "localhost:8787", False),
    ("http://127.0.0.1:8787", "localhost:8787", False),   # another origin, same machine
    ("http://evil.example", "localhost:8787", False),
    ("null", "localhost:8787", False),
    ("http://localhost:8787/path", "localhost:8787", False),
    ("http://localhost:99999", "localhost:8787", False),
    ("file://", "localhost:8787", False),
    ("http://localhost:8787", None, False),
])
def test_same_origin(origin: str, host: str | None, expected: bool) -> None:
    assert same_origin(origin, host) is expected


HOSTS = HostAllowList("127.0.0.1")
LOCAL = "127.0.0.1:8787"


@pytest.mark.parametrize("method, headers", [
    ("GET", {"Host": LOCAL}),
    ("GET", {"Host": LOCAL, "Origin": "http://evil.example"}),      # reading: SOP protects it
    ("OPTIONS", {"Host": LOCAL, "Origin": "http://evil.example"}),
    ("POST", {"Host": LOCAL, "Content-Type": "application/json"}),  # the CLI
    ("POST", {"Host": LOCAL, "Content-Type": "application/json; charset=utf-8", "Origin": "http://127.0.0.1:8787"}),
    ("POST", {"Host": LOCAL, "Content-Type": "application/octet-stream"}),
    ("PUT", {"Host": LOCAL, "Content-Type": "text/plain"}),         # PUT needs a preflight anyway
    ("DELETE", {"Host": LOCAL}),
])
def test_allowed_internal_requests(method: str, headers: dict[str, str]) -> None:
    assert internal_refusal(method, headers, HOSTS) is None


@pytest.mark.parametrize("method, headers, reason", [
    ("GET", {"Host": "evil.example:8787"}, "DNS-rebinding"),
    ("POST", {"Host": "evil.example:8787", "Content-Type": "application/json"}, "DNS-rebinding"),
    ("POST", {"Host": LOCAL, "Content-Type": "application/json", "Origin": "http://evil.example"}, "cross-origin"),
    ("POST", {"Host": LOCAL, "Content-Type": "application/json", "Origin": "null"}, "cross-origin"),
    ("DELETE", {"Host": LOCAL, "Origin": "http://localhost:5173"}, "cross-origin"),
    ("POST", {"Host": LOCAL}, "Content-Type"),
    ("POST", {"Host": LOCAL, "Content-Type": "text/plain"}, "Content-Type"),
    ("POST", {"Host": LOCAL, "Content-Type": "TEXT/PLAIN; charset=utf-8"}, "Content-Type"),
    ("POST", {"Host": LOCAL, "Content-Type": "multipart/form-data; boundary=x"}, "Content-Type"),
    ("POST", {"Host": LOCAL, "Content-Type": "application/x-www-form-urlencoded"}, "Content-Type"),
    ("POST", {"Host": LOCAL, "Content-Type": "text/plain", "Origin": "http://127.0.0.1:8787"}, "Content-Type"),
])
def test_refused_internal_requests(method: str, headers: dict[str, str], reason: str) -> None:
    refusal = internal_refusal(method, headers, HOSTS)
    assert refusal is not None and reason in refusal and "docs/security.md" in refusal
