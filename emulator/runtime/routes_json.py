"""``_routes.json``: which requests reach Functions / ``_worker.py`` and which go to assets.

Validation messages and rule matching follow wrangler's ``pages/functions/routes-*.ts``
and ``isRoutingRuleMatch`` (docs/hosting.md, "_routes.json"): exclude rules are checked
first (→ assets), then include rules (→ functions), anything else → assets.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from emulator.errors import EmulatorError

MAX_RULES = 100
MAX_RULE_LENGTH = 100
DEFAULT_ROUTES = {"version": 1, "include": ["/*"], "exclude": []}


# Also a ValueError: a bad value in a file the user wrote, as json.loads reports one.
class RoutesJsonError(EmulatorError, ValueError):
    """An invalid ``_routes.json``; the message is wrangler's."""


def rule_regex(rule: str) -> re.Pattern[str]:
    """wrangler's ``transformRoutingRuleToRegExp``."""
    if rule in ("/", "/*"):
        transformed = rule
    elif rule.endswith("/*"):
        transformed = rule[:-2] + "(/*)?"  # `/foo/*` also matches `/foo`
    elif rule.endswith("/"):
        transformed = rule[:-1] + "(/)?"
    elif rule.endswith("*"):
        transformed = rule
    else:
        transformed = rule + "(/)?"
    return re.compile("^" + transformed.replace(".", "\\.").replace("*", ".*") + "$")


@dataclass
class RoutesConfig:
    include: list[str] = field(default_factory=lambda: ["/*"])
    exclude: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._include = [rule_regex(r) for r in self.include]
        self._exclude = [rule_regex(r) for r in self.exclude]
        self._everything = self.include == ["/*"] and not self.exclude

    def is_function_route(self, pathname: str) -> bool:
        if self._everything:  # the default (no _routes.json): skip the regexes
            return True
        if any(r.match(pathname) for r in self._exclude):
            return False
        return any(r.match(pathname) for r in self._include)


class WorkerFirstRules:
    """A Worker's ``assets.run_worker_first`` patterns (Cloudflare's static routing).

    Wrangler turns the array into ``static_routing``: plain patterns are ``user_worker`` rules,
    ``!``-prefixed ones ``asset_worker`` rules, matched like ``_routes.json`` rules. The
    router checks the ``!`` rules first (the request goes to the assets, found or not), then
    the plain ones (the Worker runs first); anything else keeps the default, assets first.
    """

    WORKER, ASSETS = "worker", "assets"

    def __init__(self, patterns: tuple[str, ...] | list[str]) -> None:
        self._assets = [rule_regex(p[1:]) for p in patterns if p.startswith("!")]
        self._worker = [rule_regex(p) for p in patterns if not p.startswith("!")]

    def decide(self, pathname: str) -> str | None:
        """``"assets"``, ``"worker"``, or None for the default order."""
        if any(r.match(pathname) for r in self._assets):
            return self.ASSETS
        if any(r.match(pathname) for r in self._worker):
            return self.WORKER
        return None


def _overlaps(rules: list[str]) -> bool:
    for rule in rules:
        if not rule.endswith("*"):
            continue
        prefix = rule[:-1]
        if any(other != rule and other.startswith(prefix) for other in rules):
            return True
    return False


def validate_routes(data: object, path: Path | str) -> RoutesConfig:
    head = f"Invalid _routes.json file found at: {path}\n"
    if (
        not isinstance(data, dict)
        or data.get("version") != 1
        or not isinstance(data.get("include"), list)
        or not isinstance(data.get("exclude"), list)
        or not all(isinstance(r, str) for r in [*data["include"], *data["exclude"]])
    ):
        raise RoutesJsonError(
            head + "Please make sure the JSON object has the following format:\n"
            "{\n\tversion: 1;\n\tinclude: string[];\n\texclude: string[];\n}\n"
            "and that at least one include rule is provided."
        )
    include: list[str] = data["include"]
    exclude: list[str] = data["exclude"]
    if not include:
        raise RoutesJsonError(head + "Routes must have at least 1 include rule, but no include rules were detected.")
    if len(include) + len(exclude) > MAX_RULES:
        raise RoutesJsonError(
            head + f"Detected rules that are over the {MAX_RULES} rule limit. Please make sure you have a "
            f"total of {MAX_RULES} include and exclude rules combined."
        )
    if any(len(r) > MAX_RULE_LENGTH for r in [*include, *exclude]):
        raise RoutesJsonError(
            head + f"Detected rules the are over the {MAX_RULE_LENGTH} character limit. Please make sure that "
            f"each include and exclude routing rule is at most {MAX_RULE_LENGTH} characters long."
        )
    if any(not r.startswith("/") for r in [*include, *exclude]):
        raise RoutesJsonError(head + "All rules must start with '/'.")
    if _overlaps(include) or _overlaps(exclude):
        raise RoutesJsonError(
            head + 'Overlapping rules found. Please make sure that rules ending with a splat (eg. "/api/*") '
            'don\'t overlap any other rules (eg. "/api/foo"). This applies to both include and exclude '
            "rules individually."
        )
    return RoutesConfig(list(include), list(exclude))


def load_routes(path: Path) -> RoutesConfig:
    """Parse and validate ``path``; ``RoutesJsonError`` if it is not valid."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        data = None
    return validate_routes(data, path)
