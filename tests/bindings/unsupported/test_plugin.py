"""Bindings we don't emulate are loud: a start-up table and warning, health, and env objects
that raise an error naming the binding on every use (never a bare AttributeError)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from emulator.bindings.unsupported.binding import NotEmulatedError
from emulator.bindings.unsupported.config import TYPE
from emulator.config import check_paths

CONFIG = """
name = "ai-app"
main = "src/entry.py"
compatibility_date = "2025-08-14"
compatibility_flags = ["python_workers"]

[ai]
binding = "AI"

[[vectorize]]
binding = "INDEX"
index_name = "my-index"

[[hyperdrive]]
binding = "PG"
id = "0123456789abcdef"

[[queues.producers]]
binding = "JOBS"
queue = "jobs"
"""

ENTRY = """
from workers import WorkerEntrypoint, Response

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        if request.url.endswith("/probe"):
            return Response(str(getattr(self.env.AI, "run", None)))
        try:
            await self.env.AI.run("@cf/meta/llama", {"prompt": "hi"})
        except Exception as exc:
            return Response(f"{type(exc).__name__}: {exc}", status=501)
        return Response("ran")
"""


def write_app(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "src" / "entry.py").write_text(ENTRY)
    config = root / "wrangler.toml"
    config.write_text(CONFIG)
    return config


def test_declarations_name_binding_type_and_resource(tmp_path: Path) -> None:
    report = check_paths([write_app(tmp_path)])
    assert report.ok
    decls = TYPE.declarations(TYPE.of(report.apps[0]))
    assert [(d.binding, d.resource, d.type_label, d.emulated) for d in decls] == [
        ("INDEX", "my-index", "Vectorize Index", False),
        ("PG", "0123456789abcdef", "Hyperdrive Config", False),
        ("AI", "", "AI", False),
    ]


def test_claimed_keys_are_not_unsupported(tmp_path: Path) -> None:
    report = check_paths([write_app(tmp_path)])
    bindings = [d.binding for d in TYPE.declarations(TYPE.of(report.apps[0]))]
    assert "JOBS" not in bindings  # queues are emulated


async def test_start_warns_lists_in_health_and_env_objects_raise(cf_emulator: Any, tmp_path: Path) -> None:
    emu = await cf_emulator(write_app(tmp_path))
    table = next(m for m in emu.log_messages(source="dev") if "has access to the following bindings" in m)
    assert "env.AI" in table and "NOT EMULATED" in table and "env.JOBS" in table and "Queue" in table
    warning = emu.log_messages(source="dev", level="warn")
    assert any("not emulated locally: env.INDEX (Vectorize Index), env.PG (Hyperdrive Config), env.AI (AI)" in m
               for m in warning), warning

    health = (await emu.fetch("ai-app", "/_emulator/health")).json()
    rows = health["plugins"]["unsupported"]["bindings"]
    assert {r["binding"] for r in rows} == {"AI", "INDEX", "PG"}
    assert health["apps"]["ai-app"]["bindings"]["unsupported"]["AI"]["emulated"] is False

    resp = await emu.fetch("ai-app", "/")
    assert resp.status == 501
    assert resp.text.startswith("NotEmulatedError: env.AI of app 'ai-app': AI bindings are not emulated "
                                "locally by cf-emulator (tried to use .run)")
    # getattr with a default and hasattr behave as on a missing attribute.
    assert (await emu.fetch("ai-app", "/probe")).text == "None"


def test_env_object_refuses_every_use() -> None:
    from emulator.bindings.unsupported.binding import NotEmulatedBinding

    obj = NotEmulatedBinding("INDEX", "Vectorize Index", "my-index", "app")
    for use in (lambda: obj.query([1.0]), lambda: obj(), lambda: obj["x"], lambda: setattr(obj, "x", 1)):
        with pytest.raises(NotEmulatedError) as caught:
            use()
        assert "env.INDEX (my-index) of app 'app': Vectorize Index bindings are not emulated" in str(caught.value)
    assert "not emulated" in repr(obj)
