"""D1: SQLite databases, one file per database under ``<state>/d1/``.

Roles (docs/architecture.md, "The binding kit"): ``config`` (``[[d1_databases]]``),
``plugin`` (one engine per database, migrations at start), ``engine`` (``D1Engine``:
connection, worker thread, result shaping), ``binding`` (``D1Database`` /
``D1PreparedStatement``: what apps see), ``migrations`` (wrangler's migrations),
``routes`` (``/_emulator/d1``), ``cli`` (``cf-emulator d1``), ``panel.js``.
"""
