"""`cf-emulator queues ...`: wrangler's queue commands on the local queues, plus inspection.

    cf-emulator queues list [--json]
    cf-emulator queues info NAME [--json]
    cf-emulator queues peek NAME [--limit N] [--json]
    cf-emulator queues send NAME BODY [--content-type json|text|bytes|v8] [--delay SECONDS] [--json]
    cf-emulator queues pause-delivery NAME [--json]
    cf-emulator queues resume-delivery NAME [--json]
    cf-emulator queues purge NAME [--force] [--json]
    cf-emulator queues redrive DLQ MESSAGE_ID [--to QUEUE] [--json]

``info``, ``pause-delivery``, ``resume-delivery`` and ``purge`` are wrangler's (same words,
same prompt: ``purge`` asks for the queue's name unless ``--force``, and refuses without a
terminal); ``list`` shows local figures rather than account metadata; ``peek``, ``send``
and ``redrive`` are ours (the dashboard's actions). A queue is known when the config
declares it (producer, consumer or dead-letter queue) or the state directory holds it; any
other name is an error listing the known ones, so a typo never creates a queue. Reading
verbs (``list``, ``info``, ``peek``) create nothing, not even the state directory.

With a ``dev`` running on the state directory the verbs call its internal API
(``/_emulator/queues``), so its consumers see a sent message (or a resumed queue) at once
and a purge also covers in-flight batches. Otherwise they open
``<state>/queues/queues.sqlite3`` directly; the next ``dev`` delivers what they sent and
honours a paused queue.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import urllib.parse
from typing import Any
from collections.abc import Callable

from emulator.cli import output
from emulator.cli._common import (
    StateTarget,
    Verb,
    add_command_group,
    add_json_argument,
    add_state_arguments,
    api_path,
    call_server,
    cli_errors,
    config_apps,
)
from emulator.errors import CliError

LIST_COLUMNS = ["name", "depth", "visible", "in_flight", "delayed", "dead_letter_count",
                "acked", "retried", "dropped", "dlq", "delivery_paused"]


def register(subparsers: Any) -> None:
    sub = add_command_group(
        subparsers, "queues", "queues_command",
        help="local queues: list, info, peek, send, pause/resume delivery, purge, redrive",
        description="Inspect and drive the local queues (wrangler's `queues` commands, locally).")

    lst = sub.add_parser("list", help="every queue with its depth, in-flight, delayed and totals",
                         description="Every queue the config declares or the state holds, with its figures.")
    add_json_argument(lst, "the queues")
    add_state_arguments(lst)
    lst.set_defaults(func=run_list)

    info = sub.add_parser("info", help="one queue's figures, consumer settings and delivery state",
                          description="Get queue information (wrangler's `queues info`, locally).")
    info.add_argument("name", metavar="NAME", help="the name of the queue")
    add_json_argument(info, "the queue")
    add_state_arguments(info)
    info.set_defaults(func=run_info)

    peek = sub.add_parser("peek", help="show messages of a queue without consuming them")
    peek.add_argument("name", metavar="NAME", help="the name of the queue")
    peek.add_argument("--limit", type=int, default=20, help="at most this many messages (default 20)")
    add_json_argument(peek, "the messages")
    add_state_arguments(peek)
    peek.set_defaults(func=run_peek)

    send = sub.add_parser("send", help="send one message to a queue")
    send.add_argument("name", metavar="NAME", help="the name of the queue")
    send.add_argument("body", metavar="BODY",
                      help="the message: JSON for json/v8 (default json), text for text, "
                           "raw bytes for bytes; '-' reads stdin")
    send.add_argument("--content-type", default="json", choices=["json", "text", "bytes", "v8"],
                      help="message content type (default json)")
    send.add_argument("--delay", type=int, default=None, metavar="SECONDS",
                      help="delivery delay, 0-43200 (default: the queue's delivery delay)")
    add_json_argument(send, "the sent message's id")
    add_state_arguments(send)
    send.set_defaults(func=run_send)

    for verb, helptext in (("pause-delivery", "Pause message delivery for a queue"),
                           ("resume-delivery", "Resume message delivery for a queue")):
        p = sub.add_parser(verb, help=helptext[0].lower() + helptext[1:],
                           description=helptext + (
                               ": messages keep arriving and accumulate; nothing is delivered until "
                               "`resume-delivery`. Kept across restarts." if verb == "pause-delivery" else
                               ": the messages that accumulated are delivered in order."))
        p.add_argument("name", metavar="NAME", help="the name of the queue")
        add_json_argument(p, "the new delivery state")
        add_state_arguments(p)
        p.set_defaults(func=run_delivery, paused=verb == "pause-delivery")

    purge = sub.add_parser("purge", help="delete every message of a queue (asks first)",
                           description="Purge messages from a queue: asks you to type the queue's name "
                                       "unless --force; without a terminal --force is required.")
    purge.add_argument("name", metavar="NAME", help="the name of the queue")
    purge.add_argument("--force", action="store_true",
                       help="skip the confirmation dialog and forcefully purge the queue")
    add_json_argument(purge, "the number of purged messages")
    add_state_arguments(purge)
    purge.set_defaults(func=run_purge)

    redrive = sub.add_parser("redrive", help="move a message from a dead-letter queue back to its source queue")
    redrive.add_argument("dlq", metavar="DLQ")
    redrive.add_argument("message_id", metavar="MESSAGE_ID")
    redrive.add_argument("--to", default=None, metavar="QUEUE",
                         help="target queue (default: the queue whose dead_letter_queue is DLQ)")
    add_json_argument(redrive, "where the message went")
    add_state_arguments(redrive)
    redrive.set_defaults(func=run_redrive)


def _path(url: str, *parts: str) -> str:
    return api_path(url, "queues", *parts)


def declared_queues(args: argparse.Namespace) -> set[str]:
    """Queues the config declares: producers, consumers and their dead-letter queues."""
    from emulator.bindings.queues.config import queues_config

    names: set[str] = set()
    for app in config_apps(args).apps:
        cfg = queues_config(app)
        names.update(p.queue for p in cfg.producers)
        for c in cfg.consumers:
            names.add(c.queue)
            if c.dead_letter_queue:
                names.add(c.dead_letter_queue)
    return names


def _empty_stats(name: str) -> dict[str, Any]:
    """A declared queue that has never held a message."""
    return {"name": name, "depth": 0, "visible": 0, "in_flight": 0, "in_flight_batches": 0, "delayed": 0,
            "dead_letter_queue": None, "dead_letter_count": 0, "consumer": None, "delivery_delay": 0,
            "delivery_paused": False, "acked": 0, "retried": 0, "dropped": 0, "dlq": 0}


class _Backend(StateTarget):
    """The queues of the state directory: a running `dev`'s API, or the store on disk."""

    def stored_names(self) -> set[str]:
        if self.url:
            return {q["name"] for q in call_server(self.url, "GET", _path(self.url))["queues"]}
        return set(self.local(lambda broker: _names(broker), default=set(), reading=True))

    def local(self, work: Callable[[Any], Any], default: Any = None, reading: bool | None = None) -> Any:
        """``work(broker)`` on the store on disk (``default`` when reading finds none: reading
        verbs, and the name checks of writing verbs, create no store)."""
        import asyncio

        from emulator.bindings.queues.engine import QueueBroker
        from emulator.bindings.queues.store import DB_FILENAME
        from emulator.clock import RealClock
        from emulator.logs import EventLog

        reading = self.reading if reading is None else reading
        path = self.state.root / "queues" / DB_FILENAME
        if reading and not path.is_file():
            return default
        if not reading:
            self.hold_files()
            path = self.state.binding_dir("queues") / DB_FILENAME

        async def main() -> Any:
            broker = QueueBroker(path, RealClock(), EventLog())
            await broker.open()
            try:
                result = work(broker)
                if inspect.isawaitable(result):
                    result = await result
                return result
            finally:
                await broker.close()  # waits for the writes to reach the disk

        return asyncio.run(main())

    def require_known(self, name: str) -> None:
        """A writing verb's queue: declared by the config or held by the state, else an error."""
        declared = declared_queues(self.args)
        if name in declared:
            return
        stored = self.stored_names()
        if name not in stored:
            raise self.unknown("queue", name, declared | stored)

    def stats(self, name: str) -> dict[str, Any]:
        """One queue's figures (a declared queue never used: zeros; unknown: an error)."""
        if self.url:
            found = call_server(self.url, "GET", _path(self.url, name), missing=None)
        else:
            found = self.local(lambda broker: broker.stats(name) if broker.has_queue(name) else None)
        if found is not None:
            return dict(found)
        declared = declared_queues(self.args)
        if name in declared:
            return _empty_stats(name)
        raise self.unknown("queue", name, declared | self.stored_names())


