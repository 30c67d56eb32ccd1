"""The project's documentation stays walkable.

README.md and docs/*.md: every relative link and ``#anchor`` resolves (anchors as GitHub
renders them), README.md stays short, every docs page is in the index (docs/README.md), and
the tour's ``cf-emulator`` commands parse. Code, tests, benchmarks and fixtures cite our own
docs pages: a cited page exists, a quoted section is one of its headings, and nothing cites a
document that is not in the repository.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from emulator.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
README_MAX_LINES = 320

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_LINK = re.compile(r"\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")


def _prose_lines(text: str) -> list[tuple[int, str]]:
    """Lines outside fenced code blocks, numbered from 1."""
    lines: list[tuple[int, str]] = []
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def headings(page: Path) -> list[str]:
    return [m.group(2) for _, line in _prose_lines(page.read_text()) if (m := _HEADING.match(line))]


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    found: set[str] = set()
    for heading in headings(page):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Path) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for number, line in _prose_lines(page.read_text()):
        for match in _LINK.finditer(_CODE_SPAN.sub("code", line)):
            found.append((number, match.group(1)))
    return found


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    problems: list[str] = []
    for number, target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        where = f"{page.relative_to(root)}:{number}: {target}"
        if not dest.exists():
            problems.append(f"{where}: no such file")
        elif root not in dest.parents and dest != root:
            problems.append(f"{where}: outside the repository")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{where}: no heading with this anchor in {dest.relative_to(root)}")
        elif anchor and dest.suffix != ".md":
            problems.append(f"{where}: an anchor into a file that is not Markdown")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    assert broken_links(page) == []


def test_broken_links_and_anchors_are_found(tmp_path: Path) -> None:
    other = tmp_path / "other.md"
    other.write_text("# Other page\n\n## Setting the rules (`cf-emulator r2 bucket cors`)\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n## Same heading\n\n## Same heading\n\n"
        "[ok](other.md#setting-the-rules-cf-emulator-r2-bucket-cors) [ok](#same-heading-1)\n"
        "[bad](other.md#setting-the-rules) [bad](missing.md) [bad](#nowhere)\n"
        "```\n[not a link](nowhere.md)\n```\n`[not a link](nowhere.md)` [web](https://example.com/x)\n")
    problems = broken_links(page, root=tmp_path)
    assert [p.split(": ", 1)[1] for p in problems] == [
        "other.md#setting-the-rules: no heading with this anchor in other.md",
        "missing.md: no such file",
        "#nowhere: no heading with this anchor in page.md"]


def table_problems(page: Path) -> list[str]:
    """Table rows with more cells than their header: an unescaped ``|`` (also inside a code
    span) splits a cell, and GitHub drops what is past the header's last column."""
    problems: list[str] = []
    header: int | None = None
    for number, line in _prose_lines(page.read_text()):
        if not line.startswith("|"):
            header = None
            continue
        cells = len(re.findall(r"(?<!\\)\|", line)) - 1
        if header is None:
            header = cells
        elif cells > header:
            problems.append(f"{page.name}:{number}: {cells} cells, the header has {header}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_table_rows_fit_their_header(page: Path) -> None:
    assert table_problems(page) == []


def test_a_split_table_cell_is_found(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("| a | b |\n|---|---|\n| `x\\|y` | z |\n| `x|y` | z |\n")
    assert table_problems(page) == ["page.md:4: 3 cells, the header has 2"]


def test_slugs_are_githubs() -> None:
    assert slug("Workspace file (top-level `wrangler.toml`)") == "workspace-file-top-level-wranglertoml"
    assert slug("Benchmark: big uploads (`bench/upload.py`)") == "benchmark-big-uploads-benchuploadpy"
    assert slug("`cf-emulator sync`") == "cf-emulator-sync"
    assert slug("Interop: `js`, `pyodide.ffi` and the values apps hold") == \
        "interop-js-pyodideffi-and-the-values-apps-hold"


def test_readme_stays_short() -> None:
    lines = len(README.read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move reference material to docs/"


def test_every_docs_page_is_in_the_index() -> None:
    index = DOCS / "README.md"
    listed = {target.partition("#")[0] for _, target in links(index)}
    missing = [p.name for p in sorted(DOCS.glob("*.md")) if p != index and p.name not in listed]
    assert missing == [], "pages missing from docs/README.md"


def readme_commands() -> list[str]:
    """``.venv/bin/cf-emulator ...`` command lines in README.md's shell blocks."""
    commands: list[str] = []
    shell = False
    for line in README.read_text().splitlines():
        if _FENCE.match(line):
            shell = not shell and line.strip() in ("```sh", "```bash", "```console")
            continue
        if shell:
            command = line.split(" #", 1)[0].strip()
            if command.startswith(".venv/bin/cf-emulator "):
                commands.append(command)
    return commands


def test_the_readme_tour_commands_parse() -> None:
    """Every `.venv/bin/cf-emulator` line of the README parses as a verb (the tour was also
    run by hand from a fresh clone; running it here would need a `dev` per test run)."""
    commands = readme_commands()
    assert len(commands) >= 5
    for command in commands:
        argv = shlex.split(command)[1:]
        try:
            args = build_parser(argv).parse_args(argv)
        except SystemExit:
            pytest.fail(f"README.md: `{command}` does not parse")
        assert getattr(args, "func", None) is not None, command


# --- code cites our docs ------------------------------------------------------------------

CITING = ("emulator", "apps", "tests", "bench", "fixtures")
VENDORED = ROOT / "tests" / "examples" / "python-workers-examples"
SUFFIXES = {".py", ".js", ".md", ".toml", ".html", ".css", ".json", ".txt"}
_CITATION = re.compile(
    r"(?<![\w.])docs/(?P<page>[a-z0-9_-]+\.md)(?:#(?P<anchor>[\w-]+))?`*"
    r"(?:(?:[,:]\s*|\s+(?:→|->)\s*|\s+)\"(?P<section>[^\"]{2,80})\")?")
# Documents the project was specified from; they are not in the repository, so a citation of
# one cannot be followed. The facts the code relies on are written in docs/ instead.
OUTSIDE = ("cloudflare-semantics", "python-ecosystem", "kv-durable-objects.md",
           "python-workers-runtime.md", "apps-spec", "fusou-original", "style.md")


def source_files() -> list[Path]:
    files: list[Path] = []
    for top in CITING:
        for path in sorted((ROOT / top).rglob("*")):
            if (path.suffix in SUFFIXES and path.is_file() and VENDORED not in path.parents
                    and ".venv" not in path.parts and path != Path(__file__).resolve()
                    and "data" not in path.relative_to(ROOT).parts[:2]):
                files.append(path)
    return files


def _unwrapped(text: str) -> str:
    """Comment and docstring lines joined, so a citation that wraps reads as one."""
    return re.sub(r"\s*\n\s*(?:#+|//+)?\s*", " ", text)


_README_CITATION = re.compile(r"(?<![\w/.])README(?:\.md)?,?\s+\"(?P<section>[^\"]{2,80})\"")


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if ROOT in path.parents else path.name


def citation_problems(path: Path) -> list[str]:
    problems: list[str] = []
    text = _unwrapped(path.read_text(errors="replace"))
    for match in _README_CITATION.finditer(text):
        wanted = match["section"].strip().lower()
        if not any(h.replace("`", "").lower().startswith(wanted) for h in headings(README)):
            problems.append(f"{_shown(path)}: README.md, \"{match['section']}\": no such section")
    for match in _CITATION.finditer(text):
        page = DOCS / match["page"]
        if not page.exists():
            problems.append(f"{_shown(path)}: docs/{match['page']} does not exist")
            continue
        if match["anchor"] and match["anchor"] not in anchors(page):
            problems.append(f"{_shown(path)}: docs/{match['page']}#{match['anchor']}: no such anchor")
        if match["section"]:
            wanted = match["section"].strip().lower()
            titles = [h.replace("`", "").lower() for h in headings(page)]
            if not any(t.startswith(wanted) for t in titles):
                problems.append(f"{_shown(path)}: docs/{match['page']}, \"{match['section']}\": no such section")
    return problems


def test_code_cites_existing_docs_pages_and_sections() -> None:
    problems = [p for path in source_files() for p in citation_problems(path)]
    assert problems == []


def outside_citations(path: Path) -> list[str]:
    problems: list[str] = []
    lines = path.read_text(errors="replace").splitlines()
    for number, line in enumerate(lines, 1):
        for name in OUTSIDE:
            if name in line:
                problems.append(f"{_shown(path)}:{number}: cites {name}")
        # "§" numbers the sections of those documents; a § right after an RFC number or a
        # public URL (possibly at the end of the line before) is that document's.
        for match in re.finditer("§", line):
            before = (lines[number - 2] if number > 1 else "") + " " + line[:match.start()]
            if not re.search(r"(RFC \d+|https?://\S+)\s*$", before):
                problems.append(f"{_shown(path)}:{number}: a § section of a document outside the repository")
    return problems


def test_code_cites_no_document_outside_the_repository() -> None:
    assert [p for path in [*source_files(), *PAGES] for p in outside_citations(path)] == []


def test_bad_citations_are_found(tmp_path: Path) -> None:
    module = tmp_path / "module.py"
    module.write_text(
        '"""Rules from docs/queues.md, "Delivery rules" and docs/queues.md, "No such\n'
        'section"; docs/nowhere.md; docs/r2.md#cors, docs/r2.md#nope; README "Quick start",\n'
        'README.md, "Nothing here"; RFC 7232 §6 is fine, cloudflare-' + 'semantics.md §7 is not."""\n'
        '# a comment citing §4.3 alone\n')
    assert citation_problems(module) == [
        'module.py: README.md, "Nothing here": no such section',
        'module.py: docs/queues.md, "No such section": no such section',
        "module.py: docs/nowhere.md does not exist",
        "module.py: docs/r2.md#nope: no such anchor"]
    assert outside_citations(module) == [
        "module.py:3: cites cloudflare-semantics",
        "module.py:3: a § section of a document outside the repository",
        "module.py:4: a § section of a document outside the repository"]
