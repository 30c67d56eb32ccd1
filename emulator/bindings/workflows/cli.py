"""`cf-emulator workflows`: wrangler's workflow commands on the local workflows.

    cf-emulator workflows list [--json]
    cf-emulator workflows describe NAME [--json]
    cf-emulator workflows trigger NAME [PARAMS] [--id ID] [--json]
    cf-emulator workflows delete NAME [--json]
    cf-emulator workflows instances list NAME [--status S] [--reverse] [--json]
    cf-emulator workflows instances describe NAME [ID|latest] [--json]
    cf-emulator workflows instances send-event NAME ID|latest --type T [--payload JSON] [--json]
    cf-emulator workflows instances terminate|pause|resume|restart NAME ID|latest [--json]

Mirrors ``wrangler workflows ... --local``: the same verbs, arguments and messages;
``latest`` names the most recently created instance; ``delete`` removes a workflow's
instances (its definition comes from the config). A workflow is known when the config
declares it or the state directory holds it; any other name is an error listing the known
ones. Reading verbs (``list``, ``describe``, ``instances list|describe``) create nothing.

With a `dev` running on the state directory every verb goes through its internal API
(``/_emulator/workflows``), so the running engine acts at once (``--port`` names a dev
session's port directly, as wrangler's does). Without one, the verbs open
``<state>/workflows/workflows.sqlite3`` directly: reads are read-only, and the writes update
the stored state, which the next `dev` start honours (a triggered instance runs, a sent
event is delivered, a terminated or paused instance stays so).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from typing import Any
from collections.abc import Callable
from urllib.parse import quote, urlencode

from emulator.cli import output
from emulator.cli._common import (
    ServerError,
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

ACTIONS = {  # verb → (wrangler's message emoji, past participle)
    "terminate": ("🥷", "terminated"),
    "pause": ("⏸️", "paused"),
    "resume": ("🔄", "resumed"),
    "restart": ("🥷", "restarted"),
}
# Instance statuses (emulator.bindings.workflows.store.STATUSES, kept here so --help
# needs no import of the store).
STATUSES = ("queued", "running", "paused", "errored", "terminated", "complete", "waitingForPause",
            "waiting", "unknown")


def _local_session(parser: argparse.ArgumentParser) -> None:
    add_state_arguments(parser)
    parser.add_argument("--port", type=int, default=None,
                        help="port of a running `cf-emulator dev` to talk to (default: the one serving "
                             "the state directory, if any)")


def register(subparsers: Any) -> None:
    sub = add_command_group(subparsers, "workflows", "workflows_cmd",
                            help="trigger, inspect and control workflow instances",
                            description="Manage the local Workflows (wrangler's `workflows` commands).")

    p_list = sub.add_parser("list", help="list workflows with instance counts by status")
    add_json_argument(p_list, "the workflows")
    _local_session(p_list)
    p_list.set_defaults(func=_cmd(_list, reading=True))

    p_describe = sub.add_parser("describe", help="describe a workflow: its class, script and instances")
    p_describe.add_argument("name", help="name of the workflow")
    add_json_argument(p_describe, "the workflow")
    _local_session(p_describe)
    p_describe.set_defaults(func=_cmd(_describe_workflow, reading=True))

    p_trigger = sub.add_parser("trigger", help="trigger a workflow, creating a new instance",
                               description="Trigger a workflow, creating a new instance. Can optionally take a "
                                           "JSON string to pass a parameter into the workflow instance.")
    p_trigger.add_argument("name", help="name of the workflow")
    p_trigger.add_argument("params", nargs="?", default="", help="params for the workflow instance, as a JSON string")
    p_trigger.add_argument("--id", default=None, help="custom instance ID (default: a random UUIDv4)")
    add_json_argument(p_trigger, "the new instance's id")
    _local_session(p_trigger)
    p_trigger.set_defaults(func=_cmd(_trigger, reading=False))

    p_delete = sub.add_parser("delete", help="delete a workflow's instances",
                              description="Delete a workflow: locally, every instance of it is removed (its "
                                          "definition comes from the config).")
    p_delete.add_argument("name", help="name of the workflow")
    add_json_argument(p_delete, "how many instances were removed")
    _local_session(p_delete)
    p_delete.set_defaults(func=_cmd(_delete_workflow, reading=False))

    isub = add_command_group(sub, "instances", "instances_cmd",
                             help="list, describe, send events to and control instances")

    p_ilist = isub.add_parser("list", help="list the instances of a workflow")
    p_ilist.add_argument("name", help="name of the workflow")
    p_ilist.add_argument("--status", choices=STATUSES, help="only instances with this status")
    p_ilist.add_argument("--reverse", action="store_true", help="reverse order of the instances table")
    add_json_argument(p_ilist, "the instances")
    _local_session(p_ilist)
    p_ilist.set_defaults(func=_cmd(_instances_list, reading=True))

    p_desc = isub.add_parser("describe", help="one instance with its steps, attempts, outputs and errors")
    p_desc.add_argument("name", help="name of the workflow")
    p_desc.add_argument("id", nargs="?", default="latest",
                        help="ID of the instance, or 'latest' for the latest instance (the default)")
    p_desc.add_argument("--step-output", action=argparse.BooleanOptionalAction, default=True,
                        help="show each step's output (default: yes)")
    p_desc.add_argument("--truncate-output-limit", type=int, default=5000, metavar="N",
                        help="truncate step output after N characters (default 5000)")
    add_json_argument(p_desc, "the instance")
    _local_session(p_desc)
    p_desc.set_defaults(func=_cmd(_describe, reading=True))

    p_event = isub.add_parser("send-event", help="send an event to a workflow instance")
    p_event.add_argument("name", help="name of the workflow")
    p_event.add_argument("id", help="ID of the instance, or 'latest' for the latest instance")
    p_event.add_argument("--type", required=True, help="type of the workflow event")
    p_event.add_argument("--payload", default="{}", help="JSON string for the workflow event (default {})")
    add_json_argument(p_event, "the outcome")
    _local_session(p_event)
    p_event.set_defaults(func=_cmd(_send_event, reading=False))

    for action in ACTIONS:
        p_act = isub.add_parser(action, help=f"{action} a workflow instance")
        p_act.add_argument("name", help="name of the workflow")
        p_act.add_argument("id", help="ID of the instance, or 'latest' for the latest instance")
        add_json_argument(p_act, "the instance's new status")
        _local_session(p_act)
        p_act.set_defaults(func=_cmd(_action, reading=False), action=action)


# --- backends -----------------------------------------------------------------------------
class _Backend(StateTarget):
    """The workflow state a verb works on: a running `dev`'s API, or the state file."""

    def __init__(self, args: argparse.Namespace, reading: bool) -> None:
        port = getattr(args, "port", None)
        super().__init__(args, reading, f"http://127.0.0.1:{port}" if port else None)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        assert self.url is not None
        try:
            return call_server(self.url, method, api_path(self.url, "workflows") + path, body=body)
        except ServerError as exc:
            raise CliError(exc.message) from None
        except OSError as exc:
            raise CliError(f"cannot reach the running emulator at {self.url}: {exc}") from None

    def connect(self, reading: bool | None = None) -> sqlite3.Connection | None:
        """The state file (None when reading finds none; a writing verb creates it)."""
        from emulator.bindings.workflows import store as st

        reading = self.reading if reading is None else reading
        path = self.state.root / "workflows" / st.DB_FILENAME
        if reading and not path.is_file():
            return None
        if not reading:
            self.hold_files()
        try:
            if reading:
                return st.connect(path, readonly=True)
            return st.connect(self.state.binding_dir("workflows") / st.DB_FILENAME)
        except sqlite3.Error as exc:
            raise CliError(f"cannot open {path}: {exc}") from None

    def local(self, work: Callable[[sqlite3.Connection], Any], default: Any = None,
              reading: bool | None = None) -> Any:
        conn = self.connect(reading)
        if conn is None:
            return default
        try:
            return work(conn)
        finally:
            conn.close()

    def workflows(self) -> list[dict[str, Any]]:
        """Every workflow the state knows, plus those the config declares (zero instances)."""
        from emulator.bindings.workflows import store as st

        if self.url:
            found = list(self.call("GET", "")["workflows"])
        else:
            found = self.local(lambda conn: st.list_workflows(conn), default=[], reading=True)
        names = {w["name"] for w in found}
        for name, class_name, script in sorted(declared_workflows(self.args)):
            if name not in names:
                names.add(name)
                found.append({"name": name, "class_name": class_name, "script_name": script,
                              "instances": {}, "total": 0})
        return sorted(found, key=lambda w: w["name"])

    def require_known(self, name: str) -> None:
        known = {w["name"] for w in self.workflows()}
        if name not in known:
            raise self.unknown("workflow", name, known)

    def instance_id(self, name: str, given: str) -> str:
        """``given``, or the latest instance's id for ``latest`` (wrangler's shorthand)."""
        from emulator.bindings.workflows import store as st

        if given != "latest":
            return given
        if self.url:
            instances = self.call("GET", f"/{quote(name, safe='')}/instances")["instances"]
            latest = max(instances, key=lambda i: (i["created"] or "", i["id"]))["id"] if instances else None
        else:
            latest = self.local(lambda conn: st.latest_instance(conn, name), reading=True)
        if latest is None:
            raise CliError(f'There are no deployed instances in workflow "{name}"')
        return str(latest)