def _names(broker: Any) -> set[str]:
    return set(broker.queue_names())


def _message(exc: Exception) -> str | None:
    """The queue errors of a verb as the user reads them (``cli_errors`` does the rest)."""
    from emulator.bindings.queues.errors import QueueNotFound, QueueSendError

    if isinstance(exc, (QueueNotFound, QueueSendError, ValueError, TypeError)):
        return str(exc)
    if isinstance(exc, output.NotInteractive):
        return "The --force flag is required to purge a Queue in non-interactive mode"
    if isinstance(exc, OSError):
        return f"cannot reach the queue store: {exc}"
    return None


def _run(verb: Verb) -> Verb:
    """The verb, with the errors of what it calls turned into ``CliError`` (one line each)."""
    return cli_errors(verb, _message)


@_run
def run_list(args: argparse.Namespace) -> int:
    backend = _Backend(args, reading=True)
    if backend.url:
        queues = list(call_server(backend.url, "GET", _path(backend.url))["queues"])
    else:
        queues = backend.local(lambda broker: broker.list_stats(), default=[])
    seen = {q["name"] for q in queues}
    queues += [_empty_stats(n) for n in sorted(declared_queues(args) - seen)]
    queues.sort(key=lambda q: q["name"])
    if output.wants_json(args):
        output.print_json(queues)
    elif not queues:
        output.say("No queues yet.")
    else:
        output.table(queues, LIST_COLUMNS)
    return 0


