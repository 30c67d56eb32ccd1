"""Service bindings: ``env.SERVICE.fetch(...)`` and RPC to another app hosted in this process.

Roles (docs/architecture.md, "The binding kit"): ``config`` (``[[services]]``), ``plugin``,
``binding`` (``ServiceFetcher``). No engine: the state is the other app.
"""
