"""``python -m executor`` / ``ccplane executor``: run one executor process."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from common import ids, tracing
from common import logging as ccplane_logging
from common.objectstore.url import open_store, store_url_from_env
from common.settings import Settings
from common.signals import wait_for_stop_signal
from executor.app import Executor
from executor.host_config import HostConfig
from executor.registration import ADVERTISE_HOST_ENV, Registration


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--executor-id", default="", help="executor id (a new one when omitted)")
    parser.add_argument("--host", default="127.0.0.1", help="listen host")
    parser.add_argument(
        "--advertise-host",
        default=os.environ.get(ADVERTISE_HOST_ENV, "").strip(),
        help="host part of the addresses it registers, which the manager, control planes and "
        "Prometheus dial (default: the listen host; with --host 0.0.0.0 the address of this "
        f"machine's name) ({ADVERTISE_HOST_ENV})",
    )
    parser.add_argument("--port", type=int, default=0, help="gRPC port (0: any free port)")
    parser.add_argument("--slots", type=int, default=4, help="concurrent sessions")
    parser.add_argument(
        "--data-dir", default="", help="executor data directory (default <data-dir>/executors/<id>)"
    )
    parser.add_argument(
        "--threads-dir",
        default="",
        help="agent thread state shared by this host's executors (default <data-dir>/threads)",
    )
    parser.add_argument("--manager", default="", help="executor-manager address to register with")
    parser.add_argument("--backend", default="external", help="backend name reported at registration")
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=0,
        help="/metrics port, on the --host address (0: any free port; negative: none)",
    )


async def serve(args: argparse.Namespace) -> None:
    settings = Settings()
    executor_id = args.executor_id or ids.new_id(ids.EXECUTOR)
    data_dir = (
        Path(args.data_dir) if args.data_dir else settings.resolved_data_dir() / "executors" / executor_id
    )
    threads_dir = Path(args.threads_dir) if args.threads_dir else settings.resolved_data_dir() / "threads"
    objects = open_store(
        store_url_from_env(settings.resolved_data_dir()), data_dir=settings.resolved_data_dir()
    )
    executor = Executor(
        HostConfig(
            executor_id=executor_id,
            data_dir=data_dir,
            slots=args.slots,
            threads_dir=threads_dir,
            objects=objects,
            shutdown_grace=settings.shutdown_grace,
            replay_capacity=settings.executor_replay_capacity,
        ),
        metrics_port=args.metrics_port,
        advertise_host=args.advertise_host,
    )
    await executor.start(args.host, args.port)
    registration = Registration(executor, args.manager, backend=args.backend)
    await registration.start()
    print(
        f"ccplane executor {executor_id} listening on {executor.listen_address}, "
        f"advertised as {executor.address}",
        flush=True,
    )
    try:
        await wait_for_stop_signal()
    finally:
        await executor.drain()
        await registration.stop()
        await executor.stop()
        await objects.close()


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    ccplane_logging.configure(settings.log_level, settings.log_format, service="executor")
    tracing.configure("ccplane-executor")
    try:
        asyncio.run(serve(args))
    finally:
        tracing.shutdown()  # at process exit: the spans still buffered go out
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ccplane executor", description="run one ccplane executor")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
