"""CORS rules: the three shapes they arrive in, R2's validation, S3's matching."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.bindings.r2.cors import (
    CorsConfigError,
    CorsRule,
    find_rule,
    preflight_headers,
    requested_headers,
    response_headers,
    rules_from_json,
    rules_from_stored,
    rules_from_xml,
    rules_to_xml,
)

WRANGLER = {"rules": [{"allowed": {"origins": ["http://localhost:5173"], "methods": ["GET", "PUT"],
                                   "headers": ["content-type", "x-amz-*"]},
                       "exposeHeaders": ["ETag"], "maxAgeSeconds": 600, "id": "dev"}]}
S3_JSON = [{"AllowedOrigins": ["http://localhost:5173"], "AllowedMethods": ["GET", "PUT"],
            "AllowedHeaders": ["content-type", "x-amz-*"], "ExposeHeaders": ["ETag"],
            "MaxAgeSeconds": 600, "ID": "dev"}]
XML = (b'<?xml version="1.0" encoding="UTF-8"?><CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
       b"<CORSRule><ID>dev</ID><AllowedOrigin>http://localhost:5173</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
       b"<AllowedMethod>PUT</AllowedMethod><AllowedHeader>content-type</AllowedHeader>"
       b"<AllowedHeader>x-amz-*</AllowedHeader><ExposeHeader>ETag</ExposeHeader>"
       b"<MaxAgeSeconds>600</MaxAgeSeconds></CORSRule></CORSConfiguration>")


@pytest.mark.parametrize("source", [WRANGLER, S3_JSON, {"CORSRules": S3_JSON}])
def test_every_json_shape_reads_the_same(source: Any) -> None:
    assert rules_from_json(source) == rules_from_xml(XML)
    (rule,) = rules_from_json(source)
    assert rule.to_cloudflare() == WRANGLER["rules"][0]
    assert rule.to_s3() == S3_JSON[0]
    assert rules_from_stored([rule.to_s3()]) == [rule]
    assert rules_from_xml(b"<CORSConfiguration>" + rules_to_xml([rule]).encode() + b"</CORSConfiguration>") == [rule]


@pytest.mark.parametrize("rules, message", [
    ({"rules": [{"allowed": {"origins": ["*"], "methods": ["PATCH"]}}]}, "Unsupported method is PATCH"),
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["get"]}], "Unsupported method is get"),
    ([{"AllowedOrigins": ["*"]}], "at least one AllowedMethod"),
    ([{"AllowedMethods": ["GET"]}], "at least one AllowedOrigin"),
    ([{"AllowedOrigins": ["https://*.*.example.com"], "AllowedMethods": ["GET"]}], "more than one wildcard"),
    ([{"AllowedOrigins": ["http://localhost:*"], "AllowedMethods": ["GET"]}], "not a valid origin"),
    ([{"AllowedOrigins": ["https://static.example.com/"], "AllowedMethods": ["GET"]}], "not a valid origin"),
    ([{"AllowedOrigins": ["localhost:3000"], "AllowedMethods": ["GET"]}], "not a valid origin"),
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "AllowedHeaders": ["x-*-*"]}], "more than one wildcard"),
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "MaxAgeSeconds": -1}], "negative"),
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "MaxAgeSeconds": "soon"}], "whole number"),
    ([{"AllowedOrigins": "*", "AllowedMethods": [1]}], "list of strings"),
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}] * 101, "limit of 100 rules"),
    ([], "at least one rule"),
    ({"origins": ["*"]}, "expected"),
    ("rules", "must be a list"),
    ([["*"]], "must be an object"),
])
def test_invalid_rules_are_refused_with_a_reason(rules: Any, message: str) -> None:
    with pytest.raises(CorsConfigError, match=message):
        rules_from_json(rules)


def test_malformed_xml() -> None:
    with pytest.raises(CorsConfigError) as info:
        rules_from_xml(b"<CORSConfiguration><CORSRule>")
    assert info.value.code == "MalformedXML"


RULES = [
    CorsRule(("http://localhost:5173",), ("PUT",), ("content-type",), ("ETag",), 600),
    CorsRule(("https://*.example.com",), ("GET", "HEAD")),
    CorsRule(("*",), ("GET",)),
]


@pytest.mark.parametrize("origin, method, headers, index", [
    ("http://localhost:5173", "PUT", ["content-type"], 0),
    ("http://localhost:5173", "PUT", ["Content-Type"], 0),        # header names: any case
    ("http://localhost:5173", "PUT", ["x-custom"], None),          # header not allowed
    ("http://localhost:5174", "PUT", [], None),                    # origins match exactly
    ("HTTP://LOCALHOST:5173", "PUT", [], None),
    ("https://cdn.example.com", "HEAD", [], 1),
    ("https://example.com", "HEAD", [], None),                     # the wildcard needs its dot
    ("https://a.b.example.com", "GET", [], 1),                     # first matching rule wins
    ("http://evil.example", "GET", [], 2),
    ("http://evil.example", "DELETE", [], None),
])
def test_first_matching_rule(origin: str, method: str, headers: list[str], index: int | None) -> None:
    rule = find_rule(RULES, origin, method, headers)
    assert rule is (RULES[index] if index is not None else None)


def test_headers_echo_the_origin_unless_the_rule_says_star() -> None:
    headers = preflight_headers(RULES[0], "http://localhost:5173",
                                requested_headers("Content-Type, X-Amz-Date"))
    assert headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert headers["Access-Control-Allow-Methods"] == "PUT"
    assert headers["Access-Control-Allow-Headers"] == "content-type, x-amz-date"
    assert headers["Access-Control-Expose-Headers"] == "ETag"
    assert headers["Access-Control-Max-Age"] == "600"
    assert "Origin" in headers["Vary"]
    assert response_headers(RULES[2], "http://evil.example")["Access-Control-Allow-Origin"] == "*"
    assert response_headers(RULES[1], "https://cdn.example.com")["Access-Control-Allow-Origin"] == \
        "https://cdn.example.com"
    assert "Access-Control-Max-Age" not in response_headers(RULES[1], "https://cdn.example.com")
