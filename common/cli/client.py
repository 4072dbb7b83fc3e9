"""Client commands of the ``ccplane`` CLI (runs, ...), over gRPC."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import grpc
from google.protobuf import json_format

from ccplane.v1 import common_pb2, events_pb2, runs_pb2, runs_pb2_grpc
from common.settings import Settings

_APPROVAL = {"never": 1, "on-request": 2, "on-failure": 3, "untrusted": 4}
_SANDBOX = {"read-only": 1, "workspace-write": 2, "danger-full-access": 3}
_THREAD = {"persistent": 1, "stateless": 2}


def add_runs_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    runs = sub.add_parser("runs", help="create, inspect and list runs")
    runs_sub = runs.add_subparsers(dest="runs_command", required=True)

    create = runs_sub.add_parser("create", help="start a run")
    create.add_argument("--prompt", required=True)
    create.add_argument("--workspace", default="", help="workspace id (a new workspace when omitted)")
    create.add_argument("--provider", default="")
    create.add_argument("--model", default="")
    create.add_argument("--approval-mode", choices=sorted(_APPROVAL))
    create.add_argument("--sandbox-mode", choices=sorted(_SANDBOX))
    create.add_argument("--thread-mode", choices=sorted(_THREAD))
    create.add_argument("--resume-thread", default="")
    create.add_argument("--require-human-loop", action="store_true")
    create.add_argument("--label", action="append", default=[], metavar="KEY=VALUE")
    create.add_argument("--request-id", default="")
    create.add_argument(
        "--follow", action="store_true", help="print the run's events live; exit with its outcome"
    )
    create.set_defaults(handler=_create)

    events = runs_sub.add_parser("events", help="print a run's events (replay, then follow live)")
    events.add_argument("run_id")
    events.add_argument("--after-seq", type=int, default=0)
    events.set_defaults(handler=_events)

    stop = runs_sub.add_parser("stop", help="stop a run")
    stop.add_argument("run_id")
    stop.add_argument("--reason", default="")
    stop.set_defaults(handler=_stop)

    interrupt = runs_sub.add_parser("interrupt", help="end the running turn (the run stays usable)")
    interrupt.add_argument("run_id")
    interrupt.add_argument("--reason", default="")
    interrupt.set_defaults(handler=_interrupt)

    send = runs_sub.add_parser("send", help="send a message to a run (steer, or follow up a finished run)")
    send.add_argument("run_id")
    send.add_argument("text")
    send.set_defaults(handler=_send)

    get = runs_sub.add_parser("get", help="show one run")
    get.add_argument("run_id")
    get.set_defaults(handler=_get)

    listing = runs_sub.add_parser("list", help="list runs, newest first")
    listing.add_argument("--status", action="append", default=[], help="queued, running, succeeded, ...")
    listing.add_argument("--workspace", default="")
    listing.add_argument("--page-size", type=int, default=20)
    listing.add_argument("--page-token", default="")
    listing.set_defaults(handler=_list)

    for p in (create, get, listing, events, stop, interrupt, send):
        p.add_argument("--address", default=None, help="control plane gRPC address (default 127.0.0.1:50051)")
        p.add_argument("--json", action="store_true", help="print proto3 JSON")


def _channel(args: argparse.Namespace) -> grpc.Channel:
    from common.cli.main import default_address

    channel = grpc.insecure_channel(args.address or default_address())
    key = api_key()
    if not key:
        return channel
    return grpc.intercept_channel(channel, _BearerToken(key))


def api_key() -> str:
    """``CCPLANE_API_KEY``, else the embedded installation's ``<data-dir>/admin.key``."""
    key = os.environ.get("CCPLANE_API_KEY", "").strip()
    if key:
        return key
    path = Settings().resolved_data_dir() / "admin.key"
    return path.read_text().strip() if path.is_file() else ""


