"""The ``ccplane`` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

import grpc

from common import logging as ccplane_logging
from common.cli.client import add_runs_commands
from common.settings import Settings


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


async def _serve_until_signal(start: object) -> None:
    from common.cli.stack import Stack

    assert isinstance(start, Stack)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await start.start()
        print(f"ccplane control plane listening on {start.grpc_address} (gRPC)", flush=True)
        await stop.wait()
    finally:
        await start.stop()


def _up(args: argparse.Namespace) -> int:
    from common.cli.stack import Stack

    settings = _settings(args)
    ccplane_logging.configure(settings.log_level, settings.log_format, service="ccplane")
    asyncio.run(_serve_until_signal(Stack(settings)))
    return 0


def _control_plane(args: argparse.Namespace) -> int:
    return _up(args)


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
    up.set_defaults(handler=_up)

    cp = sub.add_parser("control-plane", help="start the control plane alone")
    cp.add_argument("--data-dir")
    cp.add_argument("--grpc-port", type=int)
    cp.set_defaults(handler=_control_plane)

    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("--data-dir")
    migrate.set_defaults(handler=_migrate)

    from executor.__main__ import add_arguments as add_executor_arguments
    from executor.__main__ import run as run_executor

    executor = sub.add_parser("executor", help="start one executor on its own")
    add_executor_arguments(executor)
    executor.set_defaults(handler=run_executor)

    add_runs_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except grpc.RpcError as exc:
        code = exc.code()
        print(f"error: {code.name}: {exc.details()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
