"""Worker apps end to end: `class Default(WorkerEntrypoint)` behind real HTTP."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from emulator.config.model import AssetsConfig
from emulator.runtime import AppLoadError, create_host
from tests.helpers.apps import ServiceBinding, worker_config, write_files

HELLO = """
from workers import WorkerEntrypoint, Response

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response("hello")
"""


async def test_hello_world_str_body_is_text_plain(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {"src/entry.py": HELLO})
    client = await serve(worker_config(tmp_path))
    resp = await client.get("/")
    assert resp.status == 200
    assert await resp.text() == "hello"
    assert resp.headers["content-type"] == "text/plain;charset=UTF-8"


async def test_request_surface_and_json_response(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {"src/entry.py": """
        from urllib.parse import urlparse
        from workers import WorkerEntrypoint, Response

        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                body = await request.json()
                return Response.json({
                    "method": request.method,
                    "path": urlparse(request.url).path,
                    "query": urlparse(request.url).query,
                    "agent": request.headers.get("X-Test-Header"),
                    "missing": request.headers.get("x-nope"),
                    "body": body,
                    "cf_has_colo": "colo" in request.cf,
                }, status=201, headers={"x-extra": "1"})
    """})
    client = await serve(worker_config(tmp_path))
    resp = await client.post("/items?x=1", json={"n": 2}, headers={"x-test-header": "abc"})
    assert resp.status == 201
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["x-extra"] == "1"
    assert await resp.json() == {"method": "POST", "path": "/items", "query": "x=1", "agent": "abc",
                                 "missing": None, "body": {"n": 2}, "cf_has_colo": True}


async def test_form_data_fields_and_files(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {"src/entry.py": """
        from workers import WorkerEntrypoint, Response

        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                form = await request.form_data()
                upload = form.get("upload")
                data = await upload.bytes()
                return Response.json({"title": form.get("title"), "name": upload.name,
                                      "type": upload.type, "size": upload.size,
                                      "first": data[:4].hex(), "text": (await upload.text())[:0]})
    """})
    client = await serve(worker_config(tmp_path))
    from aiohttp import FormData

    form = FormData()
    form.add_field("title", "héllo")
    payload = bytes(range(256)) * 3
    form.add_field("upload", payload, filename="pic.bin", content_type="application/x-thing")
    resp = await client.post("/", data=form)
    assert resp.status == 200, await resp.text()
    assert await resp.json() == {"title": "héllo", "name": "pic.bin", "type": "application/x-thing",
                                 "size": 768, "first": "00010203", "text": ""}


async def test_relaxed_signatures(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {"src/entry.py": """
        from workers import WorkerEntrypoint, Response

        class Default(WorkerEntrypoint):
            async def fetch(self):
                return Response("no request parameter")
    """})
    client = await serve(worker_config(tmp_path))
    assert await (await client.get("/")).text() == "no request parameter"


async def test_env_vars_secrets_and_global_env(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {"src/entry.py": """
        import workers
        from workers import WorkerEntrypoint, Response

        class Default(WorkerEntrypoint):
            async def fetch(self, request, env, ctx):
                return Response.json({"greeting": self.env.GREETING, "token": env.TOKEN,
                                      "same": workers.env is self.env, "limit": self.env.LIMIT})
    """})
    config = worker_config(tmp_path, vars={"GREETING": "hi", "TOKEN": "from-vars", "LIMIT": 5},
                           secrets={"TOKEN": "from-dev-vars"})
    client = await serve(config)
    assert await (await client.get("/")).json() == {"greeting": "hi", "token": "from-dev-vars",
                                                    "same": True, "limit": 5}


async def test_sibling_imports_are_isolated_between_apps(tmp_path: Path, serve: Any) -> None:
    entry = """
        import utils
        from helpers.names import NAME
        from workers import WorkerEntrypoint, Response

        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                return Response(f"{utils.WHO}/{NAME}")
    """
    for app in ("a", "b"):
        write_files(tmp_path / app, {"src/entry.py": entry, "src/utils.py": f"WHO = '{app}-utils'\n",
                                     "src/helpers/names.py": f"NAME = '{app}-names'\n"})
    config_a = worker_config(tmp_path / "a", name="a")
    config_b = worker_config(tmp_path / "b", name="b")
    client = await serve(config_a, config_b)
    assert await (await client.get("/")).text() == "a-utils/a-names"
    host_b = client.platform.hosts["b"]
    from emulator.runtime.http import Request

    resp = await host_b.fetch_service(Request("http://x/"))
    assert await resp.text() == "b-utils/b-names"
    import sys
    assert "utils" not in sys.modules and "helpers" not in sys.modules


async def test_uncaught_exception_is_500_and_logged(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {"src/entry.py": """
        from workers import WorkerEntrypoint, Response

        def explode():
            raise ValueError("kaboom")

        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                if request.url.endswith("/bad"):
                    explode()
                return Response("fine")
    """})
    client = await serve(worker_config(tmp_path))
    resp = await client.get("/bad")
    assert resp.status == 500
    assert "ValueError: kaboom" in await resp.text()
    errors = client.platform.log.messages("error", "app:worker")
    assert len(errors) == 1
    assert "explode()" in errors[0] and "entry.py" in errors[0] and "emulator/runtime" not in errors[0]
    assert (await client.get("/ok")).status == 200


async def test_non_response_return_is_500(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {"src/entry.py": """
        from workers import WorkerEntrypoint

        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                return {"not": "a response"}
    """})
    client = await serve(worker_config(tmp_path))
    resp = await client.get("/")
    assert resp.status == 500
    assert "must return a workers.Response, got dict" in await resp.text()


async def test_print_output_is_attributed_to_the_app(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {"src/entry.py": """
        import sys
        from js import console
        from workers import WorkerEntrypoint, Response

        print("loading")

        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                print("handling", request.method)
                print("partial", end="")
                print(" line")
                console.log("via console", {"a": 1})
                print("to stderr", file=sys.stderr)
                return Response("ok")
    """})
    client = await serve(worker_config(tmp_path))
    assert (await client.get("/")).status == 200
    assert client.platform.log.messages("info", "app:worker") == [
        "loading", "handling GET", "partial line", 'via console {"a":1}', "to stderr"]


async def test_wait_until_runs_after_the_response(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {"src/entry.py": """
        import asyncio
        import workers
        from workers import WorkerEntrypoint, Response

        DONE = []

        async def later(tag):
            await asyncio.sleep(0.01)
            DONE.append(tag)
            print("background", tag)

        async def broken():
            raise RuntimeError("bg failure")

        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                self.ctx.waitUntil(later("ctx"))
                workers.wait_until(later("module"))
                self.ctx.wait_until(broken())
                return Response(str(len(DONE)))
    """})
    client = await serve(worker_config(tmp_path))
    host = client.app_host
    assert await (await client.get("/")).text() == "0"
    assert not host.is_idle()
    await host.wait_background()
    assert host.is_idle()
    logs = client.platform.log.messages(source="app:worker")
    assert "background ctx" in logs and "background module" in logs
    assert any("bg failure" in m for m in client.platform.log.messages("error", "app:worker"))


async def test_streaming_body_and_redirect(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {"src/entry.py": """
        from workers import WorkerEntrypoint, Response

        async def chunks():
            for i in range(3):
                yield f"chunk{i};".encode()

        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                if request.url.endswith("/go"):
                    return Response.redirect("https://example.com/there", 301)
                return Response(chunks(), headers=[("content-type", "text/x-stream"), ("x-a", "1"), ("x-a", "2")])
    """})
    client = await serve(worker_config(tmp_path))
    resp = await client.get("/")
    assert await resp.text() == "chunk0;chunk1;chunk2;"
    assert resp.headers.getall("x-a") == ["1", "2"]
    go = await client.get("/go", allow_redirects=False)
    assert go.status == 301 and go.headers["location"] == "https://example.com/there"


async def test_outbound_fetch(tmp_path: Path, serve: Any, aiohttp_server: Any) -> None:
    async def upstream(request: web.Request) -> web.Response:
        return web.json_response({"got": await request.text(), "h": request.headers.get("x-h")}, status=202)

    app = web.Application()
    app.router.add_post("/echo", upstream)
    server = await aiohttp_server(app)
    write_files(tmp_path, {"src/entry.py": f"""
        from workers import WorkerEntrypoint, Response, fetch

        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                r = await fetch("http://127.0.0.1:{server.port}/echo", method="POST",
                                headers={{"x-h": "v"}}, body="payload")
                data = await r.json()
                return Response.json({{"status": r.status, **data}})
    """})
    client = await serve(worker_config(tmp_path))
    assert await (await client.get("/")).json() == {"status": 202, "got": "payload", "h": "v"}


async def test_queue_and_scheduled_handlers(tmp_path: Path, make_platform: Any) -> None:
    write_files(tmp_path, {"src/entry.py": """
        from workers import WorkerEntrypoint

        SEEN = []

        class Default(WorkerEntrypoint):
            async def queue(self, batch, env, ctx):
                if batch == "bad":
                    raise RuntimeError("batch failed")
                SEEN.append(("queue", batch, env.MODE))

            async def scheduled(self, controller):
                SEEN.append(("cron", controller.cron, controller.scheduledTime))

        class MyWorkflow:
            pass
    """})
    config = worker_config(tmp_path, vars={"MODE": "test"})
    platform = make_platform(config)
    host = create_host(config, platform)
    host.load()
    await host.queue("batch-1")
    await host.scheduled("*/5 * * * *", 1234)
    module = __import__(host.entrypoint_class("Default").__module__, fromlist=["SEEN"])
    assert module.SEEN == [("queue", "batch-1", "test"), ("cron", "*/5 * * * *", 1234)]
    assert host.entrypoint_class("MyWorkflow").__name__ == "MyWorkflow"
    with pytest.raises(LookupError):
        host.entrypoint_class("Nope")
    with pytest.raises(RuntimeError, match="batch failed"):
        await host.queue("bad")


async def test_missing_queue_handler_fails_the_batch_clearly(tmp_path: Path, make_platform: Any) -> None:
    write_files(tmp_path, {"src/entry.py": HELLO})
    config = worker_config(tmp_path)
    host = create_host(config, make_platform(config))
    host.load()
    with pytest.raises(RuntimeError, match="has no queue handler: define `async def queue"):
        await host.queue(object())
    with pytest.raises(RuntimeError, match="has no scheduled handler"):
        await host.scheduled("* * * * *", 0)


async def test_python_workers_flag_is_required(tmp_path: Path, make_platform: Any) -> None:
    write_files(tmp_path, {"src/entry.py": HELLO})
    config = worker_config(tmp_path, compatibility_flags=())
    host = create_host(config, make_platform(config))
    with pytest.raises(AppLoadError, match="python_workers"):
        host.load()


async def test_module_level_on_fetch_is_rejected(tmp_path: Path, make_platform: Any) -> None:
    write_files(tmp_path, {"src/entry.py": "async def on_fetch(request):\n    pass\n"})
    config = worker_config(tmp_path)
    host = create_host(config, make_platform(config))
    with pytest.raises(AppLoadError, match="class Default"):
        host.load()


async def test_reload_keeps_last_good_version_on_syntax_error(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {"src/entry.py": HELLO.replace("hello", "v1")})
    client = await serve(worker_config(tmp_path))
    host = client.app_host
    assert await (await client.get("/")).text() == "v1"
    write_files(tmp_path, {"src/entry.py": HELLO.replace("hello", "v2")})
    host.reload()
    assert await (await client.get("/")).text() == "v2"
    write_files(tmp_path, {"src/entry.py": "from workers import WorkerEntrypoint\nclass Default(WorkerEntrypoint:\n"})
    with pytest.raises(AppLoadError) as info:
        host.reload()
    assert "SyntaxError" in info.value.traceback_text and "entry.py" in info.value.traceback_text
    assert await (await client.get("/")).text() == "v2"
    write_files(tmp_path, {"src/entry.py": "import does_not_exist_anywhere\n"})
    with pytest.raises(AppLoadError, match="ModuleNotFoundError"):
        host.reload()
    assert await (await client.get("/")).text() == "v2"
    write_files(tmp_path, {"src/entry.py": HELLO.replace("hello", "v3")})
    host.reload()
    assert await (await client.get("/")).text() == "v3"


async def test_watch_paths(tmp_path: Path, make_platform: Any) -> None:
    write_files(tmp_path, {"src/entry.py": HELLO, "wrangler.toml": "", ".dev.vars": "A=1\n",
                           "static/index.html": "x"})
    config = worker_config(tmp_path, assets=AssetsConfig(directory=tmp_path / "static"))
    host = create_host(config, make_platform(config))
    assert set(host.watch_paths()) == {tmp_path / "wrangler.toml", tmp_path / "src", tmp_path / ".dev.vars",
                                       tmp_path / "static"}


SERVICE_TARGET = """
from workers import WorkerEntrypoint, Response

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response(f"backend saw {request.method} {request.url} {await request.text()}")

    async def add(self, a, b):
        return a + b
