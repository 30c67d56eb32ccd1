"""The TOML key locator: tables, arrays of tables, dotted keys, inline tables, strings."""

from __future__ import annotations

import tomllib

from emulator.config.tomlpos import toml_positions

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
