"""The queues inspection API under ``/_emulator/queues`` (the CLI and the dashboard use it).

::

    GET    /_emulator/queues                               every queue with its counts
    GET    /_emulator/queues/{queue}                       one queue
    GET    /_emulator/queues/{queue}/messages?limit=50     peek (nothing is consumed)
    POST   /_emulator/queues/{queue}/messages              send {"body", "contentType", "delaySeconds"}
                                                           or {"messages": [...], "delaySeconds"}
    POST   /_emulator/queues/{queue}/purge                 delete every message (also DELETE .../messages)
    POST   /_emulator/queues/{queue}/pause-delivery        stop dispatching (messages accumulate; persisted)
    POST   /_emulator/queues/{queue}/resume-delivery       dispatch again, in order
    POST   /_emulator/queues/{dlq}/messages/{id}/redrive[?to=queue]
                                                           move a dead-lettered message back
    POST   /_emulator/queues/{dlq}/redrive[?to=queue]      move every message of a dead-letter
                                                           queue back, in one transaction

Queue names may hold any character (``my/ Queue``): percent-encode them in the path.
``bytes`` bodies travel as base64 strings. Errors are ``{"error", "status", "message"}``;
inputs are read through ``emulator.internal_api`` (a peek takes at most ``MAX_PEEK``).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aiohttp import web

from emulator.bindings.queues.engine import QueueBroker
from emulator.bindings.queues.errors import QueueNotFound, QueueSendError
from emulator.bindings.queues.serialize import normalize_content_type
from emulator.internal_api import json_body, json_error, path_name, query_int

PREFIX = "/_emulator/queues"
# The most messages one peek returns: they are all read and rendered in one answer.
MAX_PEEK = 10_000


def _json(value: Any, status: int = 200) -> web.Response:
    return web.json_response(value, status=status, dumps=lambda v: json.dumps(v, default=str))


def _decode_request(item: Any) -> tuple[Any, str, int | None]:
    if not isinstance(item, dict) or "body" not in item:
        raise ValueError('each message needs a "body"')
    content_type = normalize_content_type(item.get("contentType"))
    body = item["body"]
    if content_type == "bytes":
        if not isinstance(body, str):
            raise ValueError('a "bytes" body must be a base64 string')
        try:
            body = base64.b64decode(body, validate=True)
        except binascii.Error:
            raise ValueError('a "bytes" body must be a base64 string') from None
    delay = item.get("delaySeconds")
    return body, content_type, delay


def routes(broker: QueueBroker) -> list[web.RouteDef]:
    def queue_name(request: web.Request, key: str = "queue") -> str:
        return path_name(request, key, "queue")

    async def list_queues(request: web.Request) -> web.Response:
        return _json({"queues": broker.list_stats()})

    async def get_queue(request: web.Request) -> web.Response:
        try:
            return _json(broker.stats(queue_name(request)))
        except QueueNotFound as exc:
            return json_error(404, str(exc))

    async def peek(request: web.Request) -> web.Response:
        name = queue_name(request)
        limit = query_int(request, "limit", 50, 0, MAX_PEEK)
        try:
            return _json({"queue": name, "messages": broker.peek(name, limit)})
        except QueueNotFound as exc:
            return json_error(404, str(exc))

    async def send(request: web.Request) -> web.Response:
        name = queue_name(request)
        payload = await json_body(request, 'send {"body": ...} or {"messages": [...]}')
        try:
            if "messages" in payload:
                items = payload["messages"]
                if not isinstance(items, list) or not items:
                    raise ValueError('"messages" must be a non-empty list')
                requests = [_decode_request(item) for item in items]
                operation, batch_delay = "sendBatch", payload.get("delaySeconds")
            else:
                requests = [_decode_request(payload)]
                operation, batch_delay = "send", None
            metrics, records = await broker.enqueue(name, requests, broker.delivery_delay(name), operation,
                                                    batch_delay)
        except (QueueSendError, TypeError, ValueError) as exc:
            return json_error(400, str(exc))
        return _json({"queue": name, "ids": [r.id for r in records], **metrics})

    async def purge(request: web.Request) -> web.Response:
        name = queue_name(request)
        try:
            return _json({"queue": name, "purged": broker.purge(name)})
        except QueueNotFound as exc:
            return json_error(404, str(exc))

    def delivery(paused: bool) -> Any:
        async def handler(request: web.Request) -> web.Response:
            name = queue_name(request)
            try:
                await broker.set_paused(name, paused)
            except QueueNotFound as exc:
                return json_error(404, str(exc))
            return _json({"queue": name, "delivery_paused": paused})
        return handler

    async def redrive(request: web.Request) -> web.Response:
        dlq = queue_name(request)
        message_id = request.match_info["id"]
        try:
            target = broker.redrive(dlq, message_id, request.query.get("to") or None)
        except QueueNotFound as exc:
            return json_error(404, str(exc))
        except ValueError as exc:
            return json_error(409, str(exc))
        return _json({"id": message_id, "from": dlq, "to": target})

    async def redrive_all(request: web.Request) -> web.Response:
        dlq = queue_name(request)
        try:
            result = broker.redrive_all(dlq, request.query.get("to") or None)
        except QueueNotFound as exc:
            return json_error(404, str(exc))
        except ValueError as exc:
            return json_error(409, str(exc))
        await broker.flush()  # answer once the moves are on disk
        return _json(result)

    return [
        web.get(PREFIX, list_queues),
        web.get(PREFIX + "/{queue}", get_queue),
        web.get(PREFIX + "/{queue}/messages", peek),
        web.post(PREFIX + "/{queue}/messages", send),
        web.delete(PREFIX + "/{queue}/messages", purge),
        web.post(PREFIX + "/{queue}/purge", purge),
        web.post(PREFIX + "/{queue}/pause-delivery", delivery(True)),
        web.post(PREFIX + "/{queue}/resume-delivery", delivery(False)),
        web.post(PREFIX + "/{queue}/messages/{id}/redrive", redrive),
        web.post(PREFIX + "/{queue}/redrive", redrive_all),
    ]
