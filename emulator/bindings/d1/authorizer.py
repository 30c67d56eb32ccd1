"""What production D1 refuses to run, as a SQLite authorizer (docs/d1.md, "Refused SQL").

D1 runs each database in workerd's SQLite wrapper, which installs an authorizer callback
for application SQL; the same rules apply to Worker bindings, ``wrangler d1 execute`` and
migrations. A refused statement fails while SQLite compiles it, with SQLite's own
``not authorized`` error, which the engine reports as ``D1_ERROR: not authorized:
SQLITE_AUTH``. Refused:

- ``ATTACH`` / ``DETACH`` and any schema other than ``main`` (``temp`` objects only for
  reads and updates: no ``CREATE TEMP ...``);
- names starting ``_cf_`` (any case): D1's own tables;
- ``BEGIN`` / ``COMMIT`` / ``ROLLBACK`` / ``SAVEPOINT`` / ``RELEASE``: D1 runs every query,
  ``batch()`` and migration in a transaction of its own;
- every PRAGMA but a documented list, each with the argument shape D1 accepts;
- SQL functions outside D1's list (``sqlite_version()``, ``load_extension()``, ...);
- virtual tables other than FTS5 (and ``fts5vocab``) and R*Tree (and ``rtree_i32``).

The engine's own statements (its transactions, ``PRAGMA page_count`` for ``size_after``)
run with the connection's ``Authorizer.trusted`` set. The callback only runs when SQLite
compiles a statement and compiled statements are cached per SQL text, so the engine's
statements use texts application SQL can never have (a leading space: ``split_statements``
strips every statement), lest an app's text reuse one compiled while trusted.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable

OK = sqlite3.SQLITE_OK
DENY = sqlite3.SQLITE_DENY

# SQL functions D1 allows (workerd's list, by name: core, date and time, aggregate,
# window, math, JSON, FTS5, R*Tree, and the helpers ALTER TABLE compiles into its work).
ALLOWED_FUNCTIONS = frozenset("""
abs changes char coalesce concat concat_ws format glob hex ifnull iif instr
last_insert_rowid length like likelihood likely load_extension lower ltrim max_scalar
min_scalar nullif octet_length printf quote random randomblob replace round rtrim sign
soundex substr substring total_changes trim typeof unhex unicode unlikely upper zeroblob
date time datetime julianday unixepoch strftime timediff current_date current_time
current_timestamp
avg count group_concat max min string_agg sum total
row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value
nth_value
acos acosh asin asinh atan atan2 atanh ceil cos cosh degrees exp floor ln log log2 mod pi
pow radians sin sinh sqrt tan tanh trunc
json jsonb json_array jsonb_array json_array_length json_extract jsonb_extract -> ->>
json_insert jsonb_insert json_object jsonb_object json_patch jsonb_patch json_remove
jsonb_remove json_replace jsonb_replace json_set jsonb_set json_type json_valid json_quote
json_group_array jsonb_group_array json_group_object jsonb_group_object json_each json_tree
match highlight bm25 snippet rtreecheck
sqlite_rename_column sqlite_rename_table sqlite_rename_test sqlite_drop_column
sqlite_rename_quotefix
""".split())
# ``load_extension`` is on D1's list, but extension loading is off in both D1 and here, so
# SQLite refuses the call itself ("not authorized").

_VIRTUAL_MODULES = frozenset({"fts5", "fts5vocab", "rtree", "rtree_i32"})

# PRAGMAs D1 allows, by the argument each takes (docs/d1.md lists them).
_NO_ARG = frozenset({"data_version", "page_size"})
_BOOLEAN = frozenset({"case_sensitive_like", "foreign_keys", "defer_foreign_keys",
                      "ignore_check_constraints", "legacy_alter_table", "recursive_triggers",
                      "reverse_unordered_selects"})
_OBJECT_NAME = frozenset({"foreign_key_list", "index_info", "index_list", "index_xinfo"})
_BOOLEAN_PREFIXES = ("true", "false", "yes", "no", "on", "off", "1", "0")
_INT = re.compile(r"^[+-]?\d+$")

_FUNCTION = sqlite3.SQLITE_FUNCTION
_ALWAYS = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_RECURSIVE, sqlite3.SQLITE_ANALYZE})
# Actions whose first argument is the one global name they touch.
_NAMED_ACTIONS = frozenset({
    sqlite3.SQLITE_CREATE_TABLE, sqlite3.SQLITE_DELETE, sqlite3.SQLITE_DROP_TABLE,
    sqlite3.SQLITE_INSERT, sqlite3.SQLITE_CREATE_VIEW, sqlite3.SQLITE_DROP_VIEW,
    sqlite3.SQLITE_REINDEX, sqlite3.SQLITE_READ, sqlite3.SQLITE_UPDATE})
# Actions naming an index or trigger (first) and its table (second).
_TWO_NAME_ACTIONS = frozenset({
    sqlite3.SQLITE_CREATE_INDEX, sqlite3.SQLITE_DROP_INDEX, sqlite3.SQLITE_CREATE_TRIGGER,
    sqlite3.SQLITE_DROP_TRIGGER})


def allowed_name(name: str | None) -> bool:
    """Whether application SQL may use a table, index, view or trigger name."""
    return name is None or name[:4].lower() != "_cf_"


def _pragma_allowed(pragma: str, arg: str | None) -> bool:
    pragma = pragma.lower()
    if pragma == "table_list":
        return True
    if pragma in ("table_info", "table_xinfo"):
        return arg is not None and allowed_name(arg)
    if pragma in _NO_ARG:
        return arg is None
    if pragma in _BOOLEAN:
        if arg is None:
            return True  # reading the current value
        value = arg
        if len(value) >= 2 and value[0] in "'\"" and value[-1] == value[0]:
            value = value[1:-1]
        return value.lower().startswith(_BOOLEAN_PREFIXES)
    if pragma in _OBJECT_NAME:
        return arg is not None and allowed_name(arg)
    if pragma == "foreign_key_check":
        return allowed_name(arg)
    if pragma == "quick_check":
        return arg is None or arg.isdigit() or allowed_name(arg)
    if pragma == "optimize":
        return arg is None or (_INT.match(arg) is not None and -2**31 <= int(arg) < 2**31)
    return False


def _authorize_other(action: int, arg1: str | None, arg2: str | None, db: str | None) -> int:
    """``authorize`` for everything but the common actions on ``main``."""
    if action == sqlite3.SQLITE_ALTER_TABLE or action == sqlite3.SQLITE_DETACH:
        # SQLite passes the schema first and the table second for these two.
        arg1, arg2, db = arg2, None, arg1
    if db is not None and db != "main":
        if db == "temp" and action in (sqlite3.SQLITE_READ, sqlite3.SQLITE_UPDATE):
            return OK if allowed_name(arg1) else DENY
        return DENY  # attached schemas and temp objects
    # (Reads, writes and functions on main never get here: ``authorize`` decides them.)
    if action == sqlite3.SQLITE_ALTER_TABLE:
        return OK if allowed_name(arg1) else DENY
    if action in _TWO_NAME_ACTIONS:
        return OK if allowed_name(arg1) and allowed_name(arg2) else DENY
    if action == sqlite3.SQLITE_PRAGMA:
        return OK if arg1 is not None and _pragma_allowed(arg1, arg2) else DENY
    if action == sqlite3.SQLITE_CREATE_VTABLE or action == sqlite3.SQLITE_DROP_VTABLE:
        return OK if (arg2 or "").lower() in _VIRTUAL_MODULES and allowed_name(arg1) else DENY
    # ATTACH, DETACH, transactions and savepoints, temp objects, anything unknown.
    return DENY


def authorize(action: int, arg1: str | None, arg2: str | None, db: str | None,
              _trigger: str | None) -> int:
    """The authorizer callback for application SQL (``sqlite3.Connection.set_authorizer``).

    SQLite calls it several times for every statement it compiles, so the actions most
    statements consist of (reads, writes, functions on ``main``) are decided first, inline.
    """
    if db is None or db == "main":
        if action in _NAMED_ACTIONS:
            # Most names do not even start with "_".
            return OK if arg1 is None or arg1[:1] != "_" or arg1[:4].lower() != "_cf_" else DENY
        if action == _FUNCTION:
            return OK if arg2 in ALLOWED_FUNCTIONS else DENY
        if action in _ALWAYS:
            return OK
    return _authorize_other(action, arg1, arg2, db)


class Authorizer:
    """One connection's switch: D1's rules apply unless ``trusted`` (the engine's own SQL)."""

    __slots__ = ("trusted",)

    def __init__(self) -> None:
        self.trusted = False


Callback = Callable[[int, str | None, str | None, str | None, str | None], int]


def callback_for(switch: Authorizer) -> Callback:
    """The connection's authorizer callback: ``authorize`` unless ``switch.trusted``, with
    ``authorize``'s common cases inline (tests check both agree)."""

    def callback(action: int, arg1: str | None, arg2: str | None, db: str | None,
                 trigger: str | None) -> int:
        # ``authorize``'s common cases, inline: this runs several times per compiled statement.
        if switch.trusted:
            return OK
        if db is None or db == "main":
            if action in _NAMED_ACTIONS:
                return OK if arg1 is None or arg1[:1] != "_" or arg1[:4].lower() != "_cf_" else DENY
            if action == _FUNCTION:
                return OK if arg2 in ALLOWED_FUNCTIONS else DENY
            if action in _ALWAYS:
                return OK
        return _authorize_other(action, arg1, arg2, db)

    return callback


def install(conn: sqlite3.Connection) -> Authorizer:
    """Put D1's rules on ``conn``; the returned object lifts them (``trusted``)."""
    switch = Authorizer()
    conn.set_authorizer(callback_for(switch))
    return switch
