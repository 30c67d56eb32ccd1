"""Binding types wrangler knows and cf-emulator does not emulate: loud, never a bare AttributeError.

Roles (docs/architecture.md, "The binding kit"): ``config`` (every wrangler binding key no
registered type claims), ``plugin`` and ``binding`` (an `env` object whose every use raises
``NotEmulatedError`` naming the binding, its type and what to do). `dev` warns about them
at start and lists them in its bindings table and in ``/_emulator/health``.
"""
