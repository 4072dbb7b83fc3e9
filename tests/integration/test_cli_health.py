"""``ccplane health``: the container health check, against a real control plane.

The command is what the Dockerfile's HEALTHCHECK and the compose file run:
exit 0 for SERVING, 1 for anything else with a line that says why, 2 when
there is nothing to check.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from common.cli import health
from control_plane.app import ControlPlane

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def ccplane_health(*args: str) -> tuple[int, str]:
    """``ccplane health ARGS`` as a process, the way a container runs it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "common.cli.main",
        "health",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_serving_control_plane_exits_0(control_plane: ControlPlane) -> None:
    code, out = await ccplane_health("--address", control_plane.address)
    assert code == 0, out
    assert "SERVING" in out


async def test_a_named_service_is_checked(control_plane: ControlPlane) -> None:
    code, out = await ccplane_health("--address", control_plane.address, "--service", "ccplane.v1.RunService")
    assert code == 0, out
    code, out = await ccplane_health("--address", control_plane.address, "--service", "no.such.Service")
    assert code == 1, out
    assert "unknown service 'no.such.Service'" in out


async def test_nobody_listening_exits_1() -> None:
    address = f"127.0.0.1:{free_port()}"
    code, out = await ccplane_health("--address", address, "--timeout", "1")
    assert code == 1, out
    assert f"{address}: not serving: unreachable" in out


async def test_not_serving_exits_1() -> None:
    """A server whose health says NOT_SERVING (a control plane shutting down)."""
    server = grpc.aio.server()
    servicer = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        await servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        code, out = await ccplane_health("--address", f"127.0.0.1:{port}")
        assert code == 1, out
        assert "not serving: NOT_SERVING" in out
    finally:
        await server.stop(0)


@contextlib.contextmanager
def http_server(status: int) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"status":"SERVING"}' if status == 200 else b'{"status":"NOT_SERVING"}'
            self.send_response(status)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/healthz"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("status", "exit_code"), [(200, 0), (503, 1)])
async def test_http_health(status: int, exit_code: int) -> None:
    with http_server(status) as url:
        code, out = await ccplane_health("--http", url)
    assert code == exit_code, out
    assert f"HTTP {status}" in out


async def test_nothing_to_check_exits_2() -> None:
    """Outside a container running a ccplane service there is nothing to infer."""
    code, out = await ccplane_health()
    assert code == 2, out
    assert "pass --address or --http" in out


@pytest.mark.parametrize(
    ("argv", "env", "target"),
    [
        (["control-plane"], {}, health.Target(address="127.0.0.1:50051")),
        (
            ["control-plane"],
            {"CCPLANE_GRPC_HOST": "0.0.0.0", "CCPLANE_GRPC_PORT": "6000"},
            health.Target(address="127.0.0.1:6000"),
        ),
        (["control-plane", "--grpc-port", "7000"], {}, health.Target(address="127.0.0.1:7000")),
        (
            ["executor-manager", "--host", "0.0.0.0", "--port", "50052", "--backend", "external"],
            {},
            health.Target(address="127.0.0.1:50052"),
        ),
        (["executor", "--host=0.0.0.0", "--port=50060"], {}, health.Target(address="127.0.0.1:50060")),
        (
            ["gateway", "--host", "0.0.0.0", "--port", "3001"],
            {},
            health.Target(url="http://127.0.0.1:3001/healthz"),
        ),
        (["gateway"], {"CCPLANE_GATEWAY_PORT": "8000"}, health.Target(url="http://127.0.0.1:8000/healthz")),
        (["up", "--gateway-port", "3100"], {}, health.Target(url="http://127.0.0.1:3100/healthz")),
    ],
)
def test_target_of_a_service_command(argv: list[str], env: dict[str, str], target: health.Target) -> None:
    assert health.target_for(argv, env) == target


@pytest.mark.parametrize("argv", [["migrate"], ["executor"], ["runs", "list"], []])
def test_no_target_for_commands_that_serve_nothing(argv: list[str]) -> None:
    with pytest.raises(health.NothingToCheck):
        health.target_for(argv, {})


@pytest.mark.parametrize(
    ("cmdline", "argv"),
    [
        (
            ["/opt/ccplane/venv/bin/python3", "/opt/ccplane/venv/bin/ccplane", "gateway", "--port", "3001"],
            ["gateway", "--port", "3001"],
        ),
        (["ccplane", "control-plane"], ["control-plane"]),
        (["python", "-m", "common.cli.main", "executor", "--port", "1"], ["executor", "--port", "1"]),
        (["/sbin/docker-init", "--", "postgres"], None),
    ],
)
def test_ccplane_command_lines_are_recognised(cmdline: list[str], argv: list[str] | None) -> None:
    assert health.ccplane_argv(cmdline) == argv
