"""`cf-emulator workflows`: list workflows, list/describe instances, pause/resume/terminate/restart.

Mirrors ``wrangler workflows list`` / ``wrangler workflows instances list|describe|...``.
With a `dev` running on the state directory every verb goes through its internal API
(``/_emulator/workflows``), so the running engine acts at once. Without one, the verbs open
``<state>/workflows/workflows.sqlite3`` directly: reads are read-only, and the actions
update the stored state, which the next `dev` start honours (a terminated or paused
instance stays so; a resumed or restarted one runs).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from typing import Any
from urllib.parse import quote, urlencode

from emulator.bindings.workflows import store as st
from emulator.cli._common import (
    ServerError,
    add_state_arguments,
    call_server,
    print_json,
    print_table,
    resolve_state_dir,
    running_server,
)
from emulator.clock import RealClock
from emulator.state import StateDir

ACTIONS = ("terminate", "pause", "resume", "restart")


class CliError(Exception):
    """A user-facing failure: printed as one line, exit code 1."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("workflows", help="inspect and control workflow instances")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    sub = parser.add_subparsers(dest="workflows_cmd", metavar="COMMAND")

    p_list = sub.add_parser("list", help="list workflows with instance counts by status")
    add_state_arguments(p_list)
    p_list.add_argument("--json", action="store_true", help="print JSON")
    p_list.set_defaults(func=_cmd_list)

    p_inst = sub.add_parser("instances", help="list, describe and control instances")
    p_inst.set_defaults(func=lambda args: (p_inst.print_help(), 2)[1])
    isub = p_inst.add_subparsers(dest="instances_cmd", metavar="COMMAND")

    p_ilist = isub.add_parser("list", help="list the instances of a workflow")
    p_ilist.add_argument("name", help="workflow name")
    p_ilist.add_argument("--status", choices=st.STATUSES, help="only instances with this status")
    p_ilist.add_argument("--json", action="store_true", help="print JSON")
    add_state_arguments(p_ilist)
    p_ilist.set_defaults(func=_cmd_instances_list)

    p_desc = isub.add_parser("describe", help="one instance with its steps, attempts, outputs and errors")
    p_desc.add_argument("name", help="workflow name")
    p_desc.add_argument("id", help="instance id")
    p_desc.add_argument("--json", action="store_true", help="print JSON")
    add_state_arguments(p_desc)
    p_desc.set_defaults(func=_cmd_describe)

    for action in ACTIONS:
        p_act = isub.add_parser(action, help=f"{action} an instance")
        p_act.add_argument("name", help="workflow name")
        p_act.add_argument("id", help="instance id")
        add_state_arguments(p_act)
        p_act.set_defaults(func=_cmd_action, action=action)


# --- backends -----------------------------------------------------------------------------
def _api_path(base: str, path: str) -> str:
    # The server's internal URL may or may not already end in /_emulator.
    prefix = "/workflows" if base.rstrip("/").endswith("/_emulator") else "/_emulator/workflows"
    return prefix + path


def _server(state: StateDir, method: str, path: str) -> Any:
    base = running_server(state)
    if base is None:
        return None
    try:
        return call_server(base, method, _api_path(base, path))
    except ServerError as exc:
        detail = exc.payload.get("error") if isinstance(exc.payload, dict) else exc.payload
        raise CliError(str(detail)) from None
    except OSError as exc:
        raise CliError(f"cannot reach the running emulator at {base}: {exc}") from None


def _open(state: StateDir, readonly: bool) -> sqlite3.Connection:
    path = state.root / "workflows" / st.DB_FILENAME
    if not path.is_file():
        raise CliError(f"no workflow state in {state.root} (run `cf-emulator dev` first, or pass --persist-to DIR)")
    try:
        return st.connect(path, readonly=readonly)
    except sqlite3.Error as exc:
        raise CliError(f"cannot open {path}: {exc}") from None


def _run(func: Any, args: argparse.Namespace) -> int:
    try:
        return int(func(args, resolve_state_dir(args)) or 0)
    except CliError as exc:
        print(f"✘ {exc}", file=sys.stderr)
        return 1
    except sqlite3.Error as exc:
        print(f"✘ workflow state: {exc}", file=sys.stderr)
        return 1


# --- verbs -------------------------------------------------------------------------------
def _cmd_list(args: argparse.Namespace) -> int:
    return _run(_list, args)


