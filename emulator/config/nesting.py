"""How deeply a config may nest, and what ``check`` says past that (docs/check.md, "Limits").

Two limits, both found by scanning the text before any recursive code sees it:

- TOML inline values (arrays and inline tables inside one another): wrangler's TOML parser
  (smol-toml, default ``maxDepth`` 1000) refuses a value that sits inside 1000 of them, with
  its own message at that value. We apply the same rule with the same message, so this is
  wrangler's verdict.
- Everything else (JSON/JSONC nesting, TOML tables from headers and dotted keys): wrangler has
  no rule; it overflows its stack ("Maximum call stack size exceeded") somewhere around 3,400
  levels for JSON objects and 4,100 for arrays. We refuse configs nested more than
  ``MAX_DEPTH`` levels (the top-level table counts as one) with our own diagnostic ``CFE100``
  at the bracket, brace or key where the limit is crossed.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from dataclasses import dataclass
from collections.abc import Iterator

# Deepest nesting we judge: below where wrangler's own stack gives out for JSON (see above).
MAX_DEPTH = 3000
# smol-toml's default `maxDepth`, which wrangler uses.
TOML_INLINE_MAX_DEPTH = 1000
TOML_INLINE_MESSAGE = "Invalid TOML document: document contains excessively nested structures. aborting."
NESTING_ID = "CFE100"
MAX_DEPTH_MESSAGE = (
    f"Nested more than {MAX_DEPTH} levels deep: cf-emulator does not judge configs whose arrays, "
    "objects or tables nest this deeply (wrangler itself stops with \"Maximum call stack size "
    "exceeded\" a few thousand levels down).")


@dataclass(frozen=True)
class NestingProblem:
    """Where a document crosses a nesting limit.

    ``offset`` is the character where the limit is crossed; ``statement`` is where the TOML
    statement holding it starts (a syntax error before that point is reported first, as
    wrangler's one-pass parser would); ``wrangler`` tells smol-toml's rule from ours.
    """

    offset: int
    statement: int
    wrangler: bool

    @property
    def message(self) -> str:
        return TOML_INLINE_MESSAGE if self.wrangler else MAX_DEPTH_MESSAGE

    @property
    def id(self) -> str | None:
        return None if self.wrangler else NESTING_ID


@contextmanager
def recursion_headroom(frames: int) -> Iterator[None]:
    """Let recursive code (``tomllib``) go ``frames`` deeper than the current limit.

    Only ever raised, never lowered, and restored on exit. Python 3.11+ runs Python-to-Python
    calls without growing the C stack, so the extra frames cost heap, not stack.
    """
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(old + frames)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)
