"""The ``ccplane`` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

from common import logging as ccplane_logging
from common import tracing
from common.settings import Settings
from common.signals import wait_for_stop_signal


def default_address() -> str:
    return os.environ.get("CCPLANE_ADDRESS", "127.0.0.1:50051")


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings()
    if getattr(args, "data_dir", None):
        settings.data_dir = Path(args.data_dir)
    if getattr(args, "grpc_port", None) is not None:
        settings.grpc_port = args.grpc_port
    if getattr(args, "gateway_port", None) is not None:
        settings.gateway_port = args.gateway_port
    return settings


async def _serve_until_signal(service: Any, started: Callable[[], None]) -> None:
    try:
        await service.start()
        started()
        await wait_for_stop_signal()
    finally:
        await service.stop()
        # Every service of this process has stopped: the spans still buffered go out.
        await asyncio.to_thread(tracing.shutdown)


def _up(args: argparse.Namespace) -> int:
    from common.cli.stack import Stack, StackOptions

    settings = _settings(args)
    ccplane_logging.configure(settings.log_level, settings.log_format, service="ccplane")
    # One process, several services: one service.name (their tracers name each).
    tracing.configure("ccplane")
    options = StackOptions(
        demo=args.demo,
        scenario=args.scenario,
        min_executors=args.executors,
        max_executors=max(args.executors, args.max_executors),
        slots_per_executor=args.slots,
        metrics_port=args.metrics_port,
    )
    stack = Stack(settings, options)

    def started() -> None:
        assert stack.manager is not None
        assert stack.gateway is not None
        workbench = (
            f"Workbench: {stack.gateway.url}/ (sign in with the admin key below)"
            if stack.gateway.portal_dir is not None
            else "Workbench: not built (`make install` builds portal/dist)"
        )
        lines = [
            workbench,
            f"ccplane is up: REST gateway {stack.gateway.url}, control plane {stack.grpc_address} (gRPC), "
            f"executor-manager {stack.manager.address}, data in {settings.resolved_data_dir()}",
            f"API key of the default tenant's admin: {settings.resolved_data_dir() / 'admin.key'} "
            "(ccplane commands send it; HTTP and gRPC clients send `authorization: Bearer <key>`)",
        ]
        if stack.model is not None:
            lines.append(
                f"DEMO MODE: executors talk to the bundled SCRIPTED model at {stack.model.base_url} "
                f"(model {stack.model.model!r}, scenario {stack.model.scenario.name!r}); it is not an LLM."
            )
        elif problem := stack.credentials_problem:
            lines.append(f"warning: {problem}. Runs will fail until a model is configured;")
            lines.append(
                "         `ccplane up --demo` serves the bundled scripted model instead (not an LLM)."
            )
        endpoints = stack.endpoints()
        metrics = [
            endpoints[k] for k in ("control_plane_metrics", "executor_manager_metrics") if endpoints[k]
        ]
        if metrics:
            lines.append(
                f"Metrics: {', '.join(metrics)}, {endpoints['gateway_metrics']}; "
                f"executors for Prometheus: {endpoints['executor_sd']}"
            )
        lines.append(f"Endpoints: {stack.write_endpoints()}")
        print("\n".join(lines), flush=True)

    asyncio.run(_serve_until_signal(stack, started))
    return 0


def _control_plane(args: argparse.Namespace) -> int:
    from control_plane.app import ControlPlane

    settings = _settings(args)
    ccplane_logging.configure(settings.log_level, settings.log_format, service="control-plane")
    tracing.configure("ccplane-control-plane")
    if not settings.database_url:
        raise SystemExit(
            "ccplane control-plane needs CCPLANE_DATABASE_URL (use `ccplane up` for the embedded one)"
        )
    plane = ControlPlane(settings, settings.database_url, args.executor_manager or "")

    def started() -> None:
        print(f"ccplane control plane listening on {plane.address} (gRPC)", flush=True)

    asyncio.run(_serve_until_signal(plane, started))
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from common.db.embedded import EmbeddedPostgres
    from common.db.migrate import upgrade_sync

    settings = _settings(args)
    ccplane_logging.configure(settings.log_level, "text")
    if settings.database_url:
        upgrade_sync(settings.database_url)
        print("migrations applied")
        return 0
    with EmbeddedPostgres(settings.resolved_data_dir()) as embedded:
        upgrade_sync(embedded.url)
    print(f"migrations applied (embedded PostgreSQL in {settings.resolved_data_dir()})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ccplane", description="ccplane: run Codex agents with a human in the loop"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start the whole platform on this machine")
    up.add_argument("--data-dir", help="data directory (default ./.ccplane)")
    up.add_argument("--grpc-port", type=int, help="control plane gRPC port (default 50051)")
    up.add_argument("--gateway-port", type=int, help="REST gateway port (default 3001)")
    up.add_argument("--demo", action="store_true", help="serve the bundled scripted model (not an LLM)")
    up.add_argument("--scenario", default="demo", help="scripted model scenario: built-in name or JSON file")
    up.add_argument("--executors", type=int, default=1, help="executors kept warm (default 1)")
    up.add_argument("--max-executors", type=int, default=4, help="executors at most (default 4)")
    up.add_argument("--slots", type=int, default=4, help="concurrent sessions per executor (default 4)")
    up.add_argument(
        "--metrics-port",
        type=int,
        help="control plane /metrics port; the executor-manager's is the next one (default 9464, 9465)",
    )
    up.set_defaults(handler=_up)

    cp = sub.add_parser("control-plane", help="start the control plane alone (needs CCPLANE_DATABASE_URL)")
    cp.add_argument("--grpc-port", type=int)
    cp.add_argument(
        "--executor-manager", help="executor-manager address (default $CCPLANE_EXECUTOR_MANAGER_ADDR)"
    )
    cp.set_defaults(handler=_control_plane)

    from executor_manager.__main__ import add_arguments as add_manager_arguments
    from executor_manager.__main__ import run as run_manager

    manager = sub.add_parser("executor-manager", help="start the executor-manager alone")
    add_manager_arguments(manager, Settings())
    manager.set_defaults(handler=run_manager)

    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("--data-dir")
    migrate.set_defaults(handler=_migrate)

    from gateway.__main__ import add_arguments as add_gateway_arguments
    from gateway.__main__ import run as run_gateway

    gateway = sub.add_parser("gateway", help="start the REST gateway in front of a running control plane")
    add_gateway_arguments(gateway, Settings())
    gateway.set_defaults(handler=run_gateway)

    from executor.__main__ import add_arguments as add_executor_arguments
    from executor.__main__ import run as run_executor

    executor = sub.add_parser("executor", help="start one executor on its own")
    add_executor_arguments(executor)
    executor.set_defaults(handler=run_executor)

    from common.cli.health import add_arguments as add_health_arguments

    health = sub.add_parser("health", help="exit 0 when a service is SERVING (container health checks)")
    add_health_arguments(health)

    # Imported here: `ccplane health` (main's fast path) never needs them.
    from common.cli.client import add_runs_commands
    from common.cli.keys import add_api_key_commands

    add_runs_commands(sub)
    add_api_key_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["health"]:
        # Run every few seconds by container health checks: skip the other commands' imports.
        from common.cli import health

        return health.main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except grpc.RpcError as exc:
        code = exc.code()
        print(f"error: {code.name}: {exc.details()}", file=sys.stderr)
        if code == grpc.StatusCode.UNAUTHENTICATED:
            print(
                "hint: set CCPLANE_API_KEY (`ccplane api-keys create --tenant T` makes one), "
                "or CCPLANE_DATA_DIR to the installation whose admin.key to send",
                file=sys.stderr,
            )
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
