"""KV through hosted apps: the official sample, sharing by namespace id, restart, fake-clock
expiry through the pytest handle, health and the `dev` bindings table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emulator.bindings.kv.config import TYPE, kv_config
from emulator.config import check_paths

# Cloudflare's python-workers-examples `02-binding`, the code as published.
SAMPLE = '''
from workers import Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        await self.env.FOO.put("bar", "baz")
        bar = await self.env.FOO.get("bar")
        return Response(bar)
'''
READER = '''
from workers import Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response(str(await self.env.SHARED.get("bar")))
'''


def write_app(root: Path, name: str, entry: str, namespaces: str) -> Path:
    (root / name / "src").mkdir(parents=True)
    (root / name / "src" / "entry.py").write_text(entry)
    config = root / name / "wrangler.toml"
    config.write_text(f'name = "{name}"\nmain = "src/entry.py"\ncompatibility_date = "2025-08-14"\n'
                      f'compatibility_flags = ["python_workers"]\n\n{namespaces}')
    return config


def workspace(root: Path) -> Path:
    write_app(root, "writer", SAMPLE, '[[kv_namespaces]]\nbinding = "FOO"\nid = "0f2ac74b498b48028cb68387c421e279"\n')
    write_app(root, "reader", READER, '[[kv_namespaces]]\nbinding = "SHARED"\nid = "other-prod-id"\n'
                                      'preview_id = "0f2ac74b498b48028cb68387c421e279"\n')
    (root / "wrangler.toml").write_text('[workspace]\napps = ["writer", "reader"]\n')
    return root / "wrangler.toml"


def test_config_reads_ids_and_local_id(tmp_path: Path) -> None:
    report = check_paths([workspace(tmp_path)])
    assert report.ok
    writer, reader = (kv_config(a).namespaces[0] for a in report.apps)
    assert (writer.binding, writer.id, writer.local_id) == ("FOO", "0f2ac74b498b48028cb68387c421e279",
                                                            "0f2ac74b498b48028cb68387c421e279")
    # `wrangler dev` uses preview_id ?? id ?? binding: the two apps meet on one namespace.
    assert reader.local_id == writer.local_id
    decl = TYPE.declarations(kv_config(report.apps[1]))[0]
    assert decl.resource == writer.local_id and decl.aliases == ("other-prod-id",)


async def test_sample_runs_and_apps_share_by_namespace_id(cf_emulator: Any, tmp_path: Path) -> None:
    emu = await cf_emulator(workspace(tmp_path))
    assert (await emu.fetch("writer", "/")).text == "baz"
    assert (await emu.fetch("reader", "/")).text == "baz"
    table = next(m for m in emu.log_messages(source="dev") if m.startswith("[writer] Your Worker has access"))
    assert "env.FOO  0f2ac74b498b48028cb68387c421e279  KV Namespace  emulated" in table
    health = (await emu.fetch("writer", "/_emulator/health")).json()
    assert health["plugins"]["kv"]["namespaces"] == ["0f2ac74b498b48028cb68387c421e279"]
    assert health["apps"]["reader"]["bindings"]["kv"] == {"SHARED": "0f2ac74b498b48028cb68387c421e279"}
    # The test handle finds a namespace by binding name or by id.
    assert await emu.kv("FOO").get("bar") == "baz"
    assert await emu.kv("other-prod-id").get("bar") == "baz"
    await emu.restart()
    assert await emu.kv("SHARED").get("bar") == "baz"


async def test_expiry_follows_the_fake_clock(cf_emulator: Any, tmp_path: Path) -> None:
    emu = await cf_emulator(workspace(tmp_path))
    ns = emu.kv("FOO")
    await ns.put("session", "s1", expirationTtl=120)
    await emu.advance(119)
    assert await ns.get("session") == "s1"
    await emu.advance(1)
    assert await ns.get("session") is None
    assert (await ns.list())["keys"] == []
