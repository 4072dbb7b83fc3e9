"""What only the local backend promises: exit codes, a kill after the grace,
and executors that die with a manager killed without warning."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import psutil

from common import ids
from executor_manager.backends import LaunchSpec, ProcessState
from executor_manager.backends.local import LocalBackend
from tests.integration.executor_manager.conftest import REPO, wait_exited


def stubborn_command(ready_socket: Path) -> tuple[str, ...]:
    """An "executor" that ignores SIGTERM (only SIGKILL ends it) and says so
    on ``ready_socket`` once its handler is set. It takes the executor's flags."""
    code = (
        "import signal, socket, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        f"s.connect({str(ready_socket)!r})\n"
        "time.sleep(600)\n"
    )
    return (sys.executable, "-c", code)


def spec(tmp_path: Path) -> LaunchSpec:
    return LaunchSpec(
        executor_id=ids.new_id(ids.EXECUTOR),
        slots=1,
        manager_address="127.0.0.1:1",
        data_dir=tmp_path / "exe",
    )


async def test_stop_kills_after_the_grace_and_reports_the_signal(tmp_path: Path) -> None:
    ready = asyncio.Event()

    async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ready.set()
        writer.close()

    socket_path = tmp_path / "ready.sock"
    server = await asyncio.start_unix_server(connected, path=str(socket_path))
    backend = LocalBackend(command=stubborn_command(socket_path), log_dir=tmp_path / "logs")
    try:
        handle = await backend.start(spec(tmp_path))
        async with asyncio.timeout(10):
            await ready.wait()
        final = await backend.stop(handle, grace=0.2)
    finally:
        server.close()
        await backend.close()
    assert (final.state, final.exit_code) == (ProcessState.EXITED, -signal.SIGKILL)
    assert "SIGKILL" in final.detail
    assert not psutil.pid_exists(int(handle.ref))


async def test_executor_dies_with_a_killed_manager(tmp_path: Path) -> None:
    # A stand-in manager: starts one executor through the backend, prints its
    # pid, then waits to be killed.
    script = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from executor_manager.backends import LaunchSpec\n"
        "from executor_manager.backends.local import LocalBackend\n"
        "async def main():\n"
        f"    backend = LocalBackend(command=('{sys.executable}', '-c', 'import time; time.sleep(600)'))\n"
        f"    spec = LaunchSpec('exe_x', 1, '127.0.0.1:1', Path({str(tmp_path)!r}))\n"
        "    handle = await backend.start(spec)\n"
        "    print(handle.ref, flush=True)\n"
        "    await asyncio.sleep(600)\n"
        "asyncio.run(main())\n"
    )
    stand_in = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, cwd=REPO, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert stand_in.stdout is not None
        async with asyncio.timeout(10):
            executor_pid = int((await stand_in.stdout.readline()).decode())
        assert psutil.pid_exists(executor_pid)
    finally:
        stand_in.kill()
        await stand_in.wait()
    await wait_exited(executor_pid)
