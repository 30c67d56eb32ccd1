"""Cloudflare Queues: durable producer bindings, batching consumers, retries, dead-letter queues.

Roles (docs/architecture.md, "The binding kit"): ``config`` (producers and consumers in a
wrangler config, CFE rules), ``plugin`` (wires the broker to the hosted apps: every
``[[queues.producers]]`` becomes an ``env`` binding, every ``[[queues.consumers]]`` delivers
batches to ``platform.hosts[app].queue(batch)``), ``engine`` (``QueueBroker``, one SQLite
file at ``<state>/queues/queues.sqlite3`` through ``store``), ``binding`` (producers,
``Message``, ``MessageBatch``), ``serialize`` (message bodies), ``routes``
(``/_emulator/queues``), ``cli`` (``cf-emulator queues``), ``panel.js``.
"""