"""


async def test_service_binding_fetch_and_rpc(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path / "front", {"src/entry.py": """
        from workers import WorkerEntrypoint, Response

        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                if request.url.endswith("/missing"):
                    await self.env.GHOST.fetch("https://ghost/")
                r = await self.env.BACKEND.fetch("https://backend.internal/path", method="POST", body="hey")
                total = await self.env.BACKEND.add(2, 3)
                return Response(f"{await r.text()} | {total}")
    """})
    write_files(tmp_path / "back", {"src/entry.py": SERVICE_TARGET})
    front = worker_config(tmp_path / "front", name="front",
                          services=(ServiceBinding("BACKEND", "back"), ServiceBinding("GHOST", "nobody")))
    back = worker_config(tmp_path / "back", name="back")
    client = await serve(front, back)
    assert await (await client.get("/")).text() == "backend saw POST https://backend.internal/path hey | 5"
    resp = await client.get("/missing")
    assert resp.status == 500
    assert "no hosted app named 'nobody'" in await resp.text()


async def test_workers_assets_served_before_the_worker(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {
        "src/entry.py": """
            from workers import WorkerEntrypoint, Response

            class Default(WorkerEntrypoint):
                async def fetch(self, request):
                    if request.url.endswith("/via-binding"):
                        return await self.env.ASSETS.fetch("http://x/app.js")
                    return Response(f"worker {request.method}")
        """,
        "static/index.html": "<h1>home</h1>",
        "static/app.js": "console.log(1)",
        "static/style.css": "body{}",
        "static/data.json": "{}",
        "static/logo.png": b"\x89PNG",
    })
    config = worker_config(tmp_path, assets=AssetsConfig(directory=tmp_path / "static", binding="ASSETS"))
    client = await serve(config)
    expected = {"/": "text/html; charset=utf-8", "/app.js": "text/javascript; charset=utf-8",
                "/style.css": "text/css; charset=utf-8", "/data.json": "application/json",
                "/logo.png": "image/png"}
    for path, ctype in expected.items():
        resp = await client.get(path)
        assert resp.status == 200 and resp.headers["content-type"] == ctype, path
        assert resp.headers["cache-control"] == "public, max-age=0, must-revalidate"
    assert await (await client.get("/api/thing")).text() == "worker GET"
    # Assets answer GET/HEAD only; other methods reach the Worker.
    assert await (await client.post("/app.js")).text() == "worker POST"
    via = await client.get("/via-binding")
    assert await via.text() == "console.log(1)"
    assert via.headers["content-type"] == "text/javascript; charset=utf-8"


RUN_WORKER_FIRST_APP = {
    "src/entry.py": """
        from workers import WorkerEntrypoint, Response

        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                if request.url.endswith("/gate/ok"):
                    return await self.env.ASSETS.fetch(request)
                return Response("worker")
    """,
    "static/index.html": "home",
    "static/gate/secret.html": "secret",
    "static/gate/ok.html": "ok",
    "static/gate/docs/guide.html": "guide",
}


@pytest.mark.parametrize("run_worker_first, path, status, body", [
    (True, "/", 200, "worker"),                      # even where a file matches
    (True, "/gate/ok", 200, "ok"),              # the Worker may still serve the asset
    (("/gate/*", "!/gate/docs/*"), "/", 200, "home"),  # no pattern: assets first
    (("/gate/*", "!/gate/docs/*"), "/nothing", 200, "worker"),  # ... then the Worker
    (("/gate/*", "!/gate/docs/*"), "/gate/secret", 200, "worker"),
    (("/gate/*", "!/gate/docs/*"), "/gate", 200, "worker"),  # `/gate/*` also matches `/gate`
    (("/gate/*", "!/gate/docs/*"), "/gate/ok", 200, "ok"),
    (("/gate/*", "!/gate/docs/*"), "/gate/docs/guide", 200, "guide"),  # `!` wins: assets
    (("/gate/*", "!/gate/docs/*"), "/gate/docs/missing", 404, ""),  # ... even when nothing matches
    (False, "/gate/secret", 200, "secret"),
])
async def test_run_worker_first(tmp_path: Path, serve: Any, run_worker_first: Any, path: str, status: int,
                                body: str) -> None:
    write_files(tmp_path, RUN_WORKER_FIRST_APP)
    config = worker_config(tmp_path, assets=AssetsConfig(directory=tmp_path / "static", binding="ASSETS",
                                                         run_worker_first=run_worker_first))
    client = await serve(config)
    resp = await client.get(path, allow_redirects=False)
    assert (resp.status, await resp.text()) == (status, body)


@pytest.mark.parametrize("mode, path, status, target", [
    ("auto-trailing-slash", "/about", 200, "about"),
    ("auto-trailing-slash", "/about.html", 307, "/about"),
    ("auto-trailing-slash", "/blog", 307, "/blog/"),
    ("auto-trailing-slash", "/blog/", 200, "blog"),
    ("auto-trailing-slash", "/blog/index.html", 307, "/blog/"),
    ("auto-trailing-slash", "/about/", 307, "/about"),
    ("force-trailing-slash", "/about", 307, "/about/"),
    ("force-trailing-slash", "/about/", 200, "about"),
    ("force-trailing-slash", "/blog", 307, "/blog/"),
    ("drop-trailing-slash", "/blog/", 307, "/blog"),
    ("drop-trailing-slash", "/blog", 200, "blog"),
    ("drop-trailing-slash", "/about.html", 307, "/about"),
    ("none", "/about", 404, None),
    ("none", "/about.html", 200, "about"),
])
async def test_workers_html_handling(tmp_path: Path, serve: Any, mode: str, path: str, status: int,
                                     target: str | None) -> None:
    write_files(tmp_path, {"static/about.html": "about", "static/blog/index.html": "blog",
                           "static/index.html": "home"})
    config = worker_config(tmp_path, main="src/none.py",
                           assets=AssetsConfig(directory=tmp_path / "static", html_handling=mode))
    write_files(tmp_path, {"src/none.py": "x = 1\n"})  # no Default: assets only
    client = await serve(config)
    resp = await client.get(path, allow_redirects=False)
    assert resp.status == status
    if status == 307:
        assert resp.headers["location"] == target
    elif status == 200:
        assert await resp.text() == target


@pytest.mark.parametrize("handling, status, body", [
    ("none", 404, ""), ("404-page", 404, "custom 404"), ("single-page-application", 200, "home")])
async def test_workers_not_found_handling(tmp_path: Path, serve: Any, handling: str, status: int,
                                          body: str) -> None:
    write_files(tmp_path, {"static/index.html": "home", "static/404.html": "custom 404",
                           "src/none.py": "x = 1\n"})
    config = worker_config(tmp_path, main="src/none.py",
                           assets=AssetsConfig(directory=tmp_path / "static", not_found_handling=handling))
    client = await serve(config)
    resp = await client.get("/deep/missing/page")
    assert resp.status == status
    assert await resp.text() == body
    if status == 404:
        assert resp.headers["cache-control"] == "no-store"
    assert (await client.post("/x")).status == 405


async def test_platform_drain_waits_for_wait_until(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {"src/entry.py": """
        import asyncio
        from workers import WorkerEntrypoint, Response

        DONE = []

        async def slow():
            await asyncio.sleep(0.05)
            DONE.append(1)

        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                self.ctx.waitUntil(slow())
                return Response("sent")
    """})
    client = await serve(worker_config(tmp_path))
    assert await (await client.get("/")).text() == "sent"
    assert not client.platform.is_idle()
    await client.platform.drain(timeout=5)
    module = sys.modules[client.app_host.entrypoint_class("Default").__module__]
    assert module.DONE == [1]


async def test_unload_forgets_the_modules(tmp_path: Path, make_platform: Any) -> None:
    write_files(tmp_path, {"src/entry.py": HELLO})
    config = worker_config(tmp_path)
    host = create_host(config, make_platform(config))
    host.load()
    module_name = host.entrypoint_class("Default").__module__
    assert module_name in sys.modules
    host.unload()
    assert module_name not in sys.modules
    with pytest.raises(RuntimeError, match="not loaded"):
        host.entrypoint_class("Default")


async def test_output_of_worker_threads_is_not_turned_into_records(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {"src/entry.py": """
        import asyncio
        from workers import WorkerEntrypoint, Response

        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                print("on the loop")
                await asyncio.to_thread(print, "in a thread")
                return Response("ok")
    """})
    client = await serve(worker_config(tmp_path))
    assert await (await client.get("/")).text() == "ok"
    assert client.platform.log.messages(source="app:worker") == ["on the loop"]


async def test_workers_assets_headers_and_redirects_files(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {
        "src/entry.py": HELLO,
        "static/page.html": "page",
        "static/_headers": "/page\n  X-Custom: yes\n",
        "static/_redirects": "/old /page 301\n",
    })
    config = worker_config(tmp_path, assets=AssetsConfig(directory=tmp_path / "static", binding="ASSETS"))
    client = await serve(config)
    page = await client.get("/page")
    assert await page.text() == "page" and page.headers["x-custom"] == "yes"
    old = await client.get("/old", allow_redirects=False)
    assert old.status == 301 and old.headers["location"] == "/page"
    assert await (await client.get("/_headers")).text() == "hello"  # never served: the Worker answers


LEGACY_WORKER = """
from workers import Response, handler

