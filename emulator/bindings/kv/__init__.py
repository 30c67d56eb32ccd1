"""Workers KV: namespaces of keys and values with metadata and expiry, persisted in SQLite.

Roles (docs/architecture.md, "The binding kit"): ``config`` (``[[kv_namespaces]]``),
``plugin`` (one engine per namespace id, shared across apps), ``engine`` (``KVEngine``: one
SQLite file per namespace under ``<state>/kv/``), ``binding`` (``KVNamespace``: what apps
see on ``env``), ``errors``, ``routes`` (``/_emulator/kv``), ``cli`` (``cf-emulator kv``),
``panel.js``. Semantics and limits: docs/kv.md.
"""
