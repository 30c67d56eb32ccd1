"""The TOML key locator: tables, arrays of tables, dotted keys, inline tables, strings; and its
nesting limits (smol-toml's inline depth, our total depth)."""

from __future__ import annotations

import tomllib

import pytest

from emulator.config.nesting import MAX_DEPTH, TOML_INLINE_MAX_DEPTH
from emulator.config.tomlpos import scan_toml, toml_positions

DOC = '''name = "w"  # comment with = and [brackets]
"quoted.key" = 1
site.bucket = "./public"

[vars]
A = "x = [y]"
B = """multi
line = not a key
"""

[[queues.consumers]]
queue = "a"

[[queues.consumers]]
queue = "b"
max_retries = 5

[env.staging.vars]
C = 1

[[env.staging.queues.producers]]
binding = "Q"
queue = "q"

[[r2_buckets]]
binding = "R"
limits = { a = 1, nested = { b = 2 } }
list = [
  { x = 1 },
  { x = 2, y = 'lit' },
]
'''


def test_positions() -> None:
    tomllib.loads(DOC)  # the locator only runs on documents tomllib accepts
    pos = toml_positions(DOC)
    assert pos[("name",)] == (1, 1)
    assert pos[("quoted.key",)] == (2, 1)
    assert pos[("site", "bucket")] == (3, 1)
    assert pos[("vars",)] == (5, 1)
    assert pos[("vars", "A")] == (6, 1)
    assert pos[("vars", "B")] == (7, 1)
    assert ("vars", "line") not in pos
    assert pos[("queues", "consumers", 0)] == (11, 1)
    assert pos[("queues", "consumers", 1, "queue")] == (15, 1)
    assert pos[("queues", "consumers", 1, "max_retries")] == (16, 1)
    assert pos[("env", "staging", "vars", "C")] == (19, 1)
    assert pos[("env", "staging", "queues", "producers", 0, "binding")] == (22, 1)
    assert pos[("r2_buckets", 0, "limits", "a")] == (27, 12)
    assert pos[("r2_buckets", 0, "limits", "nested", "b")] == (27, 30)
    assert pos[("r2_buckets", 0, "list", 1)] == (30, 3)
    assert pos[("r2_buckets", 0, "list", 1, "y")] == (30, 12)


def test_never_raises_on_odd_input() -> None:
    assert isinstance(toml_positions('a = "unterminated\n[[x'), dict)


def test_strings_with_escapes_quotes_and_brackets() -> None:
    doc = ('a = """x \\""" [ { """\nb = \'\'\'q\'\'\'\'\'\nc = "\\u00e9 \\" ["\n"d\\u00e9" = 1\n'
           'e = [ "]", \'}\', """\n]""", 2 ]\nf = 3\n')
    tomllib.loads(doc)
    pos = toml_positions(doc)
    assert pos[("b",)] == (2, 1) and pos[("c",)] == (3, 1) and pos[("dé",)] == (4, 1)
    assert pos[("e", 3)] == (6, 7) and pos[("f",)] == (7, 1)


# --- nesting --------------------------------------------------------------------------------
def test_inline_nesting_follows_smol_toml() -> None:
    ok = "X = " + "[" * TOML_INLINE_MAX_DEPTH + "]" * TOML_INLINE_MAX_DEPTH + "\n"
    assert scan_toml(ok).nesting is None
    # A value (here the 1001st array) inside 1000 inline arrays/tables: refused at that value.
    deep = "a = 1\nX = " + "[" * (TOML_INLINE_MAX_DEPTH + 1) + "]" * (TOML_INLINE_MAX_DEPTH + 1) + "\n"
    problem = scan_toml(deep).nesting
    assert problem is not None and problem.wrangler and problem.id is None
    assert problem.offset == deep.index("[") + TOML_INLINE_MAX_DEPTH and problem.statement == deep.index("X")
    tables = "X = " + "{a = " * TOML_INLINE_MAX_DEPTH + "1" + " }" * TOML_INLINE_MAX_DEPTH
    problem = scan_toml(tables).nesting
    assert problem is not None and problem.wrangler and problem.offset == tables.index("1")
    assert scan_toml("X = " + "{a = " * 999 + "1" + " }" * 999).nesting is None


def test_inline_nesting_spanning_lines_and_comments() -> None:
    doc = "X = [ # open\n" + "[\n" * TOML_INLINE_MAX_DEPTH + "]" * (TOML_INLINE_MAX_DEPTH + 1)
    problem = scan_toml(doc).nesting
    assert problem is not None and problem.wrangler
    assert problem.offset == doc.index("[\n") + 2 * (TOML_INLINE_MAX_DEPTH - 1)


@pytest.mark.parametrize("form", ["header", "dotted", "array_of_tables"])
def test_table_nesting_past_max_depth_is_ours(form: str) -> None:
    def doc(parts: int) -> str:
        key = ".".join(["k"] * parts)
        return {"header": f"[{key}]\nx = 1\n", "dotted": f"{key} = 1\n",
                "array_of_tables": f"[[{key}]]\nx = 1\n"}[form]

    # Level one is the top-level table; a table `n` keys down is level n + 1.
    fits = {"header": MAX_DEPTH - 1, "dotted": MAX_DEPTH, "array_of_tables": MAX_DEPTH - 2}[form]
    assert scan_toml(doc(fits)).nesting is None
    text = doc(fits + 1)
    problem = scan_toml(text).nesting
    assert problem is not None and not problem.wrangler and problem.id == "CFE100" and problem.statement == 0
    # Reported at the key part whose table crosses the limit (parts are two characters apart).
    crossing_part = fits - 1 if form == "dotted" else fits
    assert problem.offset == text.index("k") + 2 * crossing_part


def test_depth_counts_tables_and_inline_values_together() -> None:
    # 2500 table levels from the header plus 600 inline arrays: past MAX_DEPTH, inside smol's limit.
    text = "[" + ".".join(["t"] * 2500) + "]\nX = " + "[" * 600 + "]" * 600 + "\n"
    problem = scan_toml(text).nesting
    assert problem is not None and not problem.wrangler
    assert problem.offset == text.index("X = ") + 4 + (MAX_DEPTH - 2500 - 1)


def test_scan_of_100k_levels_stops_early() -> None:
    text = "X = " + "[" * 100_000
    problem = scan_toml(text).nesting
    assert problem is not None and problem.offset == 4 + TOML_INLINE_MAX_DEPTH