def declared_workflows(args: argparse.Namespace) -> set[tuple[str, str | None, str | None]]:
    """(name, class_name, script_name) of every workflow the config declares."""
    from emulator.bindings.workflows.config import workflows_config

    return {(w.name, w.class_name, w.script_name) for app in config_apps(args).apps
            for w in workflows_config(app).workflows}


def _message(exc: Exception) -> str | None:
    """The store's errors as the user reads them (``cli_errors`` does the rest)."""
    from emulator.bindings.workflows.errors import OfflineActionError

    if isinstance(exc, OfflineActionError):
        return str(exc)
    if isinstance(exc, sqlite3.Error):
        return f"workflow state: {exc}"
    return None


def _cmd(verb: Callable[[argparse.Namespace, _Backend], int], reading: bool) -> Verb:
    """The verb on its backend, with the store's errors turned into ``CliError``."""
    def run(args: argparse.Namespace) -> int:
        return verb(args, _Backend(args, reading))
    run.__name__ = verb.__name__
    return cli_errors(run, _message)


# --- verbs -------------------------------------------------------------------------------
def _list(args: argparse.Namespace, backend: _Backend) -> int:
    workflows = backend.workflows()
    if output.wants_json(args):
        output.print_json(workflows)
        return 0
    if not workflows:
        output.say("No workflows.")
        return 0
    rows = [{"name": w["name"], "class": w.get("class_name") or "", "script": w.get("script_name") or "",
             "instances": w.get("total", 0),
             "by status": ", ".join(f"{k}={v}" for k, v in sorted(w.get("instances", {}).items()))}
            for w in workflows]
    output.table(rows, ["name", "class", "script", "instances", "by status"])
    return 0


