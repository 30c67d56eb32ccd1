"""`cf-emulator kv ...`: wrangler's verbs and binding resolution, with and without a running `dev`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from emulator.bindings.kv.config import KVConfig, KVNamespaceBinding
from emulator.clock import RealClock
from emulator.platform import Platform
from tests.helpers.apps import app_config
from tests.helpers.cli import run_cli, serve_internal_api

CONFIG = """name = "app"
main = "src/entry.py"
compatibility_date = "2025-08-14"
compatibility_flags = ["python_workers"]

[[kv_namespaces]]
binding = "CACHE"
id = "cache-id"

[[kv_namespaces]]
binding = "BOTH"
id = "prod-id"
preview_id = "preview-id"
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "entry.py").write_text(
        "from workers import WorkerEntrypoint\n\nclass Default(WorkerEntrypoint):\n"
        "    async def fetch(self, request):\n        return None\n")
    (tmp_path / "wrangler.toml").write_text(CONFIG)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def out(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().out


def test_key_verbs_on_disk(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("kv", "key", "put", "greeting", "hello", "--binding", "CACHE", "--local",
                   "--metadata", '{"by": "me"}', "--ttl", "3600") == 0
    assert out(capsys) == 'Writing the value "hello" to key "greeting" on namespace cache-id.\n'
    assert run_cli("kv", "key", "get", "greeting", "--binding", "CACHE", "--text") == 0
    assert out(capsys) == "hello\n"
    assert run_cli("kv", "key", "get", "greeting", "--namespace-id", "cache-id", "--json") == 0
    got = json.loads(out(capsys))
    assert got["value"] == "hello" and got["metadata"] == {"by": "me"}
    assert run_cli("kv", "key", "list", "--binding", "CACHE") == 0
    listed = json.loads(out(capsys))
    assert [k["name"] for k in listed] == ["greeting"] and listed[0]["metadata"] == {"by": "me"}
    assert run_cli("kv", "key", "delete", "greeting", "--binding", "CACHE") == 0
    out(capsys)
    assert run_cli("kv", "key", "get", "greeting", "--binding", "CACHE") == 0
    assert out(capsys) == "Value not found\n"
    assert (project / ".emulator" / "kv" / "cache-id.sqlite3").is_file()


def test_value_from_a_file_and_bulk(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "blob.bin").write_bytes(b"\xff\x01binary")
    assert run_cli("kv", "key", "put", "blob", "--path", "blob.bin", "--binding", "CACHE") == 0
    capsys.readouterr()
    assert run_cli("kv", "key", "get", "blob", "--binding", "CACHE", "--json") == 0
    assert json.loads(out(capsys))["base64"] == "/wFiaW5hcnk="
    (project / "pairs.json").write_text(json.dumps([{"key": "a", "value": "1"}, {"key": "b", "value": "Mg==",
                                                                                 "base64": True}]))
    assert run_cli("kv", "bulk", "put", "pairs.json", "--binding", "CACHE") == 0
    assert out(capsys) == "Success!\n"
    (project / "keys.json").write_text(json.dumps(["a", {"name": "b"}, "c"]))
    assert run_cli("kv", "bulk", "get", "keys.json", "--binding", "CACHE") == 0
    assert json.loads(out(capsys)) == {"a": "1", "b": "2", "c": None}
    assert run_cli("kv", "bulk", "delete", "keys.json", "--binding", "CACHE", "--force") == 0
    capsys.readouterr()
    assert run_cli("kv", "key", "list", "--binding", "CACHE") == 0
    assert [k["name"] for k in json.loads(out(capsys))] == ["blob"]
    assert run_cli("kv", "namespace", "list") == 0
    assert [n["id"] for n in json.loads(out(capsys))] == ["cache-id"]


def test_errors(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        (("kv", "key", "get", "k", "--binding", "BOTH"),
         'The binding "BOTH" has both an "id" and a "preview_id" configured. Pass `--preview` to target the preview '
         "namespace, or `--preview false` to target the production namespace."),
        (("kv", "key", "get", "k", "--binding", "NOPE"),
         'A namespace with binding name "NOPE" was not found in the configured "kv_namespaces". '
         "Known bindings: BOTH, CACHE."),
        (("kv", "key", "get", "k"), "Exactly one of the arguments --binding and --namespace-id is required."),
        (("kv", "key", "put", "k", "v", "--binding", "CACHE", "--metadata", "[1]"),
         "--metadata must be a JSON object. Received: [1]"),
        (("kv", "key", "put", "k", "--binding", "CACHE"), "Exactly one of the arguments value and --path is required."),
        (("kv", "key", "put", "", "v", "--binding", "CACHE"), "Key name cannot be empty."),
        (("kv", "key", "put", "k", "v", "--binding", "CACHE", "--ttl", "10"),
         "KV PUT failed: 400 Invalid expiration_ttl of 10. Expiration TTL must be at least 60."),
        (("kv", "key", "get", "k", "--binding", "CACHE", "--remote"),
         "--remote is not supported: cf-emulator only has local namespaces."),
    ]
    for argv, message in cases:
        assert run_cli(*argv) == 1, argv
        assert capsys.readouterr().err.strip().endswith(f"✘ [ERROR] {message}"), argv
    assert run_cli("kv", "key", "get", "k", "--binding", "BOTH", "--preview") == 0
    assert run_cli("kv", "key", "put", "k", "v", "--binding", "BOTH", "--preview", "false") == 0
    assert 'on namespace prod-id' in out(capsys)


async def test_through_a_running_dev(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = app_config(config_path=project / "wrangler.toml", kind="worker", name="app",
                     bindings={"kv": KVConfig((KVNamespaceBinding("CACHE", "cache-id"),))})
    platform = Platform([app], project / ".emulator", clock=RealClock())
    await platform.start()
    served = serve_internal_api(platform)
    await served.__anext__()
    try:
        import asyncio

        def cli(*argv: str) -> Any:
            return asyncio.to_thread(run_cli, *argv)

        assert await cli("kv", "key", "put", "live", "yes", "--binding", "CACHE") == 0
        # The running process wrote it: the app sees it at once.
        assert await platform.env_for(app)["CACHE"].get("live") == "yes"
        capsys.readouterr()
        assert await cli("kv", "key", "list", "--binding", "CACHE") == 0
        assert [k["name"] for k in json.loads(out(capsys))] == ["live"]
        assert await cli("kv", "key", "get", "live", "--binding", "CACHE", "--text") == 0
        assert out(capsys) == "yes\n"
        assert await cli("kv", "key", "put", "x" * 600, "v", "--binding", "CACHE") == 1
        assert "KV PUT failed: 414" in capsys.readouterr().err
    finally:
        await served.aclose()
        await platform.stop()


def test_unknown_namespace_ids_are_refused_and_reading_creates_nothing(
        project: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]) -> None:
    typo = tmp_path_factory.mktemp("x") / "typo"
    state = ["--persist-to", str(typo)]
    for argv in (["key", "get", "k", "--binding", "CACHE"], ["key", "list", "--binding", "CACHE"],
                 ["namespace", "list"]):
        assert run_cli("kv", *argv, *state) == 0
    assert not typo.exists()
    assert run_cli("kv", "key", "put", "k", "v", "--namespace-id", "cach-id", *state) == 1
    err = capsys.readouterr().err
    assert 'No KV namespace named "cach-id"' in err and "Known KV namespaces: cache-id, preview-id, prod-id." in err
    assert not typo.exists()
    # A declared id is created by its first write; --json reports the outcome.
    assert run_cli("kv", "key", "put", "k", "v", "--namespace-id", "cache-id", "--json", *state) == 0
    assert json.loads(out(capsys)) == {"namespace": "cache-id", "key": "k", "written": 1}
    assert run_cli("kv", "key", "delete", "k", "--binding", "CACHE", "--json", *state) == 0
    assert json.loads(out(capsys)) == {"namespace": "cache-id", "key": "k", "deleted": True}


def test_bulk_put_reports_progress_and_json(project: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from emulator.cli import output
    from tests.helpers.cli import force_terminal

    seen: list[int] = []
    monkeypatch.setattr(output.Progress, "update", lambda self, completed: seen.append(completed))
    force_terminal(monkeypatch)
    pairs = [{"key": f"k{i}", "value": str(i)} for i in range(2500)]
    (project / "pairs.json").write_text(json.dumps(pairs))
    assert run_cli("kv", "bulk", "put", "pairs.json", "--binding", "CACHE", "--ttl", "100") == 0
    captured = capsys.readouterr()
    assert "Success!" in captured.out and "--ttl ignored by `kv bulk put`" in captured.err
    assert seen == [0, 1000, 2000, 2500]
    (project / "keys.json").write_text(json.dumps([p["key"] for p in pairs]))
    assert run_cli("kv", "bulk", "delete", "keys.json", "--binding", "CACHE", "--force", "--json") == 0
    assert json.loads(out(capsys)) == {"namespace": "cache-id", "keys": 2500, "deleted": 2500}
