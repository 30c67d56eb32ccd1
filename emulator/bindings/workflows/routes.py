"""``/_emulator/workflows``: inspection and control of workflow instances over HTTP.

Full paths (the server mounts them in its ``/_emulator`` sub-application)::

    GET  /_emulator/workflows                workflows with instance counts by status
    DELETE .../{name}                           remove every instance of a workflow
    GET  .../{name}/instances[?status=S]        instances of one workflow
    POST .../{name}/instances                   create {"id"?, "params"?}
    GET  .../{name}/instances/{id}              one instance with its steps and attempts
    POST .../{name}/instances/{id}/{action}     terminate | pause | resume | restart
    POST .../{name}/instances/{id}/events       send an event {"type", "payload"}
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from aiohttp import web

from emulator.bindings.workflows.engine import WorkflowEngine
from emulator.bindings.workflows.entrypoint import WorkflowError
from emulator.bindings.workflows.store import STATUSES

PREFIX = "/_emulator/workflows"
ACTIONS = ("terminate", "pause", "resume", "restart")


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _workflow_error(exc: WorkflowError) -> web.Response:
    message = str(exc)
    status = 404 if "not_found" in message else 409 if "already_exists" in message or "cannot_" in message else 400
    return _error(status, message)


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text='{"error": "body must be JSON"}', content_type="application/json")
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text='{"error": "body must be a JSON object"}', content_type="application/json")
    return data


def build_routes(engine: WorkflowEngine) -> list[web.RouteDef]:
    async def list_workflows(request: web.Request) -> web.Response:
        return web.json_response({"workflows": engine.list_workflows()})

    async def list_instances(request: web.Request) -> web.Response:
        status = request.query.get("status")
        if status and status not in STATUSES:
            return _error(400, f"unknown status {status!r}; one of: {', '.join(STATUSES)}")
        return web.json_response({"workflow": request.match_info["name"],
                                  "instances": engine.list_instances(request.match_info["name"], status)})

    async def create(request: web.Request) -> web.Response:
        body = await _body(request)
        try:
            instance_id = await engine.create(request.match_info["name"], body.get("id"), body.get("params"))
        except WorkflowError as exc:
            return _workflow_error(exc)
        except TypeError as exc:
            return _error(400, str(exc))
        return web.json_response({"id": instance_id}, status=201)

    async def describe(request: web.Request) -> web.Response:
        found = engine.describe(request.match_info["name"], request.match_info["id"])
        if found is None:
            return _error(404, "(instance.not_found) Instance does not exist")
        return web.json_response(found)

    async def action(request: web.Request) -> web.Response:
        name, instance_id, verb = (request.match_info[k] for k in ("name", "id", "action"))
        body = await _body(request) if verb == "events" else {}
        ops: dict[str, Callable[[], Awaitable[None]]] = {
            "terminate": lambda: engine.terminate(name, instance_id),
            "pause": lambda: engine.pause(name, instance_id),
            "resume": lambda: engine.resume(name, instance_id),
            "restart": lambda: engine.restart(name, instance_id),
            "events": lambda: engine.send_event(name, instance_id, body.get("type"), body.get("payload")),
        }
        if verb not in ops:
            return _error(404, f"unknown action {verb!r}; one of: {', '.join(ACTIONS)}, events")
        try:
            await ops[verb]()
        except WorkflowError as exc:
            return _workflow_error(exc)
        except TypeError as exc:
            return _error(400, str(exc))
        status = await engine.status(name, instance_id)
        return web.json_response({"id": instance_id, "status": status["status"]})

    async def delete_workflow(request: web.Request) -> web.Response:
        removed = await engine.delete_instances(request.match_info["name"])
        return web.json_response({"workflow": request.match_info["name"], "removed": removed})

    return [
        web.get(PREFIX, list_workflows),
        web.delete(PREFIX + "/{name}", delete_workflow),
        web.get(PREFIX + "/", list_workflows),
        web.get(PREFIX + "/{name}/instances", list_instances),
        web.post(PREFIX + "/{name}/instances", create),
        web.get(PREFIX + "/{name}/instances/{id}", describe),
        web.post(PREFIX + "/{name}/instances/{id}/{action}", action),
    ]