def _list(args: argparse.Namespace, state: StateDir) -> int:
    remote = _server(state, "GET", "")
    if remote is not None:
        workflows = remote["workflows"]
    else:
        conn = _open(state, readonly=True)
        try:
            workflows = st.list_workflows(conn)
        finally:
            conn.close()
    if args.json:
        print_json(workflows)
        return 0
    if not workflows:
        print("No workflows.")
        return 0
    rows = [{"name": w["name"], "class": w.get("class_name") or "", "script": w.get("script_name") or "",
             "instances": w.get("total", 0),
             "by status": ", ".join(f"{k}={v}" for k, v in sorted(w.get("instances", {}).items()))}
            for w in workflows]
    print_table(rows, ["name", "class", "script", "instances", "by status"])
    return 0


def _cmd_instances_list(args: argparse.Namespace) -> int:
    return _run(_instances_list, args)


def _instances_list(args: argparse.Namespace, state: StateDir) -> int:
    params = {"status": args.status} if args.status else {}
    remote = _server(state, "GET", f"/{quote(args.name, safe='')}/instances?{urlencode(params)}")
    if remote is not None:
        instances = remote["instances"]
        while remote is not None and remote.get("cursor"):  # the server answers in pages
            params["cursor"] = remote["cursor"]
            remote = _server(state, "GET", f"/{quote(args.name, safe='')}/instances?{urlencode(params)}")
            if remote is not None:
                instances += remote["instances"]
    else:
        conn = _open(state, readonly=True)
        try:
            instances = st.list_instances(conn, args.name, args.status)
        finally:
            conn.close()
    if args.json:
        print_json(instances)
        return 0
    if not instances:
        print(f'No instances of workflow "{args.name}".')
        return 0
    rows = [{"id": i["id"], "status": i["status"], "created": i["created"] or "",
             "duration": "" if i["duration_ms"] is None else f"{i['duration_ms']} ms",
             "error": "" if not i["error"] else f"{i['error'].get('name')}: {i['error'].get('message')}"}
            for i in instances]
    print_table(rows, ["id", "status", "created", "duration", "error"])
    return 0


def _cmd_describe(args: argparse.Namespace) -> int:
    return _run(_describe, args)


def _describe(args: argparse.Namespace, state: StateDir) -> int:
    remote = _server(state, "GET", f"/{quote(args.name, safe='')}/instances/{quote(args.id, safe='')}")
    if remote is not None:
        found = remote
    else:
        conn = _open(state, readonly=True)
        try:
            found = st.describe_instance(conn, args.name, args.id)
        finally:
            conn.close()
    if found is None:
        raise CliError(f'(instance.not_found) no instance "{args.id}" of workflow "{args.name}"')
    if args.json:
        print_json(found)
        return 0
    print(f"Workflow:  {found['workflow']}")
    print(f"Instance:  {found['id']}")
    print(f"Status:    {found['status']}")
    print(f"Created:   {found['created']}")
    if found["started"]:
        print(f"Started:   {found['started']}")
    if found["ended"]:
        print(f"Ended:     {found['ended']}  ({found['duration_ms']} ms)")
    if found.get("output") is not None:
        print(f"Output:    {_short(found['output'])}")
    if found.get("error"):
        print(f"Error:     {found['error'].get('name')}: {found['error'].get('message')}")
    print()
    rows = []
    for s in found["steps"]:
        result = ""
        if s["error"]:
            result = f"{s['error'].get('name')}: {s['error'].get('message')}"
        elif s["output"] is not None:
            result = _short(s["output"])
        elif s["deadline"]:
            result = f"until {s['deadline']}"
        rows.append({"step": s["name"] if s["count"] == 1 else f"{s['name']} #{s['count']}",
                     "type": s["type"], "status": s["status"], "attempts": s["attempts"],
                     "start": s["start"] or "", "duration": "" if s["duration_ms"] is None else f"{s['duration_ms']} ms",
                     "output / error": result})
    if rows:
        print_table(rows, ["step", "type", "status", "attempts", "start", "duration", "output / error"])
    else:
        print("No steps yet.")
    return 0


def _short(value: Any, limit: int = 60) -> str:
    import json
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cmd_action(args: argparse.Namespace) -> int:
    return _run(_action, args)


def _action(args: argparse.Namespace, state: StateDir) -> int:
    path = f"/{quote(args.name, safe='')}/instances/{quote(args.id, safe='')}/{args.action}"
    remote = _server(state, "POST", path)
    if remote is not None:
        new_status = remote["status"]
    else:
        conn = _open(state, readonly=False)
        try:
            new_status = st.offline_action(conn, args.name, args.id, args.action, RealClock().now_ms())
        except st.OfflineActionError as exc:
            raise CliError(str(exc)) from None
        finally:
            conn.close()
        print("(no emulator running: state updated; the next `cf-emulator dev` honours it)")
    print(f'{args.action}: instance "{args.id}" of workflow "{args.name}" is now {new_status}')
    return 0
