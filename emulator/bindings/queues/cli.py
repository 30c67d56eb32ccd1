"""`cf-emulator queues list|peek|send|purge|redrive`: inspect and drive local queues.

    cf-emulator queues list [--json]
    cf-emulator queues peek NAME [--limit N] [--json]
    cf-emulator queues send NAME BODY [--content-type json|text|bytes|v8] [--delay SECONDS]
    cf-emulator queues purge NAME
    cf-emulator queues redrive DLQ MESSAGE_ID [--to QUEUE]

With a ``dev`` running on the state directory the verbs call its internal API
(``/_emulator/queues``), so its consumers see a sent message at once and a purge also
covers in-flight batches. Otherwise they open ``<state>/queues/queues.sqlite3`` directly;
whatever they send is delivered when ``dev`` next starts.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import urllib.parse
from typing import Any, Awaitable, Callable

from emulator.cli._common import (
    ServerError,
    add_state_arguments,
    call_server,
    print_json,
    print_table,
    resolve_state_dir,
    running_server,
)

LIST_COLUMNS = ["name", "depth", "visible", "in_flight", "delayed", "dead_letter_count",
                "acked", "retried", "dropped", "dlq"]


def register(subparsers: Any) -> None:
    queues = subparsers.add_parser("queues", help="local queues: list, peek, send, purge, redrive")
    sub = queues.add_subparsers(dest="queues_command", metavar="COMMAND")
    queues.set_defaults(func=lambda args: (queues.print_help(), 2)[1])

    lst = sub.add_parser("list", help="every queue with its depth, in-flight, delayed and totals")
    lst.add_argument("--json", action="store_true", help="print JSON")
    add_state_arguments(lst)
    lst.set_defaults(func=run_list)

    peek = sub.add_parser("peek", help="show messages of a queue without consuming them")
    peek.add_argument("name", metavar="NAME")
    peek.add_argument("--limit", type=int, default=20, help="at most this many messages (default 20)")
    peek.add_argument("--json", action="store_true", help="print JSON")
    add_state_arguments(peek)
    peek.set_defaults(func=run_peek)

    send = sub.add_parser("send", help="send one message to a queue")
    send.add_argument("name", metavar="NAME")
    send.add_argument("body", metavar="BODY",
                      help="the message: JSON for json/v8 (default json), text for text, "
                           "raw bytes for bytes; '-' reads stdin")
    send.add_argument("--content-type", default="json", choices=["json", "text", "bytes", "v8"],
                      help="message content type (default json)")
    send.add_argument("--delay", type=int, default=None, metavar="SECONDS",
                      help="delivery delay, 0-43200 (default: the queue's delivery delay)")
    add_state_arguments(send)
    send.set_defaults(func=run_send)

    purge = sub.add_parser("purge", help="delete every message of a queue")
    purge.add_argument("name", metavar="NAME")
    add_state_arguments(purge)
    purge.set_defaults(func=run_purge)

    redrive = sub.add_parser("redrive", help="move a message from a dead-letter queue back to its source queue")
    redrive.add_argument("dlq", metavar="DLQ")
    redrive.add_argument("message_id", metavar="MESSAGE_ID")
    redrive.add_argument("--to", default=None, metavar="QUEUE",
                         help="target queue (default: the queue whose dead_letter_queue is DLQ)")
    add_state_arguments(redrive)
    redrive.set_defaults(func=run_redrive)


class CommandError(Exception):
    pass


def _fail(message: str) -> int:
    print(f"✘ [ERROR] {message}", file=sys.stderr)
    return 1


def _path(url: str, *parts: str) -> str:
    # server.json's internal_url is an app's base URL; tolerate one already ending in /_emulator.
    prefix = "/queues" if url.rstrip("/").endswith("/_emulator") else "/_emulator/queues"
    return prefix + "".join("/" + urllib.parse.quote(p, safe="") for p in parts)


def _server_message(exc: ServerError) -> str:
    payload = exc.payload
    if isinstance(payload, dict):
        return str(payload.get("message") or payload.get("error") or exc)
    return str(payload)


def _local(args: argparse.Namespace, work: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run ``work(broker)`` on the state directory (no `dev` running)."""
    from emulator.bindings.queues.engine import QueueBroker
    from emulator.bindings.queues.store import DB_FILENAME
    from emulator.clock import RealClock
    from emulator.logs import EventLog

    state = resolve_state_dir(args)

    async def main() -> Any:
        broker = QueueBroker(state.binding_dir("queues") / DB_FILENAME, RealClock(), EventLog())
        await broker.open()
        try:
            return await work(broker)
        finally:
            await broker.close()  # waits for the writes to reach the disk

    return asyncio.run(main())


