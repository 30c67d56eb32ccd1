"""Durable Objects: single-threaded stateful objects with storage, alarms and WebSockets.

Roles (docs/architecture.md, "The binding kit"): ``config`` (``durable_objects.bindings``
and ``migrations``; CFE112-114), ``plugin`` (one ``NamespaceEngine`` per class; the pytest
handle), ``engine`` (a namespace: its objects, index and alarms under
``<state>/durable_objects/``), ``actor`` (one object: gates, output gate, eviction),
``store`` (one object's SQLite file), ``binding`` (what apps see on ``env``: namespaces and
stubs), ``context``/``storage``/``sql``/``websocket`` (what object code sees: ``ctx``,
``ctx.storage``, ``ctx.storage.sql``, ``WebSocketPair``), ``entrypoint`` (``DurableObject``,
imported through the ``workers`` shim), ``ids``, ``serialize`` (values across the object's
boundary), ``errors``, ``routes`` (``/_emulator/durable_objects``), ``cli``
(``cf-emulator durable-objects``), ``panel.js``. Semantics and differences from
production: docs/durable_objects.md.
"""
