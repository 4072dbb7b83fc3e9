"""The ``local`` backend: executors as child processes on this host.

Each executor is ``python -m executor`` in its own session and process group,
started through :mod:`.orphan_guard` so that it dies with the manager even
when the manager is killed. Output goes to ``<log_dir>/<executor_id>.log``
(appended across restarts), or to the manager's own stdout/stderr when no
log directory is given. Stopping sends SIGTERM to the group (the executor
closes its sessions and their agent processes), then SIGKILL after the grace,
then kills whatever the executor left behind.

Preconditions: ``start`` and ``stop`` are called from the thread that runs
the manager's event loop for the manager's whole life (the kernel's
parent-death signal follows the thread that forked).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

import psutil

from executor_manager.backends.base import (
    BackendCapabilities,
    BackendError,
    BackendHealth,
    ExecutorBackend,
    ExecutorHandle,
    LaunchSpec,
    ProcessState,
)

log = logging.getLogger(__name__)

DEFAULT_COMMAND = (sys.executable, "-m", "executor")
# How long to wait for leftovers of a stopped executor to disappear.
REAP_TIMEOUT = 5.0


class LocalBackend(ExecutorBackend):
    name = "local"
    capabilities = BackendCapabilities(can_restart=True, persistent_storage=True, remote=False)

    def __init__(
        self,
        *,
        command: Sequence[str] = DEFAULT_COMMAND,
        host: str = "127.0.0.1",
        log_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        """``command`` runs an executor taking ``python -m executor``'s flags;
        ``env`` is added to this process's environment for every executor."""
        self._command = tuple(command)
        self._host = host
        self._log_dir = log_dir
        self._env = dict(env or {})
        self._cwd = cwd
        self._processes: dict[str, asyncio.subprocess.Process] = {}
        self._final: dict[str, BackendHealth] = {}

    def argv(self, spec: LaunchSpec) -> list[str]:
        return [
            *self._command,
            "--executor-id",
            spec.executor_id,
            "--host",
            self._host,
            "--port",
            "0",
            "--slots",
            str(spec.slots),
            "--data-dir",
            str(spec.data_dir),
            "--manager",
            spec.manager_address,
            "--backend",
            self.name,
        ]

    async def start(self, spec: LaunchSpec) -> ExecutorHandle:
        running = self._processes.get(spec.executor_id)
        if running is not None and running.returncode is None:
            raise BackendError(f"executor {spec.executor_id} is already running (pid {running.pid})")
        if spec.slots < 1:
            raise BackendError("an executor needs at least one slot")
        guarded = [
            sys.executable,
            "-m",
            "executor_manager.backends.orphan_guard",
            str(os.getpid()),
            "--",
            *self.argv(spec),
        ]
        env = {**os.environ, **self._env, **spec.env}
        if spec.labels:
            env["CCPLANE_EXECUTOR_LABELS"] = ",".join(f"{k}={v}" for k, v in sorted(spec.labels.items()))
        output = self._open_log(spec.executor_id)
        try:
            spec.data_dir.mkdir(parents=True, exist_ok=True)
            process = await asyncio.create_subprocess_exec(
                *guarded,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT if output is not None else None,
                env=env,
                cwd=self._cwd,
                start_new_session=True,
            )
        except OSError as exc:
            raise BackendError(f"cannot start executor {spec.executor_id}: {exc}") from exc
        finally:
            if output is not None:
                output.close()
        self._processes[spec.executor_id] = process
        self._final.pop(spec.executor_id, None)
        log.info("executor process started", extra={"executor_id": spec.executor_id, "pid": process.pid})
        return ExecutorHandle(spec.executor_id, self.name, spec, ref=str(process.pid))

    def _open_log(self, executor_id: str) -> IO[bytes] | None:
        if self._log_dir is None:
            return None
        self._log_dir.mkdir(parents=True, exist_ok=True)
        return (self._log_dir / f"{executor_id}.log").open("ab")

    async def stop(self, handle: ExecutorHandle, *, grace: float) -> BackendHealth:
        process = self._processes.get(handle.executor_id)
        if process is None or str(process.pid) != handle.ref:
            return self._final.get(
                handle.executor_id, BackendHealth(ProcessState.EXITED, detail="not running")
            )
        return await self._stop_process(handle.executor_id, process, grace)

    async def _stop_process(
        self, executor_id: str, process: asyncio.subprocess.Process, grace: float
    ) -> BackendHealth:
        leftovers = _descendants(process.pid)
        if process.returncode is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), grace)
            except TimeoutError:
                log.warning("executor did not stop in time; killing it", extra={"executor_id": executor_id})
                _signal_group(process.pid, signal.SIGKILL)
                await process.wait()
        # Whatever is left of its group, and descendants that left the group.
        _signal_group(process.pid, signal.SIGKILL)
        await _kill_all(leftovers)
        final = _exited(process)
        self._final[executor_id] = final
        del self._processes[executor_id]
        return final

    async def health(self, handle: ExecutorHandle) -> BackendHealth:
        process = self._processes.get(handle.executor_id)
        if process is None or str(process.pid) != handle.ref:
            return self._final.get(
                handle.executor_id, BackendHealth(ProcessState.UNKNOWN, detail="not started by this backend")
            )
        if process.returncode is None:
            return BackendHealth(ProcessState.RUNNING, detail=f"pid {process.pid}")
        return _exited(process)

    async def close(self) -> None:
        # Safety net: the pool stops its executors first.
        for executor_id, process in list(self._processes.items()):
            await self._stop_process(executor_id, process, grace=0)


def _exited(process: asyncio.subprocess.Process) -> BackendHealth:
    code = process.returncode
    if code is not None and code < 0:
        detail = f"killed by {signal.Signals(-code).name}"
    else:
        detail = f"exited with code {code}"
    return BackendHealth(ProcessState.EXITED, exit_code=code, detail=detail)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


async def _kill_all(processes: list[psutil.Process]) -> None:
    alive = []
    for proc in processes:
        # psutil checks the process is still the one it saw (pid reuse).
        with contextlib.suppress(psutil.Error):
            proc.kill()
            alive.append(proc)
    if alive:
        await asyncio.to_thread(psutil.wait_procs, alive, timeout=REAP_TIMEOUT)