def _describe_workflow(args: argparse.Namespace, backend: _Backend) -> int:
    found = next((w for w in backend.workflows() if w["name"] == args.name), None)
    if found is None:
        backend.require_known(args.name)
    assert found is not None
    if output.wants_json(args):
        output.print_json(found)
        return 0
    output.fields([("Name", found["name"]), ("Class", found.get("class_name") or ""),
                   ("Script", found.get("script_name") or ""), ("Instances", found.get("total", 0)),
                   ("By status", ", ".join(f"{k}={v}" for k, v in sorted(found.get("instances", {}).items()))
                    or "none")])
    return 0


def _instances_list(args: argparse.Namespace, backend: _Backend) -> int:
    from emulator.bindings.workflows import store as st

    if backend.url:
        params = {"status": args.status} if args.status else {}
        page = backend.call("GET", f"/{quote(args.name, safe='')}/instances?{urlencode(params)}")
        instances = list(page["instances"])
        while page.get("cursor"):  # the server answers in pages
            params["cursor"] = page["cursor"]
            page = backend.call("GET", f"/{quote(args.name, safe='')}/instances?{urlencode(params)}")
            instances += page["instances"]
    else:
        instances = backend.local(lambda conn: st.list_instances(conn, args.name, args.status), default=[])
    if not instances:
        backend.require_known(args.name)
    if args.reverse:
        instances = list(reversed(instances))
    if output.wants_json(args):
        output.print_json(instances)
        return 0
    if not instances:
        output.say(f'No instances of workflow "{args.name}".')
        return 0
    rows = [{"id": i["id"], "status": i["status"], "created": i["created"] or "",
             "duration": "" if i["duration_ms"] is None else f"{i['duration_ms']} ms",
             "error": "" if not i["error"] else f"{i['error'].get('name')}: {i['error'].get('message')}"}
            for i in instances]
    output.table(rows, ["id", "status", "created", "duration", "error"])
    return 0


