"""``/_emulator/workflows``: inspection and control of workflow instances over HTTP.

Full paths (the server mounts them in its ``/_emulator`` sub-application)::

    GET  /_emulator/workflows                workflows with instance counts by status
    DELETE .../{name}                           remove every instance of a workflow
    GET  .../{name}/instances[?status=S&limit=N&cursor=C]
                                                instances of one workflow, newest first, in
                                                pages (default 1,000; "cursor" continues)
    POST .../{name}/instances                   create {"id"?, "params"?}
    GET  .../{name}/instances/{id}              one instance with its steps and attempts
    POST .../{name}/instances/{id}/{action}     terminate | pause | resume | restart
    POST .../{name}/instances/{id}/events       send an event {"type", "payload"}

Inputs are read through ``emulator.internal_api``; a workflow nobody defines and that has no
instances is a 404.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Awaitable, Callable

from aiohttp import web

from emulator.bindings.workflows.engine import WorkflowEngine
from emulator.bindings.workflows.errors import WorkflowError
from emulator.bindings.workflows.store import STATUSES, instances_cursor
from emulator.internal_api import json_body, json_error, path_name, query_int

PREFIX = "/_emulator/workflows"
ACTIONS = ("terminate", "pause", "resume", "restart")
PAGE_DEFAULT = 1000
PAGE_MAX = 10_000



def _workflow_error(exc: WorkflowError) -> web.Response:
    message = str(exc)
    status = 404 if "not_found" in message else 409 if "already_exists" in message or "cannot_" in message else 400
    return json_error(status, message)


async def _body(request: web.Request, shape: str) -> dict[str, Any]:
    return await json_body(request, shape, optional=True)


def _not_found(name: str) -> web.Response:
    return json_error(404, f"(workflow.not_found) no workflow named {name!r}")


def build_routes(engine: WorkflowEngine) -> list[web.RouteDef]:
    def known(name: str) -> bool:
        """Defined by a hosted app, or with instances in the store."""
        return name in engine.definitions or any(w["name"] == name for w in engine.list_workflows())

    async def list_workflows(request: web.Request) -> web.Response:
        return web.json_response({"workflows": engine.list_workflows()})

    async def list_instances(request: web.Request) -> web.Response:
        name = path_name(request, "name", "workflow")
        status = request.query.get("status")
        if status and status not in STATUSES:
            return json_error(400, f"unknown status {status!r}; one of: {', '.join(STATUSES)}")
        if not known(name):
            return _not_found(name)
        limit = query_int(request, "limit", PAGE_DEFAULT, 1, PAGE_MAX)
        try:
            # One more than the page, to know whether another follows.
            found = engine.list_instances(name, status, limit + 1, request.query.get("cursor"))
        except ValueError as exc:
            return json_error(400, str(exc))
        body: dict[str, Any] = {"workflow": name, "instances": found[:limit]}
        if len(found) > limit:
            body["cursor"] = instances_cursor(found[limit - 1])
        return web.json_response(body)

    async def create(request: web.Request) -> web.Response:
        name = path_name(request, "name", "workflow")
        body = await _body(request, '{"id"?: "...", "params"?: ...}')
        if not known(name):
            # The engine would queue an instance for any name; a typo must not leave one behind.
            return _not_found(name)
        try:
            instance_id = await engine.create(name, body.get("id"), body.get("params"))
        except WorkflowError as exc:
            return _workflow_error(exc)
        except TypeError as exc:
            return json_error(400, str(exc))
        return web.json_response({"id": instance_id}, status=201)

    async def describe(request: web.Request) -> web.Response:
        found = engine.describe(path_name(request, "name", "workflow"), path_name(request, "id", "instance"))
        if found is None:
            return json_error(404, "(instance.not_found) Instance does not exist")
        return web.json_response(found)

    async def action(request: web.Request) -> web.Response:
        name, instance_id = path_name(request, "name", "workflow"), path_name(request, "id", "instance")
        verb = request.match_info["action"]
        body = await _body(request, '{"type": "...", "payload"?: ...}') if verb == "events" else {}
        ops: dict[str, Callable[[], Awaitable[None]]] = {
            "terminate": lambda: engine.terminate(name, instance_id),
            "pause": lambda: engine.pause(name, instance_id),
            "resume": lambda: engine.resume(name, instance_id),
            "restart": lambda: engine.restart(name, instance_id),
            "events": lambda: engine.send_event(name, instance_id, body.get("type"), body.get("payload")),
        }
        if verb not in ops:
            return json_error(404, f"unknown action {verb!r}; one of: {', '.join(ACTIONS)}, events")
        try:
            await ops[verb]()
        except WorkflowError as exc:
            return _workflow_error(exc)
        except TypeError as exc:
            return json_error(400, str(exc))
        status = await engine.status(name, instance_id)
        return web.json_response({"id": instance_id, "status": status["status"]})

    async def delete_workflow(request: web.Request) -> web.Response:
        name = path_name(request, "name", "workflow")
        if not known(name):
            return _not_found(name)
        removed = await engine.delete_instances(name)
        return web.json_response({"workflow": name, "removed": removed})

    return [
        web.get(PREFIX, list_workflows),
        web.delete(PREFIX + "/{name}", delete_workflow),
        web.get(PREFIX + "/", list_workflows),
        web.get(PREFIX + "/{name}/instances", list_instances),
        web.post(PREFIX + "/{name}/instances", create),
        web.get(PREFIX + "/{name}/instances/{id}", describe),
        web.post(PREFIX + "/{name}/instances/{id}/{action}", action),
    ]
