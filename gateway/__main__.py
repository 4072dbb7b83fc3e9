"""``python -m gateway``: run the REST gateway alone, in front of a running control plane.

``ccplane gateway`` uses :func:`add_arguments` and :func:`run` too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from common import logging as ccplane_logging
from common.settings import Settings
from common.signals import wait_for_stop_signal
from gateway.server import Gateway
from gateway.transcoder import DEFAULT_MAX_BODY_BYTES

DEFAULT_PORTAL_DIR = Path("portal") / "dist"


def add_arguments(parser: argparse.ArgumentParser, settings: Settings) -> None:
    parser.add_argument(
        "--control-plane",
        default=os.environ.get("CCPLANE_ADDRESS", f"127.0.0.1:{settings.grpc_port}"),
        help="control plane gRPC address (default $CCPLANE_ADDRESS or 127.0.0.1:50051)",
    )
    parser.add_argument("--host", default=os.environ.get("CCPLANE_GATEWAY_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=settings.gateway_port, help="HTTP port (0: any)")
    parser.add_argument(
        "--portal-dir",
        default=os.environ.get("CCPLANE_PORTAL_DIR", str(DEFAULT_PORTAL_DIR)),
        help="built portal served at / when the directory exists (default portal/dist)",
    )
    parser.add_argument("--descriptor-set", default=None, help="default: gen/ccplane.binpb")
    parser.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES)
    parser.add_argument("--keepalive", type=float, default=15.0, help="seconds between SSE keep-alives")


def gateway_from_args(args: argparse.Namespace) -> Gateway:
    return Gateway(
        args.control_plane,
        portal_dir=args.portal_dir or None,
        descriptor_set=args.descriptor_set,
        max_body_bytes=args.max_body_bytes,
        keepalive_interval=args.keepalive,
    )


async def serve(args: argparse.Namespace) -> None:
    gateway = gateway_from_args(args)
    try:
        await gateway.start(args.host, args.port)
        print(f"ccplane gateway listening on {gateway.url} (control plane {args.control_plane})", flush=True)
        await wait_for_stop_signal()
    finally:
        await gateway.stop()


def run(args: argparse.Namespace) -> int:
    """Run with parsed arguments (also ``ccplane gateway``)."""
    settings = Settings()
    ccplane_logging.configure(settings.log_level, settings.log_format, service="gateway")
    asyncio.run(serve(args))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gateway", description="run the ccplane REST gateway")
    add_arguments(parser, Settings())
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