@handler
async def on_fetch(request, env, ctx):
    return Response(f"legacy {request.method} {env.NAME}")

async def on_scheduled(controller, env, ctx):
    print("cron", controller.cron)
"""


async def test_module_level_handlers_run_before_2025_08_14(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {"src/entry.py": LEGACY_WORKER})
    client = await serve(worker_config(tmp_path, compatibility_date="2025-08-13", vars={"NAME": "n"}))
    assert await (await client.get("/")).text() == "legacy GET n"
    await client.app_host.scheduled("* * * * *", 0)
    assert "cron * * * * *" in client.platform.log.messages(source="app:worker")


@pytest.mark.parametrize("date, flags, allowed", [
    ("2025-08-14", ("python_workers",), False),
    ("2026-01-01", ("python_workers", "disable_python_no_global_handlers"), True),
    ("2024-01-01", ("python_workers", "python_no_global_handlers"), False),
])
async def test_module_level_handlers_follow_python_no_global_handlers(
        tmp_path: Path, make_platform: Any, date: str, flags: tuple[str, ...], allowed: bool) -> None:
    write_files(tmp_path, {"src/entry.py": LEGACY_WORKER})
    config = worker_config(tmp_path, compatibility_date=date, compatibility_flags=flags)
    host = create_host(config, make_platform(config))
    if allowed:
        host.load()
        return
    with pytest.raises(AppLoadError) as info:
        host.load()
    text = str(info.value)
    assert "module-level `on_fetch`" in text and "python_no_global_handlers" in text
    assert "class Default(WorkerEntrypoint)" in text and "disable_python_no_global_handlers" in text


async def test_legacy_mode_calls_default_on_fetch(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {"src/entry.py": """
        from workers import WorkerEntrypoint, Response

        class Default(WorkerEntrypoint):
            async def on_fetch(self, request):
                return Response("on_fetch")

            async def fetch(self, request):
                return Response("fetch")
    """})
    legacy = await serve(worker_config(tmp_path, compatibility_date="2025-01-01"))
    assert await (await legacy.get("/")).text() == "on_fetch"  # what workerd calls in legacy mode


async def test_returned_websocket_is_bridged_to_the_connection(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {"src/entry.py": """
        from js import WebSocketPair
        from workers import WorkerEntrypoint, Response

        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                if request.headers.get("upgrade") != "websocket":
                    client, server = WebSocketPair.new().object_values()
                    return Response(None, status=101, web_socket=client)
                client, server = WebSocketPair.new().object_values()
                server.accept()
                server.send("welcome")  # before the response goes out

                async def on_message(event):
                    server.send("got " + event.data)
                    if event.data == "close":
                        server.close(4000, "done")

                server.addEventListener("message", on_message)
                return Response(None, status=101, web_socket=client)
    """})
    client = await serve(worker_config(tmp_path))
    ws = await client.ws_connect("/")
    assert (await ws.receive()).data == "welcome"
    await ws.send_str("hi")
    assert (await ws.receive()).data == "got hi"
    await ws.send_str("close")
    assert (await ws.receive()).data == "got close"
    await ws.receive()
    assert ws.close_code == 4000
    refused = await client.get("/")  # a 101 for a request that did not ask for a WebSocket
    assert refused.status == 500 and 'which did not contain the header "Upgrade: websocket"' in await refused.text()


NAME_IMPORTING_APP = """
import importlib
import cfe_common
from workers import WorkerEntrypoint, Response

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        # As Django does with its settings: a library importing the app's module by name.
        settings = importlib.import_module("cfe_{app}_settings")
        return Response(f"{{cfe_common.WHO}} {{settings.LEVEL}} {{settings.__name__}}")