def _dispatch(args: argparse.Namespace, remote: Callable[[str], Any],
              local: Callable[[Any], Awaitable[Any]]) -> Any:
    from emulator.bindings.queues.engine import QueueNotFound

    url = running_server(resolve_state_dir(args))
    try:
        if url:
            return remote(url)
        return _local(args, local)
    except ServerError as exc:
        raise CommandError(_server_message(exc)) from None
    except (QueueNotFound, ValueError, TypeError) as exc:
        raise CommandError(str(exc)) from None
    except OSError as exc:
        raise CommandError(f"cannot reach the queue store: {exc}") from None


def run_list(args: argparse.Namespace) -> int:
    async def local(broker: Any) -> Any:
        return broker.list_stats()

    try:
        queues = _dispatch(args, lambda url: call_server(url, "GET", _path(url))["queues"], local)
    except CommandError as exc:
        return _fail(str(exc))
    if args.json:
        print_json(queues)
    elif not queues:
        print("No queues yet.")
    else:
        print_table(queues, LIST_COLUMNS)
    return 0


def _short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def run_peek(args: argparse.Namespace) -> int:
    if args.limit < 0:
        return _fail("--limit must not be negative")

    async def local(broker: Any) -> Any:
        return broker.peek(args.name, args.limit)

    def remote(url: str) -> Any:
        return call_server(url, "GET", _path(url, args.name, "messages") + f"?limit={args.limit}")["messages"]

    try:
        messages = _dispatch(args, remote, local)
    except CommandError as exc:
        return _fail(str(exc))
    if args.json:
        print_json(messages)
    elif not messages:
        print(f'Queue "{args.name}" is empty.')
    else:
        rows = [{**m, "body": _short(m["body"])} for m in messages]
        print_table(rows, ["id", "attempts", "state", "timestamp", "content_type", "body"])
    return 0


def _body(args: argparse.Namespace) -> Any:
    """The BODY argument as the value to send, per content type."""
    raw: bytes = sys.stdin.buffer.read() if args.body == "-" else args.body.encode("utf-8")
    if args.content_type == "bytes":
        return raw
    text = raw.decode("utf-8")
    if args.content_type == "text":
        return text
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CommandError(
            f"BODY is not valid JSON ({exc}); quote a string as JSON ('\"hello\"') or use --content-type text"
        ) from None


def run_send(args: argparse.Namespace) -> int:
    from emulator.bindings.queues.binding import QueueSendError, check_delay

    try:
        body = _body(args)
        delay = check_delay(args.delay, "send")
    except CommandError as exc:
        return _fail(str(exc))
    except QueueSendError as exc:
        return _fail(str(exc))

    async def local(broker: Any) -> Any:
        _, records = await broker.enqueue(args.name, [(body, args.content_type, delay)],
                                          broker.delivery_delay(args.name), "send")
        return [r.id for r in records]

    def remote(url: str) -> Any:
        payload: dict[str, Any] = {
            "body": base64.b64encode(body).decode("ascii") if args.content_type == "bytes" else body,
            "contentType": args.content_type,
        }
        if delay is not None:
            payload["delaySeconds"] = delay
        return call_server(url, "POST", _path(url, args.name, "messages"), body=payload)["ids"]

    try:
        ids = _dispatch(args, remote, local)
    except CommandError as exc:
        return _fail(str(exc))
    except QueueSendError as exc:
        return _fail(str(exc))
    print(f'Sent message {ids[0]} to queue "{args.name}".')
    return 0


def run_purge(args: argparse.Namespace) -> int:
    async def local(broker: Any) -> Any:
        return broker.purge(args.name)

    try:
        purged = _dispatch(args, lambda url: call_server(url, "POST", _path(url, args.name, "purge"))["purged"],
                           local)
    except CommandError as exc:
        return _fail(str(exc))
    print(f'Purged {purged} message{"" if purged == 1 else "s"} from queue "{args.name}".')
    return 0


def run_redrive(args: argparse.Namespace) -> int:
    async def local(broker: Any) -> Any:
        return broker.redrive(args.dlq, args.message_id, args.to)

    def remote(url: str) -> Any:
        query = f"?to={urllib.parse.quote(args.to, safe='')}" if args.to else ""
        return call_server(url, "POST", _path(url, args.dlq, "messages", args.message_id, "redrive") + query)["to"]

    try:
        target = _dispatch(args, remote, local)
    except CommandError as exc:
        return _fail(str(exc))
    print(f'Moved message {args.message_id} from "{args.dlq}" to "{target}".')
    return 0
