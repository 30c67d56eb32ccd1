"""A bucket's CORS rules: parsing, validation, matching and the headers they produce.

R2 answers browsers from other origins only as the bucket's CORS policy allows
(docs/r2.md, "CORS"). A policy is a list of rules; the first rule whose ``AllowedOrigins``
matches the request's ``Origin``, whose ``AllowedMethods`` holds the method and (for a
preflight) whose ``AllowedHeaders`` cover every requested header, decides. Rules arrive in
three shapes, all accepted here and stored in the S3 one:

- S3 / R2 dashboard JSON: ``[{"AllowedOrigins": [...], "AllowedMethods": [...],
  "AllowedHeaders": [...], "ExposeHeaders": [...], "MaxAgeSeconds": 3600, "ID": "..."}]``
  (boto3 wraps the list as ``{"CORSRules": [...]}``);
- the Cloudflare API / ``wrangler r2 bucket cors set --file``: ``{"rules": [{"allowed":
  {"origins": [...], "methods": [...], "headers": [...]}, "exposeHeaders": [...],
  "maxAgeSeconds": 3600, "id": "..."}]}``;
- S3 XML (``PutBucketCors``): ``<CORSConfiguration><CORSRule><AllowedOrigin>...``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any
from collections.abc import Iterable
from xml.sax.saxutils import escape

from emulator.bindings.r2.errors import CorsConfigError

METHODS = ("GET", "PUT", "POST", "DELETE", "HEAD")
MAX_RULES = 100
_ORIGIN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s]+$")


def _wildcard(pattern: str, value: str) -> bool:
    """``pattern`` with at most one ``*`` (any run of characters) against ``value``."""
    if "*" not in pattern:
        return pattern == value
    head, _, tail = pattern.partition("*")
    return len(value) >= len(head) + len(tail) and value.startswith(head) and value.endswith(tail)


@dataclass(frozen=True)
class CorsRule:
    allowed_origins: tuple[str, ...]
    allowed_methods: tuple[str, ...]
    allowed_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age_seconds: int | None = None
    id: str | None = None

    def origin_pattern(self, origin: str) -> str | None:
        """The ``AllowedOrigins`` entry matching ``origin`` (exactly; one ``*`` is a wildcard)."""
        for pattern in self.allowed_origins:
            if _wildcard(pattern, origin):
                return pattern
        return None

    def allows_headers(self, names: Iterable[str]) -> bool:
        patterns = [h.lower() for h in self.allowed_headers]
        return all(any(_wildcard(p, name.lower()) for p in patterns) for name in names)

    def to_s3(self) -> dict[str, Any]:
        """The S3 JSON shape (how rules are stored)."""
        out: dict[str, Any] = {"AllowedOrigins": list(self.allowed_origins),
                               "AllowedMethods": list(self.allowed_methods)}
        if self.allowed_headers:
            out["AllowedHeaders"] = list(self.allowed_headers)
        if self.expose_headers:
            out["ExposeHeaders"] = list(self.expose_headers)
        if self.max_age_seconds is not None:
            out["MaxAgeSeconds"] = self.max_age_seconds
        if self.id is not None:
            out["ID"] = self.id
        return out

    def to_cloudflare(self) -> dict[str, Any]:
        """The Cloudflare API shape (what ``wrangler r2 bucket cors list`` reads)."""
        allowed: dict[str, Any] = {"origins": list(self.allowed_origins),
                                   "methods": list(self.allowed_methods)}
        if self.allowed_headers:
            allowed["headers"] = list(self.allowed_headers)
        out: dict[str, Any] = {"allowed": allowed}
        if self.id is not None:
            out["id"] = self.id
        if self.expose_headers:
            out["exposeHeaders"] = list(self.expose_headers)
        if self.max_age_seconds is not None:
            out["maxAgeSeconds"] = self.max_age_seconds
        return out


# --- reading and checking -----------------------------------------------------------------
def _strings(value: Any, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CorsConfigError(f"{field} must be a list of strings", "MalformedXML")
    return tuple(value)


def _check(rule: CorsRule) -> CorsRule:
    if not rule.allowed_methods:
        raise CorsConfigError("Each CORS rule needs at least one AllowedMethod", "MalformedXML")
    if not rule.allowed_origins:
        raise CorsConfigError("Each CORS rule needs at least one AllowedOrigin", "MalformedXML")
    for method in rule.allowed_methods:
        if method not in METHODS:
            raise CorsConfigError(f"Found unsupported HTTP method in CORS config. Unsupported method is {method}")
    for origin in rule.allowed_origins:
        if origin.count("*") > 1:
            raise CorsConfigError(f'AllowedOrigin "{origin}" can not have more than one wildcard.')
        # R2 takes Origin header values only (scheme://host[:port], no path); a wildcard
        # may stand for part of the host, not for the port.
        port = origin.rsplit(":", 1)[1] if origin.count(":") > 1 else ""
        if origin != "*" and (not _ORIGIN.match(origin) or "*" in port):
            raise CorsConfigError(f'AllowedOrigin "{origin}" is not a valid origin: use '
                                  'scheme://host[:port] without a path, or "*"', "MalformedXML")
    for header in rule.allowed_headers:
        if header.count("*") > 1:
            raise CorsConfigError(f'AllowedHeader "{header}" can not have more than one wildcard.')
    if rule.max_age_seconds is not None and rule.max_age_seconds < 0:
        raise CorsConfigError("MaxAgeSeconds must not be negative", "MalformedXML")
    if rule.id is not None and len(rule.id) > 255:
        raise CorsConfigError("The ID of a CORS rule is at most 255 characters", "InvalidArgument")
    return rule


def _checked_list(rules: list[CorsRule]) -> list[CorsRule]:
    if not rules:
        raise CorsConfigError("A CORS configuration needs at least one rule", "MalformedXML")
    if len(rules) > MAX_RULES:
        raise CorsConfigError(f"The number of CORS rules should not exceed allowed limit of {MAX_RULES} rules.")
    return [_check(r) for r in rules]


def _max_age(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise CorsConfigError("MaxAgeSeconds must be a whole number of seconds", "MalformedXML")
    return int(value)


def _rule_from_json(item: Any) -> CorsRule:
    if not isinstance(item, dict):
        raise CorsConfigError("each CORS rule must be an object", "MalformedXML")
    if "allowed" in item:  # the Cloudflare API shape
        allowed = item["allowed"]
        if not isinstance(allowed, dict):
            raise CorsConfigError('"allowed" must be an object with origins, methods and headers',
                                  "MalformedXML")
        ident = item.get("id")
        return CorsRule(_strings(allowed.get("origins"), "allowed.origins"),
                        _strings(allowed.get("methods"), "allowed.methods"),
                        _strings(allowed.get("headers"), "allowed.headers"),
                        _strings(item.get("exposeHeaders"), "exposeHeaders"),
                        _max_age(item.get("maxAgeSeconds")),
                        ident if isinstance(ident, str) else None)
    ident = item.get("ID")
    return CorsRule(_strings(item.get("AllowedOrigins"), "AllowedOrigins"),
                    _strings(item.get("AllowedMethods"), "AllowedMethods"),
                    _strings(item.get("AllowedHeaders"), "AllowedHeaders"),
                    _strings(item.get("ExposeHeaders"), "ExposeHeaders"),
                    _max_age(item.get("MaxAgeSeconds")),
                    ident if isinstance(ident, str) else None)


def rules_from_json(value: Any) -> list[CorsRule]:
    """Rules from any of the JSON shapes (see the module docstring), checked."""
    if isinstance(value, dict):
        if "rules" in value:
            value = value["rules"]
        elif "CORSRules" in value:
            value = value["CORSRules"]
        else:
            raise CorsConfigError('expected {"rules": [...]} (wrangler), {"CORSRules": [...]} '
                                  'or a list of rules', "MalformedXML")
    if not isinstance(value, list):
        raise CorsConfigError("the CORS rules must be a list", "MalformedXML")
    return _checked_list([_rule_from_json(item) for item in value])


def rules_from_stored(value: Any) -> list[CorsRule]:
    """Rules as the store keeps them (S3 JSON, already checked when stored)."""
    return [_rule_from_json(item) for item in value or []]


def rules_from_xml(body: bytes) -> list[CorsRule]:
    """Rules from a ``PutBucketCors`` body, checked."""
    malformed = ("The XML you provided was not well-formed or did not validate against our published "
                 "schema.")
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        # S3 documents never need a DTD; entities are how XML bombs work.
        raise CorsConfigError(malformed, "MalformedXML")
    try:
        # DTD-free (above) and bounded by the caller; ElementTree never fetches external entities.
        root = ET.fromstring(body)  # noqa: S314 - see the comment above
    except ET.ParseError:
        raise CorsConfigError(malformed, "MalformedXML") from None
    rules: list[CorsRule] = []
    for element in root:
        if element.tag.rsplit("}", 1)[-1] != "CORSRule":
            continue
        fields: dict[str, list[str]] = {}
        for child in element:
            fields.setdefault(child.tag.rsplit("}", 1)[-1], []).append((child.text or "").strip())
        try:
            max_age = int(fields["MaxAgeSeconds"][0]) if "MaxAgeSeconds" in fields else None
        except ValueError:
            raise CorsConfigError("MaxAgeSeconds must be a whole number of seconds", "MalformedXML") from None
        ident = fields.get("ID", [None])[0]
        rules.append(CorsRule(tuple(fields.get("AllowedOrigin", [])), tuple(fields.get("AllowedMethod", [])),
                              tuple(fields.get("AllowedHeader", [])), tuple(fields.get("ExposeHeader", [])),
                              max_age, ident))
    return _checked_list(rules)


def rules_to_xml(rules: list[CorsRule]) -> str:
    """The ``GetBucketCors`` body's rules."""
    out = []
    for rule in rules:
        parts = [f"<ID>{escape(rule.id)}</ID>"] if rule.id is not None else []
        parts += [f"<AllowedOrigin>{escape(o)}</AllowedOrigin>" for o in rule.allowed_origins]
        parts += [f"<AllowedMethod>{escape(m)}</AllowedMethod>" for m in rule.allowed_methods]
        parts += [f"<AllowedHeader>{escape(h)}</AllowedHeader>" for h in rule.allowed_headers]
        parts += [f"<ExposeHeader>{escape(h)}</ExposeHeader>" for h in rule.expose_headers]
        if rule.max_age_seconds is not None:
            parts.append(f"<MaxAgeSeconds>{rule.max_age_seconds}</MaxAgeSeconds>")
        out.append("<CORSRule>" + "".join(parts) + "</CORSRule>")
    return "".join(out)