"""


async def test_apps_sharing_module_names_both_serve_and_the_shared_names_are_warned_about(
        tmp_path: Path, make_platform: Any) -> None:
    from emulator.runtime.http import Request

    for app in ("alpha", "beta"):
        write_files(tmp_path / app, {"src/entry.py": NAME_IMPORTING_APP.format(app=app),
                                     "src/cfe_common.py": f"WHO = '{app}'\n",
                                     f"src/cfe_{app}_settings.py": "LEVEL = 1\n"})
    configs = [worker_config(tmp_path / app, name=app) for app in ("alpha", "beta")]
    platform = make_platform(*configs)
    hosts = {config.name: create_host(config, platform) for config in configs}
    try:
        for host in hosts.values():
            host.load()
            platform.attach_host(host)

        async def text(app: str) -> str:
            return str(await (await hosts[app].fetch_service(Request("http://x/"))).text())

        assert await text("alpha") == "alpha 1 cfe_alpha_settings"
        assert await text("beta") == "beta 1 cfe_beta_settings"
        warnings = {r.source: r.message for r in platform.log.recent if r.level == "warn"}
        assert list(warnings) == ["app:alpha", "app:beta"]
        # `entry` is shared too, but only the host imports it (by path): not worth a word.
        assert warnings["app:alpha"].startswith("top-level modules imported under a private name: `cfe_common` "
                                                '(also in "beta"). The app\'s own imports find them; libraries '
                                                "that import them by name")
        assert '`cfe_common` (also in "alpha"). ' in warnings["app:beta"]
        # A reload with the same shared names stays quiet; the name-imported module is the new one.
        write_files(tmp_path / "alpha", {"src/cfe_alpha_settings.py": "LEVEL = 2\n"})
        hosts["alpha"].reload()
        assert await text("alpha") == "alpha 2 cfe_alpha_settings"
        assert len([r for r in platform.log.recent if r.level == "warn"]) == 2
    finally:
        for host in hosts.values():
            host.unload()
    assert "cfe_alpha_settings" not in sys.modules and "cfe_beta_settings" not in sys.modules


async def test_a_failed_reload_keeps_the_name_imported_modules_of_the_last_good_version(
        tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {"src/entry.py": NAME_IMPORTING_APP.format(app="solo"),
                           "src/cfe_common.py": "WHO = 'solo'\n", "src/cfe_solo_settings.py": "LEVEL = 1\n"})
    client = await serve(worker_config(tmp_path, name="solo"))
    host = client.app_host
    try:
        assert await (await client.get("/")).text() == "solo 1 cfe_solo_settings"
        write_files(tmp_path, {"src/cfe_solo_settings.py": "LEVEL = 2\n",
                               "src/entry.py": "import cfe_solo_settings\nraise RuntimeError('half-done edit')\n"})
        with pytest.raises(AppLoadError, match="half-done edit"):
            host.reload()
        assert await (await client.get("/")).text() == "solo 1 cfe_solo_settings"
        assert not [r for r in client.platform.log.recent if r.level == "warn"]  # a lone app: every name plain
    finally:
        host.unload()
