"""Executors started the way an operator starts them for the ``external``
backend (a Kubernetes Deployment, compose replicas, a machine of your own):
``python -m executor --manager ADDRESS --backend external``, with the
deployment's internal credential (in the test environment). The manager
never sees these processes, only their registrations and heartbeats.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path

from executor.registration import LABELS_ENV
from executor_manager.backends import LaunchSpec
from tests.integration.executor_manager.conftest import EXECUTOR_COMMAND, REPO, WAIT


class OperatorExecutor:
    """One executor process this test runs as its operator would."""

    def __init__(self, process: asyncio.subprocess.Process, executor_id: str, log: Path) -> None:
        self.process = process
        self.executor_id = executor_id
        self.log = log

    @classmethod
    async def start(
        cls,
        spec: LaunchSpec,
        log_dir: Path,
        *,
        host: str = "127.0.0.1",
        env: Mapping[str, str] | None = None,
    ) -> OperatorExecutor:
        log = _log_file(log_dir, spec.executor_id)
        environment = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "CCPLANE_LOG_FORMAT": "text",
            "CCPLANE_DATA_DIR": str(spec.data_dir.parent),
            **(env or {}),
        }
        if spec.labels:
            environment[LABELS_ENV] = ",".join(f"{k}={v}" for k, v in sorted(spec.labels.items()))
        with log.open("ab") as output:
            process = await asyncio.create_subprocess_exec(
                *EXECUTOR_COMMAND,
                "--executor-id",
                spec.executor_id,
                "--host",
                host,
                "--port",
                "0",
                "--slots",
                str(spec.slots),
                "--data-dir",
                str(spec.data_dir),
                "--manager",
                spec.manager_address,
                "--backend",
                "external",
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=environment,
                cwd=REPO,
            )
        return cls(process, spec.executor_id, log)

    async def stop(self) -> int:
        """SIGTERM, as a Deployment scaling down sends; its exit code."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(WAIT):
            return await self.process.wait()

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


def _log_file(log_dir: Path, executor_id: str) -> Path:
    log_dir.mkdir(parents=True, exist_ok=True)
    return log_dir / f"{executor_id}.log"
