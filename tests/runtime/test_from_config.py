"""Apps loaded from real wrangler files (emulator.config.check_paths) and hosted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emulator.config import check_paths
from tests.helpers.apps import write_files


async def test_worker_and_pages_from_wrangler_files(tmp_path: Path, serve: Any) -> None:
    write_files(tmp_path / "api", {
        "wrangler.toml": """
            name = "api"
            main = "src/entry.py"
            compatibility_date = "2025-08-14"
            compatibility_flags = ["python_workers"]
            assets = { directory = "./static", binding = "ASSETS", not_found_handling = "404-page" }

            [vars]
            GREETING = "hello"
            TOKEN = "from-vars"
            LIMITS = { max = 3 }
        """,
        ".dev.vars": "TOKEN=from-dev-vars\n",
        "src/entry.py": """
            from workers import WorkerEntrypoint, Response

            class Default(WorkerEntrypoint):
                async def fetch(self, request):
                    if request.url.endswith("/missing-asset"):
                        return await self.env.ASSETS.fetch(request)
                    return Response.json({"greeting": self.env.GREETING, "token": self.env.TOKEN,
                                          "max": self.env.LIMITS["max"]})
        """,
        "static/404.html": "custom not found",
        "static/hello.txt": "static hello",
    })
    write_files(tmp_path / "web", {
        "wrangler.toml": """
            name = "web"
            pages_build_output_dir = "./dist"
            compatibility_date = "2025-08-14"

            [[services]]
            binding = "API"
            service = "api"
        """,
        "functions/api/[[rest]].py": """
            from workers import Response
            async def on_request(context):
                upstream = await context.env.API.fetch("https://api/" + "/".join(context.params.rest))
                return Response(await upstream.text(), headers={"x-via": "pages"})
        """,
        "dist/index.html": "web home",
    })
    report = check_paths([tmp_path / "web", tmp_path / "api"])
    assert report.ok, report
    web, api = report.apps
    client = await serve(web, api)
    resp = await client.get("/api/anything")
    assert resp.headers["x-via"] == "pages"
    assert await resp.text() == '{"greeting": "hello", "token": "from-dev-vars", "max": 3}'
    assert await (await client.get("/")).text() == "web home"
    api_host = client.platform.hosts["api"]
    from emulator.runtime.http import Request

    assert await (await api_host.fetch_service(Request("http://x/hello.txt"))).text() == "static hello"
    missing = await api_host.fetch_service(Request("http://x/missing-asset"))
    assert missing.status == 404 and await missing.text() == "custom not found"
