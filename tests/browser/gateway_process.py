"""``GatewayProcess``: the REST gateway as its own OS process (``ccplane gateway``).

The browser tests run the gateway apart from the rest of the stack so a test
can SIGKILL it mid-run, as a crash would, and start it again on the same
port: the page in Chromium keeps its URL and must reconnect by itself.

The process is bound to the test process: it runs under ``setpriv
--pdeathsig KILL`` (util-linux, in every Debian), so Linux delivers SIGKILL to
it when the thread that started it (the tests' event-loop thread) exits, and
a test run that is itself killed leaves no gateway behind.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
DESCRIPTOR_SET = REPO / "gen" / "ccplane.binpb"
# The `ccplane` command of the environment running the tests.
CCPLANE = Path(sys.executable).with_name("ccplane")
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the gateway binds it with SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GatewayProcess:
    """``ccplane gateway`` on ``127.0.0.1:port`` in front of ``control_plane``."""

    def __init__(self, control_plane: str, *, port: int, portal_dir: Path, log_path: Path) -> None:
        self.control_plane = control_plane
        self.port = port
        self.portal_dir = portal_dir
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        # How many times it has been started: tests tell restarts apart by it.
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def spawn(self) -> None:
        """Start the process without waiting for it to answer."""
        assert not self.running, "the gateway is already running"
        command = [
            "setpriv",
            "--pdeathsig",
            "KILL",
            "--",
            str(CCPLANE),
            "gateway",
            "--control-plane",
            self.control_plane,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--descriptor-set",
            str(DESCRIPTOR_SET),
        ]
        env = {**os.environ, "CCPLANE_PORTAL_DIR": str(self.portal_dir), "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("ab") as log:
            log.write(f"--- start #{self.starts + 1}: {' '.join(command)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                command,
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1

    async def start(self) -> None:
        """Start the process and return once ``/healthz`` answers 200."""
        self.spawn()
        await self.wait_healthy()

    async def wait_healthy(self) -> None:
        """Wait until ``/healthz`` answers 200; fail with the gateway's log otherwise."""
        last = "no answer yet"
        async with httpx.AsyncClient(timeout=2.0) as client:
            try:
                async with asyncio.timeout(START_TIMEOUT_S):
                    while True:
                        if not self.running:
                            raise AssertionError(f"the gateway exited during start-up\n{self.log_tail()}")
                        try:
                            reply = await client.get(f"{self.url}/healthz")
                            if reply.status_code == 200:
                                return
                            last = f"HTTP {reply.status_code}: {reply.text}"
                        except httpx.TransportError as exc:
                            last = repr(exc)
                        await asyncio.sleep(0.05)
            except TimeoutError:
                raise AssertionError(
                    f"the gateway at {self.url} was not healthy after {START_TIMEOUT_S} s ({last})\n"
                    + self.log_tail()
                ) from None

    def kill(self) -> None:
        """SIGKILL the process, as a crash would, and reap it."""
        assert self.process is not None and self.running, "the gateway is not running"
        self.process.kill()
        self.process.wait(STOP_TIMEOUT_S)

    async def restart(self) -> None:
        """Start again on the same port (killing the process first if it still runs)."""
        if self.running:
            self.kill()
        await self.start()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time."""
        if self.process is None or not self.running:
            return
        self.process.terminate()
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT_S)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return "(no gateway log)"
        text = self.log_path.read_text(errors="replace").splitlines()
        return "gateway log:\n" + "\n".join(text[-lines:])
