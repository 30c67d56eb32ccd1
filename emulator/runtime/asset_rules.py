"""``_redirects`` and ``_headers``: parsing, validation messages, and matching.

Follows Cloudflare's ``workers-shared/utils/configuration/{parseRedirects,parseHeaders}.ts``
and ``pages-shared`` matching (docs/hosting.md, "Static files"): invalid lines are skipped
with a message (never fatal), static redirects are looked up before dynamic ones, ``*``
becomes ``:splat`` and ``:name`` placeholders match one path segment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from emulator.runtime.http import Headers

MAX_LINE_LENGTH = 2000
MAX_STATIC_REDIRECTS = 2000
MAX_DYNAMIC_REDIRECTS = 100
MAX_HEADER_RULES = 100
REDIRECT_STATUSES = frozenset({200, 301, 302, 303, 307, 308})
_PLACEHOLDER = re.compile(r"(?<=/):([A-Za-z]\w*)")
_SUBSTITUTION = re.compile(r":(\w+)")


@dataclass(frozen=True)
class RuleIssue:
    line: int
    message: str


def compile_rule(path: str) -> tuple[re.Pattern[str], bool]:
    """A ``_redirects``/``_headers`` path as a full-match regex; (regex, host-qualified)."""
    cross_host = "://" in path
    out: list[str] = []
    splats = 0
    i = 0
    while i < len(path):
        ch = path[i]
        if ch == "*":
            out.append("(?P<splat>.*)" if splats == 0 else f"(?P<splat{splats}>.*)")
            splats += 1
            i += 1
            continue
        m = _PLACEHOLDER.match(path, i)
        if m and ch == ":":
            out.append(f"(?P<{m.group(1)}>[^/]+)")
            i = m.end()
            continue
        out.append(re.escape(ch))
        i += 1
    return re.compile("^" + "".join(out) + "$"), cross_host


def substitute(template: str, groups: dict[str, str | None]) -> str:
    def repl(m: re.Match[str]) -> str:
        value = groups.get(m.group(1))
        return value if value is not None else m.group(0)

    return _SUBSTITUTION.sub(repl, template)


# --- _redirects -----------------------------------------------------------------------

@dataclass(frozen=True)
class RedirectRule:
    source: str
    to: str
    status: int
    line: int


@dataclass
class RedirectRules:
    static: dict[str, RedirectRule] = field(default_factory=dict)
    dynamic: list[tuple[re.Pattern[str], bool, RedirectRule]] = field(default_factory=list)
    issues: list[RuleIssue] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.static or self.dynamic)

    def match(self, host: str, pathname: str) -> tuple[int, str] | None:
        """(status, destination) of the first rule matching the request, if any."""
        rule = self.static.get(pathname) or self.static.get(f"https://{host}{pathname}")
        if rule is not None:
            return rule.status, rule.to
        for regex, cross_host, rule in self.dynamic:
            m = regex.match(f"https://{host}{pathname}" if cross_host else pathname)
            if m:
                return rule.status, substitute(rule.to, m.groupdict())
        return None


def _is_dynamic(path: str) -> bool:
    return "*" in path or _PLACEHOLDER.search(path) is not None


def parse_redirects(text: str) -> RedirectRules:
    rules = RedirectRules()
    seen: set[str] = set()
    dynamic_mode = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if len(line) > MAX_LINE_LENGTH:
            rules.issues.append(RuleIssue(number, f"Ignoring line {number} as it exceeds the maximum allowed "
                                                  f"length of {MAX_LINE_LENGTH}."))
            continue
        comment = line.find(" #")
        if comment != -1:
            line = line[:comment].strip()
        tokens = line.split()
        if len(tokens) not in (2, 3):
            rules.issues.append(RuleIssue(number, f"Expected exactly 2 or 3 whitespace-separated tokens. "
                                                  f"Got {len(tokens)}."))
            continue
        source, to = tokens[0], tokens[1]
        status_text = tokens[2] if len(tokens) == 3 else "302"
        status = int(status_text) if status_text.isdigit() else -1
        if status not in REDIRECT_STATUSES:
            rules.issues.append(RuleIssue(number, "Valid status codes are 200, 301, 302 (default), 303, 307, "
                                                  f"or 308. Got {status_text}."))
            continue
        if not source.startswith(("/", "https://", "http://")):
            rules.issues.append(RuleIssue(number, "Only relative URLs or URLs beginning with https:// are "
                                                  f"allowed as the source of a redirect. Got {source}."))
            continue
        if source == "/*" and to == "/index.html":
            rules.issues.append(RuleIssue(number, "Infinite loop detected in this rule and has been ignored. "
                                                  "This will cause a redirect to strip `.html` or `/index` and "
                                                  "end up triggering this rule again. Please fix or remove this "
                                                  "rule to silence this warning."))
            continue
        if status == 200 and "://" in to:
            rules.issues.append(RuleIssue(number, f"Only relative URLs are allowed. Skipping absolute URL {to}."))
            continue
        if source in seen:
            rules.issues.append(RuleIssue(number, f"Ignoring duplicate rule for path {source}."))
            continue
        dynamic_mode = dynamic_mode or _is_dynamic(source)
        rule = RedirectRule(source, to, status, number)
        if dynamic_mode:
            if len(rules.dynamic) >= MAX_DYNAMIC_REDIRECTS:
                rules.issues.append(RuleIssue(number, f"Maximum number of dynamic rules supported is "
                                                      f"{MAX_DYNAMIC_REDIRECTS}. Skipping line."))
                continue
            regex, cross_host = compile_rule(source)
            rules.dynamic.append((regex, cross_host, rule))
        else:
            if len(rules.static) >= MAX_STATIC_REDIRECTS:
                rules.issues.append(RuleIssue(number, f"Maximum number of static rules supported is "
                                                      f"{MAX_STATIC_REDIRECTS}. Skipping line."))
                continue
            rules.static[source] = rule
        seen.add(source)
    return rules


# --- _headers -------------------------------------------------------------------------

@dataclass
class HeaderRule:
    path: str
    line: int
    values: dict[str, str] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)
    regex: re.Pattern[str] | None = None
    cross_host: bool = False


@dataclass
class HeaderRules:
    rules: list[HeaderRule] = field(default_factory=list)
    issues: list[RuleIssue] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.rules)

    def apply(self, headers: Headers, host: str, pathname: str) -> None:
        """Attach matching rules' headers (pages-shared ``attachHeaders``).

        The first rule that sets a name replaces the response's value; later matching
        rules append to it; ``! name`` removes it.
        """
        seen: set[str] = set()
        for rule in self.rules:
            assert rule.regex is not None
            m = rule.regex.match(f"https://{host}{pathname}" if rule.cross_host else pathname)
            if not m:
                continue
            groups = m.groupdict()
            for name in rule.removed:
                headers.delete(name)
            for name, value in rule.values.items():
                value = substitute(value, groups)
                if name in seen:
                    headers.append(name, value)
                else:
                    headers.set(name, value)
                    seen.add(name)


_PATH_LINE = re.compile(r"^([^\s]+://|/)")


def parse_headers(text: str) -> HeaderRules:
    out = HeaderRules()
    current: HeaderRule | None = None
    lines = text.splitlines()

    def close(rule: HeaderRule | None) -> None:
        if rule is None or not rule.path:
            return
        if not rule.values and not rule.removed:
            out.issues.append(RuleIssue(rule.line, "No headers specified"))
            return
        rule.regex, rule.cross_host = compile_rule(rule.path)
        out.rules.append(rule)

    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if len(line) > MAX_LINE_LENGTH:
            out.issues.append(RuleIssue(number, f"Ignoring line {number} as it exceeds the maximum allowed "
                                                f"length of {MAX_LINE_LENGTH}."))
            continue
        if _PATH_LINE.match(line):
            close(current)
            current = None
            if len(out.rules) >= MAX_HEADER_RULES:
                out.issues.append(RuleIssue(number, f"Maximum number of rules supported is {MAX_HEADER_RULES}. "
                                                    f"Skipping remaining {len(lines) - number + 1} lines of file."))
                break
            if line.count("*") > 1:
                out.issues.append(RuleIssue(number, f"Expected exactly one wildcard (*) in the path {line}; "
                                                    "ignoring this rule."))
                current = HeaderRule(line, number)  # collect its headers, then drop it
                current.regex = None
                current.path = ""
                continue
            current = HeaderRule(line, number)
            continue
        if line.startswith("!"):
            if current is None:
                out.issues.append(RuleIssue(number, f"Path should come before header ({line})"))
                continue
            name = line[1:].strip().lower()
            if name and current.path:
                current.removed.add(name)
            continue
        if ":" not in line:
            out.issues.append(RuleIssue(number, "Expected a colon-separated header pair (e.g. name: value)"))
            continue
        name, value = (part.strip() for part in line.split(":", 1))
        if current is None:
            out.issues.append(RuleIssue(number, f"Path should come before header ({name}: {value})"))
            continue
        if not current.path:
            continue  # headers of a rejected path
        name = name.lower()
        current.values[name] = f"{current.values[name]}, {value}" if name in current.values else value
    if current is not None and current.path:
        close(current)
    return out