@_run
def run_info(args: argparse.Namespace) -> int:
    stats = _Backend(args, reading=True).stats(args.name)
    if output.wants_json(args):
        output.print_json(stats)
        return 0
    consumer = stats.get("consumer")
    pairs: list[tuple[str, Any]] = [
        ("Queue", stats["name"]),
        ("Delivery", "paused" if stats.get("delivery_paused") else "active"),
        ("Messages", f"{stats['depth']} ({stats['visible']} visible, {stats['in_flight']} in flight, "
                     f"{stats['delayed']} delayed)"),
        ("Delivery delay", f"{stats.get('delivery_delay', 0)} s"),
        ("Consumer", "none" if not consumer else
         f"{consumer['owner']} (max_batch_size {consumer['max_batch_size']}, max_batch_timeout "
         f"{consumer['max_batch_timeout']} s, max_retries {consumer['max_retries']}, max_concurrency "
         f"{consumer['max_concurrency']})"),
        ("Dead letter queue", stats.get("dead_letter_queue") or "none"),
        ("Totals", f"{stats['acked']} acked, {stats['retried']} retried, {stats['dropped']} dropped, "
                   f"{stats['dlq']} dead-lettered"),
    ]
    output.fields(pairs)
    return 0


def _short(value: Any, width: int = 60) -> str:
    text = output.cell(value)
    return text if len(text) <= width else text[: width - 1] + "…"


@_run
def run_peek(args: argparse.Namespace) -> int:
    if args.limit < 0:
        raise CliError("--limit must not be negative")
    backend = _Backend(args, reading=True)
    if backend.url:
        found = call_server(backend.url, "GET", _path(backend.url, args.name, "messages")
                            + f"?limit={args.limit}", missing=None)
        messages = None if found is None else found["messages"]
    else:
        messages = backend.local(lambda broker: broker.peek(args.name, args.limit)
                                 if broker.has_queue(args.name) else None)
    if messages is None:
        backend.stats(args.name)  # a declared queue is empty; an unknown one an error
        messages = []
    if output.wants_json(args):
        output.print_json(messages)
    elif not messages:
        output.say(f'Queue "{args.name}" is empty.')
    else:
        rows = [{**m, "body": _short(m["body"])} for m in messages]
        output.table(rows, ["id", "attempts", "state", "timestamp", "content_type", "body"])
    return 0