class _BearerToken(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Sends ``authorization: Bearer <key>`` with every call."""

    def __init__(self, key: str) -> None:
        self._header = ("authorization", f"Bearer {key}")

    def _details(self, details: Any) -> Any:
        return details._replace(metadata=[*(details.metadata or []), self._header])

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)


def _create(args: argparse.Namespace) -> int:
    settings = runs_pb2.RunSettings()
    if args.approval_mode:
        settings.approval_mode = _APPROVAL[args.approval_mode]  # type: ignore[assignment]
    if args.sandbox_mode:
        settings.sandbox_mode = _SANDBOX[args.sandbox_mode]  # type: ignore[assignment]
    if args.thread_mode:
        settings.thread_mode = _THREAD[args.thread_mode]  # type: ignore[assignment]
    labels = {}
    for item in args.label:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--label expects KEY=VALUE, got {item!r}")
        labels[key] = value
    request = runs_pb2.CreateRunRequest(
        prompt=args.prompt,
        workspace_id=args.workspace,
        provider=args.provider,
        model=args.model,
        settings=settings,
        require_human_loop=args.require_human_loop,
        resume_thread_id=args.resume_thread,
        request_id=args.request_id,
        labels=labels,
    )
    with _channel(args) as channel:
        stub = runs_pb2_grpc.RunServiceStub(channel)
        run = stub.CreateRun(request).run
        _print_run(run, args.json)
        if not args.follow:
            return 0
        print(flush=True)
        return _follow(stub, run.id, 0, args.json)


# Exit codes of --follow and `runs events`: the run's outcome.
EXIT_CODES = {"succeeded": 0, "failed": 1, "canceled": 3, "lost": 4}


def _follow(stub: runs_pb2_grpc.RunServiceStub, run_id: str, after_seq: int, as_json: bool) -> int:
    status = ""
    for event in stub.StreamRunEvents(runs_pb2.StreamRunEventsRequest(run_id=run_id, after_seq=after_seq)):
        if event.type == "run.status_changed":
            status = _status(event.status_changed.status)
        line = json_format.MessageToJson(event, indent=None) if as_json else render_event(event)
        if line:
            print(line, flush=True)
    return EXIT_CODES.get(status, 1)


def render_event(event: events_pb2.RunEvent) -> str:
    """One readable line per event (message deltas are left out)."""
    kind = event.type
    head = f"{event.seq:>5} {kind:<22}"
    if kind == "run.status_changed":
        change = event.status_changed
        text = f"{_status(change.previous_status) or '-'} -> {_status(change.status)} ({change.reason})"
        return head + text + (f": {change.error}" if change.error else "")
    if kind == "message.delta":
        return ""
    if kind == "message.completed":
        return head + event.message_completed.text
    if kind == "message.user":
        return head + event.user_message.text
    if kind == "command.started":
        return head + "$ " + event.command_started.command
    if kind == "command.completed":
        done = event.command_completed
        code = done.exit_code if done.HasField("exit_code") else "-"
        return head + f"exit {code}" + (f": {_shorten(done.output, 80)}" if done.output.strip() else "")
    if kind == "human_loop.requested":
        asked = event.human_loop_requested
        return head + f"{asked.question_id} waits for an answer (ccplane human-loop reply {event.run_id} ...)"
    if kind == "usage.updated":
        return head + f"{event.usage_updated.total.total_tokens} tokens so far"
    if kind in ("warning", "error"):
        return head + (event.warning.message if kind == "warning" else event.error.message)
    if kind == "turn.completed":
        return (
            head
            + events_pb2.TurnStatus.Name(event.turn_completed.status).removeprefix("TURN_STATUS_").lower()
        )
    if kind == "provider.raw":
        return ""
    return head.rstrip()


def _events(args: argparse.Namespace) -> int:
    with _channel(args) as channel:
        return _follow(runs_pb2_grpc.RunServiceStub(channel), args.run_id, args.after_seq, args.json)


def _stop(args: argparse.Namespace) -> int:
    with _channel(args) as channel:
        run = (
            runs_pb2_grpc.RunServiceStub(channel)
            .StopRun(runs_pb2.StopRunRequest(run_id=args.run_id, reason=args.reason))
            .run
        )
    _print_run(run, args.json)
    return 0


def _interrupt(args: argparse.Namespace) -> int:
    with _channel(args) as channel:
        run = (
            runs_pb2_grpc.RunServiceStub(channel)
            .InterruptRun(runs_pb2.InterruptRunRequest(run_id=args.run_id, reason=args.reason))
            .run
        )
    _print_run(run, args.json)
    return 0


def _send(args: argparse.Namespace) -> int:
    with _channel(args) as channel:
        sent = runs_pb2_grpc.RunServiceStub(channel).SendMessage(
            runs_pb2.SendMessageRequest(run_id=args.run_id, text=args.text)
        )
    delivery = runs_pb2.MessageDelivery.Name(sent.delivery).removeprefix("MESSAGE_DELIVERY_").lower()
    print(f"delivered as {delivery}; run {sent.run.id} is {_status(sent.run.status)}")
    return 0


def _get(args: argparse.Namespace) -> int:
    with _channel(args) as channel:
        run = runs_pb2_grpc.RunServiceStub(channel).GetRun(runs_pb2.GetRunRequest(run_id=args.run_id)).run
    _print_run(run, args.json)
    return 0


def _list(args: argparse.Namespace) -> int:
    statuses = ["RUN_STATUS_" + s.upper() for s in args.status]

    request = runs_pb2.ListRunsRequest(
        page_size=args.page_size, page_token=args.page_token, status=statuses, workspace_id=args.workspace
    )
    with _channel(args) as channel:
        response = runs_pb2_grpc.RunServiceStub(channel).ListRuns(request)
    if args.json:
        print(json_format.MessageToJson(response))
        return 0
    rows = [("RUN", "STATUS", "CREATED", "PROMPT")]
    for run in response.runs:
        created = run.created_at.ToDatetime().strftime("%Y-%m-%d %H:%M:%S")
        rows.append((run.id, _status(run.status), created, _shorten(run.prompt, 50)))
    _table(rows)
    if response.next_page_token:
        print(f"\nnext page: --page-token {response.next_page_token}")
    return 0


def _status(value: int) -> str:
    if not value:
        return ""
    return common_pb2.RunStatus.Name(value).removeprefix("RUN_STATUS_").lower()


def _shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


def _print_run(run: runs_pb2.Run, as_json: bool) -> None:
    if as_json:
        print(json_format.MessageToJson(run))
        return
    fields = [
        ("id", run.id),
        ("status", _status(run.status)),
        ("workspace", run.workspace_id),
        ("provider", run.provider),
        ("model", run.model),
        ("thread", run.thread_id or "-"),
        ("created", run.created_at.ToDatetime().isoformat() + "Z"),
        ("prompt", _shorten(run.prompt, 100)),
    ]
    if run.error:
        fields.append(("error", run.error))
    if run.usage.total_tokens:
        fields.append(("tokens", str(run.usage.total_tokens)))
    if run.labels:
        fields.append(("labels", json.dumps(dict(run.labels))))
    width = max(len(k) for k, _ in fields)
    for key, value in fields:
        sys.stdout.write(f"{key.ljust(width)}  {value}\n")
