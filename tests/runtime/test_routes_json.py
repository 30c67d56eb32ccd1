"""_routes.json validation and rule matching (wrangler's isRoutingRuleMatch)."""

from __future__ import annotations

import pytest

from emulator.runtime.routes_json import (
    RoutesConfig,
    RoutesJsonError,
    rule_regex,
    validate_routes,
)


@pytest.mark.parametrize("rule, path, matches", [
    ("/", "/", True), ("/", "/a", False), ("/*", "/anything/at/all", True),
    ("/foo/*", "/foo", True), ("/foo/*", "/foo/bar", True), ("/foo/*", "/foobar", False),
    ("/foo/", "/foo", True), ("/foo/", "/foo/", True), ("/foo*", "/foobar", True),
    ("/foo", "/foo", True), ("/foo", "/foo/", True), ("/foo", "/foo/x", False),
    ("/a.b", "/aXb", False), ("/a.b", "/a.b", True),
])
def test_rule_matching(rule: str, path: str, matches: bool) -> None:
    assert bool(rule_regex(rule).match(path)) is matches


def test_exclude_wins() -> None:
    cfg = RoutesConfig(["/api/*"], ["/api/public/*"])
    assert cfg.is_function_route("/api/x")
    assert not cfg.is_function_route("/api/public/x")
    assert not cfg.is_function_route("/other")


@pytest.mark.parametrize("data, message", [
    ({"version": 2, "include": ["/*"], "exclude": []}, "Please make sure the JSON object has the following format"),
    ([], "Please make sure the JSON object"),
    ({"version": 1, "include": [], "exclude": []}, "Routes must have at least 1 include rule"),
    ({"version": 1, "include": [f"/r{i}" for i in range(101)], "exclude": []}, "over the 100 rule limit"),
    ({"version": 1, "include": ["/" + "x" * 100], "exclude": []}, "over the 100 character limit"),
    ({"version": 1, "include": ["api"], "exclude": []}, "All rules must start with '/'."),
    ({"version": 1, "include": ["/api/*", "/api/foo"], "exclude": []}, "Overlapping rules found."),
])
def test_validation(data: object, message: str) -> None:
    with pytest.raises(RoutesJsonError) as info:
        validate_routes(data, "public/_routes.json")
    assert str(info.value).startswith("Invalid _routes.json file found at: public/_routes.json\n")
    assert message in str(info.value)