def _body(args: argparse.Namespace) -> Any:
    """The BODY argument as the value to send, per content type."""
    import json

    raw: bytes = sys.stdin.buffer.read() if args.body == "-" else args.body.encode("utf-8")
    if args.content_type == "bytes":
        return raw
    text = raw.decode("utf-8")
    if args.content_type == "text":
        return text
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CliError(
            f"BODY is not valid JSON ({exc}); quote a string as JSON ('\"hello\"') or use --content-type text"
        ) from None


@_run
def run_send(args: argparse.Namespace) -> int:
    import base64

    from emulator.bindings.queues.binding import check_delay

    body = _body(args)
    delay = check_delay(args.delay, "send")
    backend = _Backend(args, reading=False)
    backend.require_known(args.name)
    backend.writable()
    if backend.url:
        payload: dict[str, Any] = {
            "body": base64.b64encode(body).decode("ascii") if args.content_type == "bytes" else body,
            "contentType": args.content_type,
        }
        if delay is not None:
            payload["delaySeconds"] = delay
        ids = call_server(backend.url, "POST", _path(backend.url, args.name, "messages"), body=payload)["ids"]
    else:
        async def send(broker: Any) -> list[str]:
            _, records = await broker.enqueue(args.name, [(body, args.content_type, delay)],
                                              broker.delivery_delay(args.name), "send")
            return [r.id for r in records]

        ids = backend.local(send)
    output.outcome(args, {"queue": args.name, "ids": ids}, f'Sent message {ids[0]} to queue "{args.name}".')
    return 0


@_run
def run_delivery(args: argparse.Namespace) -> int:
    paused: bool = args.paused
    backend = _Backend(args, reading=False)
    backend.require_known(args.name)
    backend.writable()
    output.announce(args, f"{'Pausing' if paused else 'Resuming'} message delivery for queue {args.name}.")
    if backend.url:
        verb = "pause-delivery" if paused else "resume-delivery"
        call_server(backend.url, "POST", _path(backend.url, args.name, verb))
    else:
        async def toggle(broker: Any) -> None:
            broker.declare(args.name)  # a declared queue never used yet
            await broker.set_paused(args.name, paused)

        backend.local(toggle)
    output.outcome(args, {"queue": args.name, "delivery_paused": paused},
                   f"{'Paused' if paused else 'Resumed'} message delivery for queue {args.name}.")
    return 0


@_run
def run_purge(args: argparse.Namespace) -> int:
    backend = _Backend(args, reading=False)
    backend.require_known(args.name)
    if not args.force:
        # Asked before the state directory is taken: a `dev` started meanwhile need not wait.
        answer = output.ask(f"This operation will permanently delete all the messages in Queue {args.name}. "
                            f"Type {args.name} to proceed.")
        if answer != args.name:
            raise CliError("Incorrect queue name provided. Skipping purge operation")
    backend.writable()
    if backend.url:
        purged = call_server(backend.url, "POST", _path(backend.url, args.name, "purge"))["purged"]
    else:
        purged = backend.local(lambda broker: broker.purge(args.name) if broker.has_queue(args.name) else 0)
    output.outcome(args, {"queue": args.name, "purged": purged},
                   f"Purged Queue '{args.name}' ({purged} message{'' if purged == 1 else 's'}).")
    return 0


@_run
def run_redrive(args: argparse.Namespace) -> int:
    backend = _Backend(args, reading=False)
    backend.require_known(args.dlq)
    if args.to:
        backend.require_known(args.to)
    backend.writable()
    if backend.url:
        query = f"?to={urllib.parse.quote(args.to, safe='')}" if args.to else ""
        target = call_server(backend.url, "POST",
                             _path(backend.url, args.dlq, "messages", args.message_id, "redrive") + query)["to"]
    else:
        target = backend.local(lambda broker: broker.redrive(args.dlq, args.message_id, args.to))
    output.outcome(args, {"id": args.message_id, "from": args.dlq, "to": target},
                   f'Moved message {args.message_id} from "{args.dlq}" to "{target}".')
    return 0
