"""``python -m executor_manager``: run the executor-manager.

Reads ``CCPLANE_*`` settings (database URL, data directory, port); flags
override them. Without a database URL it uses the embedded PostgreSQL in the
data directory, like ``ccplane up``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from common import logging as ccplane_logging
from common import tracing
from common.db.embedded import EmbeddedPostgres
from common.settings import Settings
from common.signals import wait_for_stop_signal
from executor_manager.app import ExecutorManager
from executor_manager.config import BACKENDS, EXECUTOR_IMAGE_ENV, ManagerConfig

_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def byte_size(text: str) -> int:
    """``4g``, ``512m``, ``1048576``: a size in bytes (binary units)."""
    raw = text.strip().lower().removesuffix("ib").removesuffix("b")
    unit = raw[-1:] if raw[-1:] in _SIZE_UNITS else ""
    try:
        value = float(raw[: len(raw) - len(unit)])
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (examples: 4g, 512m)") from None
    if value < 0:
        raise argparse.ArgumentTypeError("a size must not be negative")
    return int(value * _SIZE_UNITS[unit])


def add_arguments(parser: argparse.ArgumentParser, settings: Settings) -> None:
    defaults = ManagerConfig()
    parser.add_argument("--host", default=settings.grpc_host)
    parser.add_argument("--port", type=int, default=settings.executor_manager_port, help="gRPC port (0: any)")
    parser.add_argument("--data-dir", default=str(settings.data_dir), help="executors' data and logs go here")
    parser.add_argument("--database-url", default=settings.database_url, help="PostgreSQL URL")
    parser.add_argument(
        "--backend",
        default=defaults.backend,
        choices=BACKENDS,
        help="local: child processes; external: executors started by others register themselves "
        "(Kubernetes, compose); docker: containers through the Docker Engine API",
    )
    parser.add_argument("--min-executors", type=int, default=defaults.min_executors)
    parser.add_argument("--max-executors", type=int, default=defaults.max_executors)
    parser.add_argument("--slots", type=int, default=defaults.slots_per_executor, help="slots per executor")
    parser.add_argument("--heartbeat-interval", type=float, default=defaults.heartbeat_interval)
    parser.add_argument(
        "--heartbeat-timeout",
        type=float,
        default=settings.executor_heartbeat_timeout,
        help="silence after which an executor is unhealthy (CCPLANE_EXECUTOR_HEARTBEAT_TIMEOUT)",
    )
    parser.add_argument(
        "--stop-grace",
        type=float,
        default=settings.shutdown_grace + 10,
        help="seconds a stopping executor has before it is killed (default: CCPLANE_SHUTDOWN_GRACE + 10)",
    )
    parser.add_argument(
        "--idle-timeout", type=float, default=defaults.idle_timeout, help="0: keep idle executors"
    )
    parser.add_argument(
        "--advertise-address",
        default="",
        help="host:port executors dial to reach the manager (default: the listen address, loopback "
        "when listening on every interface); with the docker backend, an address the containers "
        "reach, for example the bridge gateway 172.17.0.1:PORT",
    )
    docker = parser.add_argument_group("docker backend")
    docker.add_argument(
        "--executor-image",
        default=defaults.executor_image,
        help=f"image of the executor containers ({EXECUTOR_IMAGE_ENV})",
    )
    docker.add_argument(
        "--docker-network", default=defaults.docker_network, help="network the containers join"
    )
    docker.add_argument(
        "--docker-url",
        default=defaults.docker_url,
        help="Docker Engine API (default: DOCKER_HOST or the socket)",
    )
    docker.add_argument(
        "--executor-memory",
        type=byte_size,
        default=defaults.executor_memory_bytes,
        help="memory limit per container, e.g. 4g (0: none)",
    )
    docker.add_argument(
        "--executor-cpus", type=float, default=defaults.executor_cpus, help="CPUs per container (0: no limit)"
    )
    docker.add_argument(
        "--executor-pids",
        type=int,
        default=defaults.executor_pids,
        help="processes per container (0: no limit)",
    )
    parser.add_argument(
        "--metrics-host", default=settings.metrics_host, help="/metrics host (CCPLANE_METRICS_HOST)"
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=settings.executor_manager_metrics_port,
        help="/metrics and /sd/executors port; 0: any, <0: none (CCPLANE_EXECUTOR_MANAGER_METRICS_PORT)",
    )


def config_from_args(args: argparse.Namespace) -> ManagerConfig:
    return ManagerConfig(
        data_dir=Path(args.data_dir),
        backend=args.backend,
        min_executors=args.min_executors,
        max_executors=args.max_executors,
        slots_per_executor=args.slots,
        heartbeat_interval=args.heartbeat_interval,
        heartbeat_timeout=args.heartbeat_timeout,
        stop_grace=args.stop_grace,
        idle_timeout=args.idle_timeout or None,
        advertise_address=args.advertise_address,
        metrics_host=args.metrics_host,
        metrics_port=args.metrics_port,
        executor_image=args.executor_image,
        docker_network=args.docker_network,
        docker_url=args.docker_url,
        executor_memory_bytes=args.executor_memory,
        executor_cpus=args.executor_cpus,
        executor_pids=args.executor_pids,
    )


async def serve(args: argparse.Namespace) -> None:
    config = config_from_args(args)
    embedded: EmbeddedPostgres | None = None
    database_url = args.database_url
    if not database_url:
        embedded = EmbeddedPostgres(config.data_dir)
        database_url = await asyncio.to_thread(embedded.start)
    manager = ExecutorManager(config, database_url)
    try:
        await manager.start(args.host, args.port)
        print(f"ccplane executor-manager listening on {manager.address}", flush=True)
        if manager.metrics_url:
            print(f"ccplane executor-manager metrics on {manager.metrics_url}/metrics", flush=True)
        await wait_for_stop_signal()
    finally:
        await manager.stop()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


def run(args: argparse.Namespace) -> int:
    """Run with parsed arguments (also ``ccplane executor-manager``)."""
    settings = Settings()
    try:
        config_from_args(args)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    ccplane_logging.configure(settings.log_level, settings.log_format, service="executor-manager")
    tracing.configure("ccplane-executor-manager")
    try:
        asyncio.run(serve(args))
    finally:
        tracing.shutdown()  # at process exit: the spans still buffered go out
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="executor_manager", description="run the ccplane executor-manager")
    add_arguments(parser, Settings())
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
