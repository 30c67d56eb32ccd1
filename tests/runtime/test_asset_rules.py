"""_redirects / _headers parsing and matching."""

from __future__ import annotations

from emulator.runtime.asset_rules import parse_headers, parse_redirects
from emulator.runtime.http import Headers


def test_redirect_validation_messages() -> None:
    rules = parse_redirects(
        "/a /b\n/a /c\n/x /y 404\n/only\n/* /index.html\n/p https://e.com/ 200\n"
        + "/long " + "x" * 2000 + "\n/ok /fine 301 # inline comment\n"
    )
    messages = [i.message for i in rules.issues]
    assert "Ignoring duplicate rule for path /a." in messages
    assert "Valid status codes are 200, 301, 302 (default), 303, 307, or 308. Got 404." in messages
    assert "Expected exactly 2 or 3 whitespace-separated tokens. Got 1." in messages
    assert any(m.startswith("Infinite loop detected") for m in messages)
    assert "Only relative URLs are allowed. Skipping absolute URL https://e.com/." in messages
    assert any("exceeds the maximum allowed length of 2000" in m for m in messages)
    assert rules.match("h", "/ok") == (301, "/fine")
    assert rules.match("h", "/a") == (302, "/b")


def test_dynamic_redirects_and_host_rules() -> None:
    rules = parse_redirects("/blog/* /news/:splat\n/u/:id/:tab /users/:id?tab=:tab 301\n"
                            "https://old.example/* https://new.example/:splat 301\n/static /s\n")
    assert rules.match("h", "/blog/a/b") == (302, "/news/a/b")
    assert rules.match("h", "/u/1/info") == (301, "/users/1?tab=info")
    assert rules.match("old.example", "/x") == (301, "https://new.example/x")
    assert rules.match("h", "/u/1") is None
    # Once a dynamic rule appears, later rules are dynamic too, still matched in order.
    assert rules.match("h", "/static") == (302, "/s")


def test_headers_parsing_and_application() -> None:
    rules = parse_headers("""
# comment
/*
  X-A: 1
  X-A: 2
/secure/*
  ! X-A
  X-Path: :splat
https://example.com/*
  X-Host: yes
X-Orphan: 1
/empty
""")
    messages = [i.message for i in rules.issues]
    assert "No headers specified" in messages
    h = Headers({"x-a": "original"})
    rules.apply(h, "localhost", "/page")
    assert h.get_all("x-a") == ["1, 2"]
    h = Headers()
    rules.apply(h, "example.com", "/secure/deep/file")
    assert "x-a" not in h and h["x-path"] == "deep/file" and h["x-host"] == "yes"
    bad = parse_headers("X-Before: 1\n/p\n  no colon here\n")
    msgs = [i.message for i in bad.issues]
    assert "Path should come before header (X-Before: 1)" in msgs
    assert "Expected a colon-separated header pair (e.g. name: value)" in msgs
