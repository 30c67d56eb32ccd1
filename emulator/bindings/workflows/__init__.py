"""Workflows: durable multi-step instances (Cloudflare Workflows) for hosted apps.

Roles (docs/architecture.md, "The binding kit"): ``config`` (``[[workflows]]``, CFE111),
``entrypoint`` (what workflow code imports through the ``workers`` shim:
``WorkflowEntrypoint``, the step and event objects; stays light), ``engine`` (the state:
SQLite under ``<state>/workflows/`` through ``store``), ``binding`` (what apps see on
``env``), ``routes`` (``/_emulator/workflows``), ``plugin``, ``cli``
(``cf-emulator workflows``), ``panel.js``.
"""
