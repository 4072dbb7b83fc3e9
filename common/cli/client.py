"""Client commands of the ``ccplane`` CLI (runs, ...), over gRPC."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import grpc
from google.protobuf import json_format

from ccplane.v1 import common_pb2, runs_pb2, runs_pb2_grpc

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
    create.set_defaults(handler=_create)

    get = runs_sub.add_parser("get", help="show one run")
    get.add_argument("run_id")
    get.set_defaults(handler=_get)

    listing = runs_sub.add_parser("list", help="list runs, newest first")
    listing.add_argument("--status", action="append", default=[], help="queued, running, succeeded, ...")
    listing.add_argument("--workspace", default="")
    listing.add_argument("--page-size", type=int, default=20)
    listing.add_argument("--page-token", default="")
    listing.set_defaults(handler=_list)

    for p in (create, get, listing):
        p.add_argument("--address", default=None, help="control plane gRPC address (default 127.0.0.1:50051)")
        p.add_argument("--json", action="store_true", help="print proto3 JSON")


def _channel(args: argparse.Namespace) -> grpc.Channel:
    from common.cli.main import default_address

    return grpc.insecure_channel(args.address or default_address())


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
        run = runs_pb2_grpc.RunServiceStub(channel).CreateRun(request).run
    _print_run(run, args.json)
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
