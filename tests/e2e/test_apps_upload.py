"""fusou-web's upload endpoint end to end: auth, validation, effects, duplicates, queue failures."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.bindings.queues import binding as queue_binding
from fixtures import fragments as fr
from fixtures import jwt as tokens
from tests.helpers.demo_apps import CRON_FIRST_FIRE, PERIOD, Fusou



async def nothing_written(f: Fusou) -> None:
    assert await f.list_keys("datasets/") == []
    assert await f.d1("SELECT key FROM battle_files") == []
    assert await f.d1("SELECT dataset_id FROM pending_compactions") == []
    queues = f.emu.platform.plugin("queues")
    assert queues.is_idle()


async def test_upload_answers_and_effects_in_order(fusou: Fusou) -> None:
    data = fr.fragment("battle", 0, 300)
    status, body = await fusou.upload(data, "battle")
    assert status == 200, body
    assert body["ok"] is True and body["queued"] is True and body["duplicate"] is False
    assert body["rows"] == 300 and body["size"] == len(data)
    assert body["key"].startswith(f"datasets/alice/battle/{PERIOD}/") and body["key"].endswith(
        f"-{body['sha256'][:8]}.parquet")
    obj = await fusou.env().BATTLE_DATA_BUCKET.head(body["key"])
    assert obj.customMetadata["sha256"] == body["sha256"]
    assert obj.customMetadata["rows"] == "300"
    row = (await fusou.d1("SELECT dataset_id, \"table\", period_tag, sha256, rows, uploaded_by FROM battle_files"))[0]
    assert row == {"dataset_id": "alice", "table": "battle", "period_tag": PERIOD, "sha256": body["sha256"],
                   "rows": 300, "uploaded_by": "alice"}
    assert (await fusou.d1("SELECT user_id FROM datasets WHERE id = 'alice'")) == [{"user_id": "alice"}]
    table = await fusou.table_status("battle")
    assert table["fragments"] == 1 and table["pendingFragments"] == 1 and table["compacted"] == []


async def test_bad_tokens_get_401_and_write_nothing(fusou: Fusou) -> None:
    for token in (tokens.expired("alice"), tokens.wrong_signature("alice"), tokens.alg_none("alice"), "x"):
        status, body = await fusou.upload(fr.fragment("battle", 0, 10), "battle", token=token)
        assert status == 401, (token, body)
        assert body["error"].startswith("invalid token")
    await nothing_written(fusou)


async def test_another_users_dataset_is_403(fusou: Fusou) -> None:
    status, _ = await fusou.upload(fr.fragment("battle", 0, 10), "battle", sub="alice")
    assert status == 200
    status, body = await fusou.upload(fr.fragment("battle", 10, 10), "battle", sub="mallory", dataset="alice")
    assert status == 403 and "another user" in body["error"]
    assert len(await fusou.d1("SELECT key FROM battle_files")) == 1
    # Mallory's own dataset is fine.
    status, body = await fusou.upload(fr.fragment("battle", 10, 10), "battle", sub="mallory")
    assert status == 200 and body["key"].startswith("datasets/mallory/")


async def test_undecodable_headers_get_401_or_400_never_500(fusou: Fusou) -> None:
    import asyncio

    host, port = fusou.web.removeprefix("http://").rsplit(":", 1)
    for auth in (b"Bearer \xff\xfe", b"Bearer \xc3", "Bearer é".encode(), b"\x80\x81"):
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"POST /api/battle-data/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                     b"Authorization: " + auth + b"\r\nConnection: close\r\n\r\n")
        await writer.drain()
        answer = await reader.read()
        writer.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 401 "), answer
        assert b"application/json" in head and b'"error"' in body
    # A Content-Length the app cannot read as a number (reaching it through a service
    # binding: aiohttp itself refuses such a header on the wire).
    from emulator.runtime.http import Request

    request = Request(fusou.web + "/api/battle-data/upload", method="POST", body=b"x",
                      headers={"authorization": f"Bearer {tokens.mint('alice')}", "content-length": "\u00b2",
                               "content-type": "multipart/form-data; boundary=b"})
    response = await fusou.emu.hosts["fusou-web"].fetch_service(request)
    assert response.status == 400 and "malformed" in (await response.json())["error"]
    await nothing_written(fusou)


BAD_INPUTS = [
    (fr.NOT_PARQUET, "battle", PERIOD, "file"),
    (fr.truncated(fr.fragment("battle", 0, 200)), "battle", PERIOD, "file"),
    (fr.fragment("battle", 0, 10), "bad/table", PERIOD, "table"),
    (fr.fragment("battle", 0, 10), "battle", "..", "periodTag"),
    (fr.fragment("battle", 0, 10), "battle", "x" * 65, "periodTag"),
]


async def test_bad_input_is_400_naming_the_field_and_writes_nothing(fusou: Fusou) -> None:
    for data, table, period, field in BAD_INPUTS:
        status, body = await fusou.upload(data, table, period=period)
        assert status == 400, body
        assert f'"{field}"' in body["error"]
    await nothing_written(fusou)


async def test_oversized_upload_is_413(fusou: Fusou, monkeypatch: pytest.MonkeyPatch) -> None:
    web = fusou.emu.platform.app("fusou-web")
    monkeypatch.setitem(web.vars, "MAX_UPLOAD_BYTES", "2048")
    fusou.emu.hosts["fusou-web"].reload()  # type: ignore[attr-defined]  # a runtime host; a new generation picks up the changed var
    status, body = await fusou.upload(fr.fragment("battle", 0, 500), "battle")
    assert status == 413 and "limit" in body["error"]
    await nothing_written(fusou)


async def test_same_file_twice_is_accepted_once(fusou: Fusou) -> None:
    data = fr.fragment("cells", 0, 50)
    first = await fusou.upload(data, "cells")
    second = await fusou.upload(data, "cells")
    assert first[0] == second[0] == 200
    assert second[1]["duplicate"] is True and second[1]["queued"] is False
    assert second[1]["key"] == first[1]["key"]
    assert len(await fusou.list_keys("datasets/")) == 1
    assert len(await fusou.d1("SELECT key FROM battle_files")) == 1
    # Another period is another fragment.
    third = await fusou.upload(data, "cells", period="2025-12-21")
    assert third[1]["duplicate"] is False


async def test_queue_send_failure_answers_queued_false_and_a_later_trigger_compacts(
        fusou: Fusou, monkeypatch: pytest.MonkeyPatch) -> None:
    real_send = queue_binding.QueueProducerBinding.send

    async def failing_send(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("Queue send failed: 503 Service Unavailable")

    monkeypatch.setattr(queue_binding.QueueProducerBinding, "send", failing_send)
    status, body = await fusou.upload(fr.fragment("battle", 0, 120), "battle")
    assert status == 200 and body["queued"] is False and body["duplicate"] is False
    await fusou.compact()
    table = await fusou.table_status("battle")
    assert table["pendingFragments"] == 1 and table["compacted"] == []
    pending = await fusou.d1('SELECT needed FROM pending_compactions WHERE dataset_id = ? AND "table" = ?',
                             "alice", "battle")
    assert pending == [{"needed": 1}]

    monkeypatch.setattr(queue_binding.QueueProducerBinding, "send", real_send)
    status, body = await fusou.trigger({"datasetId": "alice"})
    assert status == 200 and body["queued"] is True
    assert body["triggered"] == [{"table": "battle", "periodTag": PERIOD}]
    await fusou.compact()
    table = await fusou.table_status("battle")
    assert table["pendingFragments"] == 0
    assert table["compacted"] == [f"compacted/alice/battle/{PERIOD}/part-0.parquet"]
    assert (await fusou.download("battle")).num_rows == 120


async def test_cron_redrives_a_compaction_whose_send_failed(fusou: Fusou, monkeypatch: pytest.MonkeyPatch) -> None:
    real_send = queue_binding.QueueProducerBinding.send

    async def failing_send(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("Queue send failed")

    monkeypatch.setattr(queue_binding.QueueProducerBinding, "send", failing_send)
    assert (await fusou.upload(fr.fragment("own_ship", 0, 60), "own_ship"))[1]["queued"] is False
    monkeypatch.setattr(queue_binding.QueueProducerBinding, "send", real_send)
    # Nothing happens until the workflow app's cron (every 5 minutes) re-enqueues it.
    await fusou.clock.advance(CRON_FIRST_FIRE - 1)
    await fusou.emu.drain()
    assert (await fusou.table_status("own_ship"))["lastRun"] is None
    await fusou.clock.advance(1)
    await fusou.emu.drain()
    await fusou.compact()
    table = await fusou.table_status("own_ship")
    assert table["pendingFragments"] == 0 and table["lastRun"]["status"] == "success"


async def test_trigger_requires_auth_and_ownership(fusou: Fusou) -> None:
    await fusou.upload(fr.fragment("battle", 0, 10), "battle")
    async with fusou.session.post(f"{fusou.web}/api/compaction/trigger", json={}) as resp:
        assert resp.status == 401
    status, body = await fusou.trigger({"datasetId": "alice"}, sub="mallory")
    assert status == 403
    status, body = await fusou.trigger({"datasetId": "nobody"}, sub="nobody-else")
    assert status == 404, body


async def test_status_and_download_of_unknown_things_are_404(fusou: Fusou) -> None:
    async with fusou.session.get(f"{fusou.web}/api/datasets/ghost") as resp:
        assert resp.status == 404
    async with fusou.session.get(f"{fusou.web}/api/datasets/ghost/compacted/battle/{PERIOD}") as resp:
        assert resp.status == 404 and "error" in await resp.json()


async def test_upload_page_and_cors(fusou: Fusou) -> None:
    async with fusou.session.get(f"{fusou.web}/") as resp:
        assert resp.status == 200
        assert "Battle-data upload" in await resp.text()
    async with fusou.session.options(f"{fusou.web}/api/battle-data/upload") as resp:
        assert resp.status == 204
        assert resp.headers["access-control-allow-origin"] == "*"
        assert "authorization" in resp.headers["access-control-allow-headers"]
    async with fusou.session.get(f"{fusou.web}/api/datasets/ghost") as resp:
        assert resp.headers["access-control-allow-origin"] == "*"
