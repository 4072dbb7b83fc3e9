"""``ccplane health``: is a ccplane service up? For container health checks.

Three ways to name what to check:

- ``--address HOST:PORT [--service NAME]``: ``grpc.health.v1.Health/Check``
  (the control plane, the executor-manager, an executor; NAME defaults to
  the server as a whole, ``""``).
- ``--http URL``: an HTTP GET that must answer 2xx (the gateway's
  ``/healthz``, which itself asks the control plane's health service).
- Neither: the service this container runs, read from its main process's
  command line (``ccplane control-plane``, ``ccplane gateway --port 3001``,
  …) and the ``CCPLANE_*`` defaults, so one image-wide ``HEALTHCHECK`` fits
  every service.

Exit status 0 when the target is SERVING (or answers 2xx), 1 otherwise, 2 when
there is nothing to check; one line on stdout or stderr says why. It imports
only grpc, so a check every few seconds stays cheap.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

# The services `ccplane` starts, and how each one's health is reached.
GRPC_SERVICES = {
    # service: (port flags, port variable, default port)
    "control-plane": (("--grpc-port",), "CCPLANE_GRPC_PORT", 50051),
    "executor-manager": (("--port",), "CCPLANE_EXECUTOR_MANAGER_PORT", 50052),
    "executor": (("--port",), "", 0),
}
HTTP_SERVICES = {
    "gateway": (("--port",), "CCPLANE_GATEWAY_PORT", 3001),
    "up": (("--gateway-port",), "CCPLANE_GATEWAY_PORT", 3001),
}
WILDCARD_HOSTS = {"", "0.0.0.0", "::", "[::]"}
INIT_NAMES = {"docker-init", "tini", "dumb-init", "init"}


@dataclass(frozen=True)
class Target:
    """What to check: a gRPC address (and service name), or an HTTP URL."""

    address: str = ""
    service: str = ""
    url: str = ""

    def __str__(self) -> str:
        if self.url:
            return self.url
        return f"{self.address} (service {self.service!r})" if self.service else self.address


class NothingToCheck(Exception):
    """The container runs no long-lived ccplane service (or none was found)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--address", default="", help="gRPC address HOST:PORT to ask grpc.health.v1")
    parser.add_argument("--service", default="", help="service name to ask about (default: the server)")
    parser.add_argument("--http", default="", metavar="URL", help="an HTTP URL that must answer 2xx")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the answer")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ccplane health",
        description="exit 0 when a ccplane service is SERVING (grpc.health.v1) or its URL answers 2xx",
    )
    add_arguments(parser)
    return parser


def _flag(argv: Sequence[str], names: Sequence[str]) -> str | None:
    """The value of the last of ``names`` in ``argv`` (``--x V`` or ``--x=V``)."""
    value = None
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                value = argv[i + 1]
            elif arg.startswith(name + "="):
                value = arg.split("=", 1)[1]
    return value


def _dial_host(bound: str | None) -> str:
    """Where to reach a server bound to ``bound`` from inside its own container."""
    host = (bound or "").strip()
    if host in WILDCARD_HOSTS:
        return "127.0.0.1"
    return host


def target_for(argv: Sequence[str], env: Mapping[str, str]) -> Target:
    """The health target of ``ccplane SERVICE ARGS…`` (``argv`` starts at SERVICE)."""
    if not argv:
        raise NothingToCheck("no ccplane service named")
    service, args = argv[0], list(argv[1:])
    if service in GRPC_SERVICES:
        flags, variable, default = GRPC_SERVICES[service]
        port = _flag(args, flags) or (env.get(variable, "") if variable else "") or str(default)
        if port in ("", "0"):
            raise NothingToCheck(f"`ccplane {service}` listens on a port of its choosing: pass --address")
        bound = _flag(args, ("--host",))
        if bound is None and service != "executor":  # both default to CCPLANE_GRPC_HOST
            bound = env.get("CCPLANE_GRPC_HOST", "127.0.0.1")
        return Target(address=f"{_dial_host(bound)}:{port}")
    if service in HTTP_SERVICES:
        flags, variable, default = HTTP_SERVICES[service]
        port = _flag(args, flags) or env.get(variable, "") or str(default)
        bound = _flag(args, ("--host",)) if service == "gateway" else None
        if bound is None:
            bound = env.get("CCPLANE_GATEWAY_HOST", "127.0.0.1")
        return Target(url=f"http://{_dial_host(bound)}:{port}/healthz")
    raise NothingToCheck(f"`ccplane {service}` is not a long-lived service")


def ccplane_argv(cmdline: Sequence[str]) -> list[str] | None:
    """``SERVICE ARGS…`` when ``cmdline`` runs the ``ccplane`` command, else None."""
    for i, arg in enumerate(cmdline):
        if Path(arg).name == "ccplane" and i + 1 < len(cmdline):
            return list(cmdline[i + 1 :])
        if arg == "-m" and cmdline[i + 1 : i + 2] == ["common.cli.main"]:
            return list(cmdline[i + 2 :])
    return None


def _cmdline(pid: str) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def container_service(proc: Path = Path("/proc")) -> list[str]:
    """``SERVICE ARGS…`` of the ccplane service this container runs: its main
    process (PID 1), or, under an init (``init: true``), the first ccplane
    process after it."""
    own = {str(os.getpid()), str(os.getppid())}
    pids = sorted((p.name for p in proc.iterdir() if p.name.isdigit()), key=int)
    for pid in pids:
        if pid in own:
            continue
        cmdline = _cmdline(pid)
        argv = ccplane_argv(cmdline)
        if argv and argv[0] != "health":
            return argv
        if pid == "1" and cmdline and Path(cmdline[0]).name not in INIT_NAMES:
            break  # PID 1 is something else than ccplane or an init: not ours to guess
    raise NothingToCheck("no ccplane service runs in this container; pass --address or --http")


def check_grpc(address: str, service: str, timeout: float) -> tuple[bool, str]:
    """(serving, message) of ``grpc.health.v1.Health/Check`` at ``address``."""
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as exc:
            code = exc.code()
            if code == grpc.StatusCode.NOT_FOUND:
                return False, f"unknown service {service!r} ({exc.details()})"
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                return False, f"unreachable ({code.name}: {exc.details()})"
            return False, f"{code.name}: {exc.details()}"
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    return reply.status == health_pb2.HealthCheckResponse.SERVING, status


def check_http(url: str, timeout: float) -> tuple[bool, str]:
    """(2xx, message) of a GET of ``url``."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            body = reply.read(200).decode(errors="replace").strip()
            return 200 <= reply.status < 300, f"HTTP {reply.status} {body}"
    except urllib.error.HTTPError as exc:
        body = exc.read(200).decode(errors="replace").strip()
        return False, f"HTTP {exc.code} {body}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"unreachable ({reason})"


def check(target: Target, timeout: float) -> tuple[bool, str]:
    if target.url:
        return check_http(target.url, timeout)
    return check_grpc(target.address, target.service, timeout)


def run(args: argparse.Namespace) -> int:
    if args.address and args.http:
        print("ccplane health: give --address or --http, not both", file=sys.stderr)
        return 2
    try:
        if args.http:
            target = Target(url=args.http)
        elif args.address:
            target = Target(address=args.address, service=args.service)
        else:
            target = target_for(container_service(), os.environ)
            if args.service:
                target = Target(address=target.address, service=args.service, url=target.url)
    except NothingToCheck as exc:
        print(f"ccplane health: {exc}", file=sys.stderr)
        return 2
    serving, message = check(target, args.timeout)
    if serving:
        print(f"{target}: {message}")
        return 0
    print(f"{target}: not serving: {message}", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