# --- deciding ---------------------------------------------------------------------------
def requested_headers(value: str | None) -> list[str]:
    """The names in an ``Access-Control-Request-Headers`` value, lowercased."""
    return [h.strip().lower() for h in (value or "").split(",") if h.strip()]


def find_rule(rules: list[CorsRule], origin: str, method: str,
              headers: Iterable[str] = ()) -> CorsRule | None:
    """The first rule allowing ``method`` from ``origin`` with these request headers."""
    names = list(headers)
    for rule in rules:
        if method in rule.allowed_methods and rule.origin_pattern(origin) is not None \
                and rule.allows_headers(names):
            return rule
    return None


def response_headers(rule: CorsRule, origin: str) -> dict[str, str]:
    """What an allowed request's response carries (S3's set, without credentials)."""
    headers = {
        # "*" as written in the rule; otherwise the request's own origin, never a pattern.
        "Access-Control-Allow-Origin": "*" if rule.origin_pattern(origin) == "*" else origin,
        "Access-Control-Allow-Methods": ", ".join(rule.allowed_methods),
        "Vary": "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    }
    if rule.expose_headers:
        headers["Access-Control-Expose-Headers"] = ", ".join(rule.expose_headers)
    if rule.max_age_seconds is not None:
        headers["Access-Control-Max-Age"] = str(rule.max_age_seconds)
    return headers


def preflight_headers(rule: CorsRule, origin: str, headers: list[str]) -> dict[str, str]:
    """A successful preflight's headers: the response set plus the headers asked for."""
    out = response_headers(rule, origin)
    if headers:
        out["Access-Control-Allow-Headers"] = ", ".join(headers)
    return out
