"""`cf-emulator r2 object get|put|delete|list`: with and without a running `dev`."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from pathlib import Path

import pytest

from emulator.platform import Platform
from tests.helpers.cli import d1_r2_app, force_terminal, run_cli, serve_internal_api, table_rows, write_config


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_config(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_put_get_list_delete_without_dev(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = bytes(range(256)) * 5000
    (project / "in.bin").write_bytes(data)
    assert run_cli("r2", "object", "put", "bucket/dir/../odd key.bin", "--file", "in.bin",
                   "--content-type", "application/x-test", "--local") == 0
    assert run_cli("r2", "object", "get", "bucket/dir/../odd key.bin", "--file", "out.bin") == 0
    assert (project / "out.bin").read_bytes() == data
    assert not (project / "odd key.bin").exists()
    capsys.readouterr()
    assert run_cli("r2", "object", "list", "bucket", "--json") == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["key"] == "dir/../odd key.bin" and listed["size"] == len(data)
    assert run_cli("r2", "object", "list", "bucket", "--prefix", "zzz", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []
    assert run_cli("r2", "object", "delete", "bucket/dir/../odd key.bin") == 0
    capsys.readouterr()
    assert run_cli("r2", "object", "get", "bucket/dir/../odd key.bin", "--pipe") == 1
    assert "The specified key does not exist" in capsys.readouterr().err


def test_pipe_in_and_out(project: Path, monkeypatch: pytest.MonkeyPatch,
                         capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"from stdin\x00")))
    assert run_cli("r2", "object", "put", "bucket/piped", "--pipe") == 0
    capsysbinary.readouterr()
    assert run_cli("r2", "object", "get", "bucket/piped", "--pipe") == 0
    assert capsysbinary.readouterr().out == b"from stdin\x00"


def test_bad_arguments_are_messages(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("r2", "object", "get", "no-slash") == 1
    assert "The object path must be in the form of {bucket}/{key}" in capsys.readouterr().err
    assert run_cli("r2", "object", "list", "unknown-bucket") == 1
    assert 'No bucket named "unknown-bucket" in the config or the state directory. Known buckets: bucket.' \
        in capsys.readouterr().err
    assert run_cli("r2", "object", "put", "bucket/x", "--file", "missing.bin") == 1
    assert "missing.bin" in capsys.readouterr().err
    (project / "k.txt").write_text("x")
    assert run_cli("r2", "object", "put", "bucket/" + "k" * 1025, "--file", "k.txt") == 1
    assert "put: The specified object name is not valid. (10020)" in capsys.readouterr().err


async def test_with_a_running_dev_the_live_state_sees_cli_writes(project: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    platform = Platform([d1_r2_app(project)], project / ".emulator", s3_port=None)
    await platform.start()
    served = serve_internal_api(platform)
    try:
        await served.__anext__()
        bucket = platform.env_for(platform.apps[0]).BUCKET
        (project / "up.txt").write_text("uploaded while dev runs")
        assert await asyncio.to_thread(run_cli, "r2", "object", "put", "bucket/a/b.txt",
                                       "--file", "up.txt", "--content-type", "text/plain") == 0
        obj = await bucket.get("a/b.txt")  # the running process sees it without a restart
        assert await obj.text() == "uploaded while dev runs"
        assert obj.httpMetadata == {"contentType": "text/plain"}
        await bucket.put("from-app", "written by the app")
        assert await asyncio.to_thread(run_cli, "r2", "object", "get", "bucket/from-app",
                                       "--file", str(project / "got.txt")) == 0
        assert (project / "got.txt").read_text() == "written by the app"
        for i in range(3):
            await bucket.put(f"many/{i}", str(i))
        capsys.readouterr()
        assert await asyncio.to_thread(run_cli, "r2", "object", "list", "bucket", "--prefix", "many/",
                                       "--json") == 0
        assert [o["key"] for o in json.loads(capsys.readouterr().out)] == ["many/0", "many/1", "many/2"]
        assert await asyncio.to_thread(run_cli, "r2", "object", "delete", "bucket/from-app") == 0
        assert await bucket.head("from-app") is None
        assert await asyncio.to_thread(run_cli, "r2", "object", "get", "bucket/from-app", "--pipe") == 1
    finally:
        await served.aclose()
        await platform.stop()
    # and the same objects are there for the CLI without a dev (persisted write-through)
    capsys.readouterr()
    assert await asyncio.to_thread(run_cli, "r2", "object", "list", "bucket", "--json") == 0
    assert [o["key"] for o in json.loads(capsys.readouterr().out)] == ["a/b.txt", "many/0", "many/1", "many/2"]


WRANGLER_RULES = {"rules": [{"allowed": {"origins": ["http://localhost:5173"], "methods": ["GET", "PUT"],
                                         "headers": ["content-type"]},
                             "exposeHeaders": ["ETag"], "maxAgeSeconds": 3600}]}


def test_bucket_cors_set_list_delete_without_dev(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "rules.json").write_text(json.dumps(WRANGLER_RULES))
    assert run_cli("r2", "bucket", "cors", "list", "bucket") == 1
    assert "The specified bucket 'bucket' does not exist." in capsys.readouterr().err
    assert run_cli("r2", "bucket", "cors", "set", "bucket", "--file", "rules.json", "-y") == 0
    assert "✨ Set CORS configuration for bucket 'bucket'." in capsys.readouterr().out
    assert run_cli("r2", "bucket", "cors", "list", "bucket") == 0
    out = capsys.readouterr().out
    assert "allowed_origins:  http://localhost:5173" in out and "allowed_methods:  GET, PUT" in out
    assert "exposed_headers:  ETag" in out and "max_age_seconds:  3600" in out
    # The S3 / dashboard shape works too, and replaces the rules.
    (project / "s3.json").write_text(json.dumps([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]))
    assert run_cli("r2", "bucket", "cors", "set", "bucket", "--file", "s3.json") == 0
    capsys.readouterr()
    assert run_cli("r2", "bucket", "cors", "list", "bucket") == 0
    out = capsys.readouterr().out
    assert "allowed_origins:  *" in out and "(no headers)" in out and "(0 seconds)" in out
    assert run_cli("r2", "bucket", "cors", "delete", "bucket", "--force") == 0
    capsys.readouterr()
    assert run_cli("r2", "bucket", "cors", "list", "bucket") == 0
    assert "There is no CORS configuration defined for bucket 'bucket'." in capsys.readouterr().out


def test_bucket_cors_bad_files_change_nothing(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "rules.json").write_text(json.dumps(WRANGLER_RULES))
    assert run_cli("r2", "bucket", "cors", "set", "bucket", "--file", "rules.json") == 0
    for name, text, message in (
            ("bad.json", "{not json", "is not valid JSON"),
            ("verb.json", json.dumps({"rules": [{"allowed": {"origins": ["*"], "methods": ["PATCH"]}}]}),
             "Unsupported method is PATCH"),
            ("shape.json", json.dumps({"allowed": {}}), "expected")):
        (project / name).write_text(text)
        capsys.readouterr()
        assert run_cli("r2", "bucket", "cors", "set", "bucket", "--file", name) == 1
        assert message in capsys.readouterr().err
    assert run_cli("r2", "bucket", "cors", "set", "bucket", "--file", "missing.json") == 1
    capsys.readouterr()
    assert run_cli("r2", "bucket", "cors", "list", "bucket") == 0
    assert "http://localhost:5173" in capsys.readouterr().out


async def test_bucket_cors_through_a_running_dev(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "rules.json").write_text(json.dumps(WRANGLER_RULES))
    platform = Platform([d1_r2_app(project)], project / ".emulator", s3_port=None)
    await platform.start()
    served = serve_internal_api(platform)
    try:
        await served.__anext__()
        assert await asyncio.to_thread(run_cli, "r2", "bucket", "cors", "set", "bucket", "--file", "rules.json") == 0
        store = platform.plugin("r2").store  # type: ignore[attr-defined]  # the plugin's own attribute (plugins are typed BindingPlugin)
        assert store.bucket_cors("bucket")[0]["AllowedOrigins"] == ["http://localhost:5173"]
        capsys.readouterr()
        assert await asyncio.to_thread(run_cli, "r2", "bucket", "cors", "list", "bucket") == 0
        assert "allowed_headers:  content-type" in capsys.readouterr().out
        assert await asyncio.to_thread(run_cli, "r2", "bucket", "cors", "delete", "bucket") == 0
        assert store.bucket_cors("bucket") is None
        assert await asyncio.to_thread(run_cli, "r2", "bucket", "cors", "list", "nope") == 1
        assert 'No bucket named "nope"' in capsys.readouterr().err
    finally:
        await served.aclose()
        await platform.stop()


HTTP_FLAGS = ["--ct", "text/csv", "--cd", 'attachment; filename="a.csv"', "--ce", "gzip", "--cl", "en",
              "--cc", "max-age=60", "--expires", "2030-01-02T03:04:05Z"]
HTTP_METADATA = {"contentType": "text/csv", "contentDisposition": 'attachment; filename="a.csv"',
                 "contentEncoding": "gzip", "contentLanguage": "en", "cacheControl": "max-age=60"}
EXPIRES_MS = 1893553445000  # 2030-01-02T03:04:05Z


async def test_put_takes_wranglers_http_metadata_flags(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "a.csv").write_text("x,y\n")
    assert await asyncio.to_thread(run_cli, "r2", "object", "put", "bucket/offline.csv", "--file", "a.csv",
                                   *HTTP_FLAGS, "--json") == 0
    assert json.loads(capsys.readouterr().out)["key"] == "offline.csv"
    platform = Platform([d1_r2_app(project)], project / ".emulator", s3_port=None)
    await platform.start()
    served = serve_internal_api(platform)
    try:
        await served.__anext__()
        # Through a running dev too; --expires as epoch milliseconds, as wrangler's local mode reads it.
        flags = HTTP_FLAGS[:-1] + [str(EXPIRES_MS)]
        assert await asyncio.to_thread(run_cli, "r2", "object", "put", "bucket/live.csv", "--file", "a.csv",
                                       *flags) == 0
        bucket = platform.env_for(platform.apps[0]).BUCKET
        for key in ("offline.csv", "live.csv"):
            obj = await bucket.head(key)
            meta = dict(obj.httpMetadata)
            expiry = meta.pop("cacheExpiry")
            assert meta == HTTP_METADATA and round(expiry.timestamp() * 1000) == EXPIRES_MS
        # No content type given: none stored (not urllib's form type).
        assert await asyncio.to_thread(run_cli, "r2", "object", "put", "bucket/plain", "--file", "a.csv") == 0
        assert dict((await bucket.head("plain")).httpMetadata) == {}
    finally:
        await served.aclose()
        await platform.stop()
    assert run_cli("r2", "object", "put", "bucket/x", "--file", "a.csv", "--expires", "someday") == 1
    assert '--expires "someday" is not a date' in capsys.readouterr().err


def test_get_without_file_writes_the_key_path(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "in.bin").write_bytes(b"photo")
    assert run_cli("r2", "object", "put", "bucket/photos/2024/cat.jpg", "--file", "in.bin") == 0
    assert run_cli("r2", "object", "get", "bucket/photos/2024/cat.jpg") == 0
    assert (project / "photos" / "2024" / "cat.jpg").read_bytes() == b"photo"
    assert not (project / "cat.jpg").exists()
    err = capsys.readouterr().err
    assert 'Downloading "photos/2024/cat.jpg" from "bucket".' in err and "Download complete." in err
    # A key that would leave the current folder is refused, not written elsewhere.
    assert run_cli("r2", "object", "put", "bucket/../escape", "--file", "in.bin") == 0
    assert run_cli("r2", "object", "get", "bucket/../escape") == 1
    assert "not a safe file path" in capsys.readouterr().err and not (project.parent / "escape").exists()
    # A missing key leaves no partial file behind.
    assert run_cli("r2", "object", "get", "bucket/ghost") == 1
    assert not (project / "ghost").exists() and not (project / "ghost.partial").exists()


def test_unknown_buckets_are_refused_and_reading_creates_nothing(
        project: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]) -> None:
    typo = tmp_path_factory.mktemp("x") / "typo"
    (project / "in.bin").write_bytes(b"1")
    for argv in (["object", "list", "bucket"], ["object", "get", "bucket/k", "--pipe"],
                 ["bucket", "cors", "list", "bucket"], ["object", "list", "nope"]):
        run_cli("r2", *argv, "--persist-to", str(typo))
    assert not typo.exists()
    assert run_cli("r2", "object", "put", "nope/k", "--file", "in.bin", "--persist-to", str(typo)) == 1
    assert 'No bucket named "nope"' in capsys.readouterr().err and not typo.exists()
    assert run_cli("r2", "object", "list", "bucket", "--persist-to", str(typo)) == 0  # declared: empty
    assert 'No objects in bucket "bucket".' in capsys.readouterr().out
    # A declared bucket is created by its first write.
    assert run_cli("r2", "object", "put", "bucket/k", "--file", "in.bin", "--persist-to", str(typo)) == 0
    assert (typo / "r2").is_dir()


def test_object_list_table_on_a_terminal(project: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "in.bin").write_bytes(b"12345")
    assert run_cli("r2", "object", "put", "bucket/a", "--file", "in.bin") == 0
    capsys.readouterr()
    force_terminal(monkeypatch)
    assert run_cli("r2", "object", "list", "bucket") == 0
    header, row = table_rows(capsys.readouterr().out)
    assert header == ["key", "size", "etag", "uploaded"] and row[:2] == ["a", "5"]


def test_uploads_and_downloads_report_progress(project: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from emulator.cli import output

    advanced: list[tuple[str, int]] = []
    monkeypatch.setattr(output.Progress, "advance",
                        lambda self, amount=1: advanced.append((self.description, amount)))
    force_terminal(monkeypatch)
    (project / "big.bin").write_bytes(b"z" * (3 * 1024 * 1024 + 7))
    assert run_cli("r2", "object", "put", "bucket/big", "--file", "big.bin") == 0
    assert run_cli("r2", "object", "get", "bucket/big", "--file", "copy.bin") == 0
    assert (project / "copy.bin").read_bytes() == (project / "big.bin").read_bytes()
    up = [n for d, n in advanced if d == "Uploading big"]
    down = [n for d, n in advanced if d == "Downloading big"]
    assert sum(up) == sum(down) == 3 * 1024 * 1024 + 7 and len(up) == 4