def _describe(args: argparse.Namespace, backend: _Backend) -> int:
    from emulator.bindings.workflows import store as st

    backend.require_known(args.name)
    instance_id = backend.instance_id(args.name, args.id)
    if backend.url:
        try:
            found = backend.call("GET", f"/{quote(args.name, safe='')}/instances/{quote(instance_id, safe='')}")
        except CliError:
            found = None
    else:
        found = backend.local(lambda conn: st.describe_instance(conn, args.name, instance_id))
    if found is None:
        raise CliError(f'(instance.not_found) no instance "{instance_id}" of workflow "{args.name}"')
    if output.wants_json(args):
        output.print_json(found)
        return 0
    limit = max(0, args.truncate_output_limit)
    pairs: list[tuple[str, Any]] = [("Workflow", found["workflow"]), ("Instance", found["id"]),
                                    ("Status", found["status"]), ("Created", found["created"])]
    if found["started"]:
        pairs.append(("Started", found["started"]))
    if found["ended"]:
        pairs.append(("Ended", f"{found['ended']}  ({found['duration_ms']} ms)"))
    if found.get("output") is not None:
        pairs.append(("Output", _short(found["output"], limit)))
    if found.get("error"):
        pairs.append(("Error", f"{found['error'].get('name')}: {found['error'].get('message')}"))
    output.fields(pairs)
    output.say()
    rows = []
    for s in found["steps"]:
        result = ""
        if s["error"]:
            result = f"{s['error'].get('name')}: {s['error'].get('message')}"
        elif s["output"] is not None and args.step_output:
            result = _short(s["output"], limit)
        elif s["deadline"]:
            result = f"until {s['deadline']}"
        rows.append({"step": s["name"] if s["count"] == 1 else f"{s['name']} #{s['count']}",
                     "type": s["type"], "status": s["status"], "attempts": s["attempts"],
                     "start": s["start"] or "",
                     "duration": "" if s["duration_ms"] is None else f"{s['duration_ms']} ms",
                     "output / error": result})
    if rows:
        output.table(rows, ["step", "type", "status", "attempts", "start", "duration", "output / error"])
    else:
        output.say("No steps yet.")
    return 0


