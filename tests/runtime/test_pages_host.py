"""Pages projects end to end: Functions routing, middleware, context, advanced mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from emulator.runtime import AppLoadError, create_host
from tests.helpers.apps import pages_config, write_files

ROUTES = {
    "functions/index.py": """
        from workers import Response
        async def on_request(context):
            return Response("root")
    """,
    "functions/api/index.py": """
        from workers import Response
        async def on_request_get(context):
            return Response("api index")
    """,
    "functions/api/[id].py": """
        from workers import Response
        async def on_request_get(context):
            return Response.json({"id": context.params.id, "path": context.function_path})
        async def on_request_post(context):
            body = await context.request.json()
            return Response.json({"posted": body, "id": context.params["id"]})
    """,
    "functions/api/special.py": """
        from workers import Response
        async def on_request(context):
            return Response("special beats [id]")
    """,
    "functions/files/[[path]].py": """
        from workers import Response
        async def on_request(context):
            return Response.json({"path": context.params.path, "fp": context.functionPath})
    """,
    "functions/users/[user]/posts/[post].py": """
        from workers import Response
        def on_request_get(context):
            return Response(f"{context.params.user}:{context.params.post}")
    """,
    "public/index.html": "<h1>static home</h1>",
    "public/plain.txt": "static text",
}


async def test_file_based_routing(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, ROUTES)
    client = await serve(pages_config(tmp_path))
    assert client.app_host.mode == "functions"
    assert await (await client.get("/")).text() == "root"
    assert await (await client.get("/api")).text() == "api index"
    assert await (await client.get("/api/")).text() == "api index"
    assert await (await client.get("/api/42")).json() == {"id": "42", "path": "/api/:id"}
    assert await (await client.get("/API/4%202")).json() == {"id": "4 2", "path": "/api/:id"}
    assert await (await client.post("/api/7", json={"a": 1})).json() == {"posted": {"a": 1}, "id": "7"}
    assert await (await client.get("/api/special")).text() == "special beats [id]"
    assert await (await client.get("/files/a/b/c.txt")).json() == {"path": ["a", "b", "c.txt"],
                                                                   "fp": "/files/:path*"}
    assert await (await client.get("/files")).json() == {"path": [], "fp": "/files/:path*"}
    assert await (await client.get("/users/ann/posts/9")).text() == "ann:9"
    # No route matches: the chain ends in the static assets.
    assert await (await client.get("/plain.txt")).text() == "static text"
    # Method-specific handler only: DELETE /api/42 falls through to assets (405 there).
    assert (await client.delete("/api/42")).status == 405
    # Two segments are not one `[id]`.
    assert (await client.get("/api/1/2")).status == 200  # SPA fallback to index.html
    assert await (await client.get("/api/1/2")).text() == "<h1>static home</h1>"


async def test_middleware_chain_data_and_next(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {
        "functions/_middleware.py": """
            from workers import Response
            async def outer(context):
                context.data["trail"] = ["root"]
                response = await context.next()
                response.headers.set("x-outer", "1")
                return response
            on_request = [outer]
        """,
        "functions/api/_middleware.py": """
            from workers import Response
            async def auth(context):
                if context.request.headers.get("authorization") != "Bearer ok":
                    return Response("denied", status=401)
                context.data["trail"].append("api-auth")
                return await context.next()
            async def second(context):
                context.data["trail"].append("api-second")
                return await context.next()
            on_request = [auth, second]
        """,
        "functions/api/hello.py": """
            from workers import Response
            async def on_request(context):
                return Response.json(context.data["trail"] + [context.function_path])
        """,
        "functions/rewrite.py": """
            async def on_request(context):
                return await context.next("/target.txt")
        """,
        "functions/passthrough.py": """
            async def on_request(context):
                return await context.next()
        """,
        "public/target.txt": "target asset",
        "public/passthrough.html": "static passthrough page",
    })
    client = await serve(pages_config(tmp_path))
    denied = await client.get("/api/hello")
    assert denied.status == 401 and denied.headers["x-outer"] == "1"
    ok = await client.get("/api/hello", headers={"Authorization": "Bearer ok"})
    assert await ok.json() == ["root", "api-auth", "api-second", "/api/hello"]
    assert ok.headers["x-outer"] == "1"
    assert await (await client.get("/rewrite")).text() == "target asset"
    assert await (await client.get("/passthrough")).text() == "static passthrough page"
    # Middleware also runs for requests that end up as assets.
    assert (await client.get("/target.txt")).headers["x-outer"] == "1"


async def test_context_errors_pass_through_and_wait_until(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {
        "functions/not_response.py": """
            async def on_request(context):
                return "a string"
        """,
        "functions/bad_data.py": """
            from workers import Response
            async def on_request(context):
                context.data = 5
                return Response("unreachable")
        """,
        "functions/fallback.py": """
            async def on_request(context):
                context.pass_through_on_exception()
                raise RuntimeError("origin would answer")
        """,
        "functions/crash.py": """
            async def on_request(context):
                raise KeyError("nope")
        """,
        "functions/bg.py": """
            from workers import Response
            RESULTS = []
            async def work():
                RESULTS.append(1)
                print("background done")
            async def on_request(context):
                context.wait_until(work())
                context.waitUntil(work())
                return Response(f"env ok {context.env.MODE}")
        """,
        "public/fallback.html": "served by assets",
    })
    client = await serve(pages_config(tmp_path, vars={"MODE": "dev"}))
    resp = await client.get("/not_response")
    assert resp.status == 500
    assert "Your Pages function should return a Response" in await resp.text()
    assert any("Your Pages function should return a Response" in m
               for m in client.platform.log.messages("error", "app:web"))
    resp = await client.get("/bad_data")
    assert resp.status == 500 and "context.data must be an object" in await resp.text()
    assert await (await client.get("/fallback")).text() == "served by assets"
    assert (await client.get("/crash")).status == 500
    assert await (await client.get("/bg")).text() == "env ok dev"
    await client.app_host.wait_background()
    assert client.platform.log.messages("info", "app:web").count("background done") == 2


async def test_routes_json_sends_excluded_paths_to_assets(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {
        "functions/[[all]].py": """
            from workers import Response
            async def on_request(context):
                return Response("function")
        """,
        "public/_routes.json": '{"version": 1, "include": ["/api/*", "/exact"], "exclude": ["/api/static/*"]}',
        "public/index.html": "home",
        "public/api/static/file.txt": "static under api",
    })
    client = await serve(pages_config(tmp_path))
    assert await (await client.get("/api/x")).text() == "function"
    assert await (await client.get("/api")).text() == "function"
    assert await (await client.get("/exact")).text() == "function"
    assert await (await client.get("/exact/")).text() == "function"
    assert await (await client.get("/api/static/file.txt")).text() == "static under api"
    assert await (await client.get("/other")).text() == "home"
    assert (await client.get("/_routes.json")).status == 200  # SPA fallback, not the file
    assert await (await client.get("/_routes.json")).text() == "home"


async def test_invalid_routes_json_refuses_to_load(tmp_path: Path, make_platform: Any) -> None:
    write_files(tmp_path, {"functions/index.py": "async def on_request(c):\n    pass\n",
                           "public/_routes.json": '{"version": 1, "include": [], "exclude": []}'})
    config = pages_config(tmp_path)
    host = create_host(config, make_platform(config))
    with pytest.raises(AppLoadError, match=r"(?s)Could not validate _routes\.json at .*Routes must have at least 1"):
        host.load()


async def test_invalid_param_name(tmp_path: Path, make_platform: Any) -> None:
    write_files(tmp_path, {"functions/[bad-name].py": "async def on_request(c):\n    pass\n", "public/x": ""})
    config = pages_config(tmp_path)
    host = create_host(config, make_platform(config))
    with pytest.raises(AppLoadError, match='Invalid Pages function route parameter - "\\[bad-name\\]"'):
        host.load()


async def test_functions_of_two_projects_are_isolated(tmp_path: Path, serve: Any) -> None:
    for name in ("one", "two"):
        write_files(tmp_path / name, {
            "functions/api/index.py": """
                from workers import Response
                from .shared import WHO
                import toplevel
                async def on_request(context):
                    return Response(WHO + "+" + toplevel.NAME)
            """,
            "functions/api/shared.py": f"WHO = '{name}'\n",
            "functions/toplevel.py": f"NAME = '{name}-top'\n",
            "public/index.html": "",
        })
    one = pages_config(tmp_path / "one", name="one")
    two = pages_config(tmp_path / "two", name="two")
    client = await serve(one, two)
    assert await (await client.get("/api")).text() == "one+one-top"
    from emulator.runtime.http import Request

    resp = await client.platform.hosts["two"].fetch_service(Request("http://h/api"))
    assert await resp.text() == "two+two-top"


async def test_shared_helper_packages_are_warned_about_shared_routes_are_not(tmp_path: Path, serve: Any) -> None:
    for name in ("one", "two"):
        write_files(tmp_path / name, {
            "functions/_middleware.py": "async def on_request(context):\n    return await context.next()\n",
            "functions/index.py": "from workers import Response\nfrom _lib import WHO\n"
                                  "async def on_request(context):\n    return Response(WHO)\n",
            "functions/_lib/__init__.py": f"WHO = '{name}'\n",
            "public/404.html": "",
        })
    client = await serve(pages_config(tmp_path / "one", name="one"), pages_config(tmp_path / "two", name="two"))
    assert await (await client.get("/")).text() == "one"
    from emulator.runtime.http import Request

    assert await (await client.platform.hosts["two"].fetch_service(Request("http://h/"))).text() == "two"
    # `_middleware` and `index` are shared too, but only routing imports them (by path).
    warnings = {r.source: r.message for r in client.platform.log.recent if r.level == "warn"}
    assert warnings["app:one"].startswith('top-level modules imported under a private name: `_lib` (also in "two").')
    assert warnings["app:two"].startswith('top-level modules imported under a private name: `_lib` (also in "one").')


async def test_file_and_folder_of_the_same_name(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {
        "functions/api.py": "from workers import Response\nasync def on_request(c):\n    return Response('file')\n",
        "functions/api/[id].py": "from workers import Response\nasync def on_request(c):\n"
                                 "    return Response('folder ' + c.params.id)\n",
        "public/index.html": "",
    })
    client = await serve(pages_config(tmp_path))
    assert await (await client.get("/api")).text() == "file"
    assert await (await client.get("/api/3")).text() == "folder 3"


async def test_advanced_mode_worker(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {
        "public/_worker.py": """
            from urllib.parse import urlparse
            from workers import WorkerEntrypoint, Response

            class Default(WorkerEntrypoint):
                async def fetch(self, request):
                    if urlparse(request.url).path.startswith("/api/"):
                        return Response.json({"api": True})
                    return await self.env.ASSETS.fetch(request)
        """,
        "public/index.html": "advanced home",
        "public/about.html": "about",
        "functions/index.py": "raise RuntimeError('functions are ignored in advanced mode')\n",
    })
    client = await serve(pages_config(tmp_path))
    assert client.app_host.mode == "advanced"
    assert await (await client.get("/api/x")).json() == {"api": True}
    assert await (await client.get("/")).text() == "advanced home"
    assert await (await client.get("/about")).text() == "about"
    resp = await client.get("/_worker.py")
    assert "WorkerEntrypoint" not in await resp.text()


async def test_static_only_project_and_reload(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {"public/index.html": "v1"})
    client = await serve(pages_config(tmp_path))
    host = client.app_host
    assert host.mode == "static"
    write_files(tmp_path, {"functions/index.py": "from workers import Response\n"
                                                 "async def on_request(c):\n    return Response('fn')\n"})
    host.reload()
    assert host.mode == "functions"
    assert await (await client.get("/")).text() == "fn"
    write_files(tmp_path, {"functions/index.py": "def broken(:\n"})
    with pytest.raises(AppLoadError):
        host.reload()
    assert await (await client.get("/")).text() == "fn"
    assert set(host.watch_paths()) == {tmp_path / "functions", tmp_path / "public"}


async def test_bad_routes_json_edit_falls_back_to_default_routes(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {
        "functions/api/index.py": "from workers import Response\nasync def on_request(c):\n    return Response('fn')\n",
        "public/_routes.json": '{"version": 1, "include": ["/other"], "exclude": []}',
        "public/index.html": "home",
    })
    client = await serve(pages_config(tmp_path))
    assert await (await client.get("/api")).text() == "home"  # not included: assets
    write_files(tmp_path, {"public/_routes.json": "{not json"})
    client.app_host.reload()
    assert await (await client.get("/api")).text() == "fn"  # default include ["/*"]
    warnings = client.platform.log.messages("warn", "app:web")
    assert any(w.startswith("Ignoring provided _routes.json file, and falling back") for w in warnings)
    assert any("Invalid _routes.json file found at" in e for e in client.platform.log.messages("error", "app:web"))


async def test_function_reads_assets_through_env(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {
        "functions/wrapped.py": """
            from workers import Response
            async def on_request_get(context):
                asset = await context.env.ASSETS.fetch("/inner.txt")
                return Response("[" + await asset.text() + "]", headers={"x-status": str(asset.status)})
        """,
        "public/inner.txt": "inner",
    })
    client = await serve(pages_config(tmp_path))
    resp = await client.get("/wrapped")
    assert await resp.text() == "[inner]" and resp.headers["x-status"] == "200"


async def test_cached_route_matches_give_each_request_its_own_params(tmp_path: Path, serve: Any) -> None:
    # Matching is cached per (method, path); a handler that changes `context.params` must
    # not change what the next request to the same path sees.
    write_files(tmp_path, {
        "public/index.html": "<h1>home</h1>",
        "functions/_middleware.py": """
            async def on_request(context):
                context.params["seen_by_middleware"] = True
                return await context.next()
        """,
        "functions/files/[[path]].py": """
            from workers import Response

            async def on_request(context):
                before = {"path": list(context.params["path"]), "keys": sorted(context.params)}
                context.params["path"].append("mutated")
                context.params["extra"] = 1
                return Response.json(before)
        """,
    })
    client = await serve(pages_config(tmp_path))
    for _ in range(3):
        got = await (await client.get("/files/a/b?x=1")).json()
        assert got == {"path": ["a", "b"], "keys": ["path"]}
    assert await (await client.get("/files/c")).json() == {"path": ["c"], "keys": ["path"]}
    # Another method on the same path is matched (and cached) on its own.
    assert await (await client.post("/files/a/b")).json() == {"path": ["a", "b"], "keys": ["path"]}


async def test_context_data_starts_empty_and_is_one_object_per_request(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {
        "public/index.html": "<h1>home</h1>",
        "functions/data.py": """
            from workers import Response

            async def on_request(context):
                before = dict(context.data)
                context.data.note = "x"
                return Response.json({"before": before, "same": context.data is context["data"],
                                      "note": context.data["note"],
                                      "type": type(context.data).__name__})
        """,
    })
    client = await serve(pages_config(tmp_path))
    for _ in range(2):  # a new `data` for every request
        got = await (await client.get("/data")).json()
        assert got == {"before": {}, "same": True, "note": "x", "type": "JsObject"}


async def test_handlers_of_one_route_share_its_params_and_other_routes_do_not(
        tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {
        "public/index.html": "<h1>home</h1>",
        "functions/_middleware.py": """
            async def on_request(context):
                context.params["from_middleware"] = True  # the middleware's own params
                return await context.next()
        """,
        "functions/items/[id].py": """
            from workers import Response

            async def first(context):
                context.params["seen_by_first"] = context.params.id
                return await context.next()

            async def second(context):
                shared = dict(context.params)
                context.params = None
                cleared = context.params
                context.params = {"replaced": True}  # only this context's view changes
                return Response.json({"shared": shared, "own": context["params"], "cleared": cleared})

            on_request = [first, second]
        """,
    })
    client = await serve(pages_config(tmp_path))
    for _ in range(2):
        got = await (await client.get("/items/7")).json()
        assert got == {"shared": {"id": "7", "seen_by_first": "7"}, "own": {"replaced": True}, "cleared": None}


async def test_handlers_get_context_only_if_they_declare_it(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path, {
        "public/index.html": "<h1>home</h1>",
        "functions/bare.py": """
            from workers import Response

            def on_request():
                return Response("no context needed")
        """,
        "functions/star.py": """
            from workers import Response

            async def on_request(*args):
                return Response(type(args[0]).__name__ + " " + str(len(args)))
        """,
    })
    client = await serve(pages_config(tmp_path))
    for _ in range(2):  # the second request takes the cached chain
        assert await (await client.get("/bare")).text() == "no context needed"
        assert await (await client.get("/star")).text() == "EventContext 1"
