"""The `workers`, `js` and `pyodide.ffi` stand-ins as app code imports them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from emulator.jsobject import JsObject
from emulator.runtime import shims_path

from .conftest import worker_config, write_files


def test_shims_import_without_emulator_names() -> None:
    from emulator.runtime.loader import ensure_import_hooks

    ensure_import_hooks()
    assert str(shims_path()) in sys.path
    import js
    import workers
    import workers.workflows
    from pyodide.ffi import create_proxy, to_js

    for name in ("WorkerEntrypoint", "WorkflowEntrypoint", "Response", "Request", "fetch", "handler",
                 "FormData", "File", "Blob"):
        assert getattr(workers, name) is not None
    assert workers.workflows.NonRetryableError.__name__ == "NonRetryableError"
    with pytest.raises(RuntimeError, match="only available while app code runs"):
        workers.env
    with pytest.raises(ImportError, match="not available in cf-emulator"):
        workers.import_from_javascript("cloudflare:workers")
    assert js.JSON.stringify({"a": [1, 2]}) == '{"a":[1,2]}'
    parsed = js.JSON.parse('{"a": {"b": 1}}')
    assert parsed.a.b == 1
    obj = js.Object.fromEntries([("x", 1)])
    assert isinstance(obj, JsObject) and obj.x == 1
    converted = to_js({"k": {"n": 2}}, dict_converter=js.Object.fromEntries)
    assert converted.k.n == 2 and converted.to_py() is converted
    marker = object()
    assert create_proxy(marker) is marker

    @workers.handler
    async def f() -> None: ...

    assert f.__name__ == "f"


async def test_copied_cloudflare_code_runs(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {"src/entry.py": """
        from js import Object, JSON, Date
        from pyodide.ffi import to_js
        from workers import WorkerEntrypoint, Response
        from workers.workflows import NonRetryableError

        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                options = to_js({"status": "ok"}, dict_converter=Object.fromEntries)
                return Response(JSON.stringify({"now": Date.now(), "status": options.status,
                                                "err": NonRetryableError.__name__}),
                                headers={"content-type": "application/json"})
    """})
    client = await serve(worker_config(tmp_path))
    data = await (await client.get("/")).json()
    # Date.now() reads the platform clock (a FakeClock at 1000 s here).
    assert data == {"now": 1_000_000, "status": "ok", "err": "NonRetryableError"}