def _short(value: Any, limit: int) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def _json_argument(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CliError(f'Error while parsing {what}: "{text}" with {exc}') from None


def _trigger(args: argparse.Namespace, backend: _Backend) -> int:
    import uuid

    from emulator.bindings.workflows import store as st
    from emulator.bindings.workflows.engine import INSTANCE_ID_RE, MAX_INSTANCE_ID
    from emulator.clock import RealClock

    params = _json_argument(args.params, "params") if args.params else None
    backend.require_known(args.name)
    if backend.url:
        body: dict[str, Any] = {"params": params}
        if args.id:
            body["id"] = args.id
        instance_id = backend.call("POST", f"/{quote(args.name, safe='')}/instances", body)["id"]
    else:
        instance_id = args.id or str(uuid.uuid4())
        if len(instance_id) > MAX_INSTANCE_ID or not INSTANCE_ID_RE.match(instance_id):
            raise CliError("Workflow instance has invalid id")
        encoded = json.dumps({} if params is None else params, separators=(",", ":"))
        backend.local(lambda conn: st.offline_create(conn, args.name, instance_id, encoded, RealClock().now_ms()))
    if output.wants_json(args):
        output.print_json({"workflow": args.name, "id": instance_id, "running": bool(backend.url)})
        return 0
    output.say(f'🚀 Workflow instance "{instance_id}" has been triggered successfully')
    if not backend.url:
        output.info("(no emulator running: the instance is queued; the next `cf-emulator dev` runs it)")
    return 0


def _delete_workflow(args: argparse.Namespace, backend: _Backend) -> int:
    from emulator.bindings.workflows import store as st

    backend.require_known(args.name)
    if backend.url:
        removed = backend.call("DELETE", f"/{quote(args.name, safe='')}")["removed"]
    else:
        removed = backend.local(lambda conn: st.offline_delete_instances(conn, args.name))
    output.outcome(args, {"workflow": args.name, "removed": removed},
                   f'✅ Workflow "{args.name}" instances removed successfully from local dev session.')
    return 0


def _send_event(args: argparse.Namespace, backend: _Backend) -> int:
    from emulator.bindings.workflows import store as st
    from emulator.clock import RealClock

    payload = _json_argument(args.payload, "event payload")
    if not args.type:
        raise CliError("--type must not be empty")
    backend.require_known(args.name)
    instance_id = backend.instance_id(args.name, args.id)
    if backend.url:
        backend.call("POST", f"/{quote(args.name, safe='')}/instances/{quote(instance_id, safe='')}/events",
                     {"type": args.type, "payload": payload})
    else:
        encoded = json.dumps(payload, separators=(",", ":"))
        backend.local(lambda conn: st.offline_send_event(conn, args.name, instance_id, args.type, encoded,
                                                         RealClock().now_ms()))
    shown = f' and payload "{args.payload}"' if isinstance(payload, dict) and payload else ""
    output.outcome(args, {"workflow": args.name, "id": instance_id, "type": args.type, "payload": payload},
                   f'📤 The event with type "{args.type}"{shown} was sent to the instance "{instance_id}" '
                   f"from {args.name}")
    return 0


def _action(args: argparse.Namespace, backend: _Backend) -> int:
    from emulator.bindings.workflows import store as st
    from emulator.clock import RealClock

    backend.require_known(args.name)
    instance_id = backend.instance_id(args.name, args.id)
    path = f"/{quote(args.name, safe='')}/instances/{quote(instance_id, safe='')}/{args.action}"
    if backend.url:
        new_status = backend.call("POST", path)["status"]
    else:
        new_status = backend.local(lambda conn: st.offline_action(conn, args.name, instance_id, args.action,
                                                                   RealClock().now_ms()))
    if output.wants_json(args):
        output.print_json({"workflow": args.name, "id": instance_id, "status": new_status})
        return 0
    emoji, done = ACTIONS[args.action]
    output.say(f'{emoji} The instance "{instance_id}" from {args.name} was {done} successfully')
    if not backend.url:
        output.info(f"(no emulator running: state updated, the instance is now {new_status}; "
                    "the next `cf-emulator dev` honours it)")
    return 0
