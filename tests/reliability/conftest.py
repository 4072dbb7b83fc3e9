"""The fault suite: real processes, real faults, and what the platform did on its own.

Each module starts the platform it needs (its own database, so that
executors registered by other suites' managers never receive its runs),
injects one kind of fault, and asserts that every affected run reached a
final or healed status within a stated bound, with no manual call, that the
event log is gap-free, and that new runs succeed afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from ccplane.v1 import events_pb2, runs_pb2, runs_pb2_grpc
from common.cli.stack import Stack, StackOptions
from common.settings import Settings
from tests.platform import wait_for_ready_executors

# `make soak` sets this: the suite runs bigger and longer (see soak()).
SOAK = os.environ.get("CCPLANE_SOAK", "") == "1"
# When set, what each test proved is written there as JSON at the end
# (`python -m bench --reliability` collects it into bench/results.json).
REPORT_ENV = "CCPLANE_RELIABILITY_REPORT"


# A tool call that keeps a run waiting for a person (answered with "Yes").
QUESTION: dict[str, Any] = {
    "tool": "request_user_input",
    "arguments": {
        "questions": [
            {
                "id": "go",
                "header": "Go on",
                "question": "Shall I go on?",
                "options": [{"label": "Yes", "description": "Go on"}],
            }
        ]
    },
}


def free_port() -> int:
    """A loopback port nobody listens on now (for a process the test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Postgres:
    """A PostgreSQL server of the test's own, to stop and start again
    (:mod:`tests.reliability.pgctl` does it, from a process of its own)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.url = ""

    async def _pgctl(self, action: str) -> str:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.reliability.pgctl",
            action,
            str(self.data_dir),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await process.communicate()
        assert process.returncode == 0, f"pgctl {action} failed ({process.returncode})"
        return out.decode().strip()

    async def stop(self) -> None:
        await self._pgctl("stop")

    async def start(self) -> None:
        url = await self._pgctl("start")
        assert not self.url or url == self.url, "the server comes back where it was"
        self.url = url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def postgres(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Postgres]:
    """An embedded PostgreSQL (a Unix socket in a temporary directory) for one module."""
    server = Postgres(tmp_path_factory.mktemp("ccplane-own-pg"))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def soak(normal: int, big: int) -> int:
    """A size for ``make test`` (normal) or ``make soak`` (big)."""
    return big if SOAK else normal


@dataclass
class Proof:
    """One fault, what the test did, what the platform did, the bound it met."""

    fault: str
    injected: str
    outcome: str
    bound_s: float
    measured_s: float
    lost: int = 0


_PROOFS: list[Proof] = []


@pytest.fixture
def prove() -> Iterator[Callable[..., None]]:
    """``prove(fault=…, injected=…, outcome=…, bound_s=…, measured_s=…, lost=0)``:
    record what a test measured. Call it last, once everything is asserted."""
    recorded: list[Proof] = []
    yield lambda **fields: recorded.append(Proof(**fields))
    _PROOFS.extend(recorded)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get(REPORT_ENV)
    if path and _PROOFS:
        report = {"soak": SOAK, "written_at": time.time(), "proofs": [asdict(p) for p in _PROOFS]}
        Path(path).write_text(json.dumps(report, indent=2) + "\n")


def assert_gap_free(events: list[events_pb2.RunEvent]) -> None:
    """Seqs 1..n, each once, in order."""
    seqs = [e.seq for e in events]
    assert seqs == list(range(1, len(seqs) + 1)), f"the log has gaps or duplicates: {seqs}"


async def all_events(runs: runs_pb2_grpc.RunServiceStub, run_id: str) -> list[events_pb2.RunEvent]:
    """The run's whole stored log, page by page."""
    out: list[events_pb2.RunEvent] = []
    token = ""
    while True:
        page = await runs.ListRunEvents(
            runs_pb2.ListRunEventsRequest(run_id=run_id, page_size=1000, page_token=token)
        )
        out.extend(page.events)
        token = page.next_page_token
        if not token:
            return out


async def wait_for_status(
    runs: runs_pb2_grpc.RunServiceStub, run_id: str, statuses: set[int], timeout_s: float
) -> runs_pb2.Run:
    """The run once its status is one of ``statuses``; fails after ``timeout_s``."""
    async with asyncio.timeout(timeout_s):
        while True:
            run: runs_pb2.Run = (await runs.GetRun(runs_pb2.GetRunRequest(run_id=run_id))).run
            if run.status in statuses:
                return run
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def fault_platform(
    database_url: str,
    data_dir: Path,
    scenario: Mapping[str, Any],
    *,
    executors: int = 2,
    settings: Mapping[str, Any] | None = None,
    **options: Any,
) -> AsyncIterator[Stack]:
    """The whole platform (real codex, scripted model) with fault-friendly
    timings: heartbeats every 0.5 s, silent for 3 s means unhealthy, lost
    runs fail after 3 s, a reconcile pass every 0.5 s. ``settings`` and
    ``options`` override :class:`Settings` fields and :class:`StackOptions`."""
    configured = Settings()
    configured.database_url = database_url
    configured.data_dir = data_dir
    configured.lost_grace = 3.0
    configured.reconcile_interval = 0.5
    for name, value in (settings or {}).items():
        setattr(configured, name, value)
    stack = Stack(
        configured,
        StackOptions(
            **{
                "demo": True,
                "scenario": scenario,
                "min_executors": executors,
                "max_executors": executors,
                "slots_per_executor": 2,
                "heartbeat_interval": 0.5,
                "heartbeat_timeout": 3.0,
                "manager_port": 0,
                "grpc_port": 0,
                "gateway_port": 0,
                "serve_gateway": False,
                **options,
            }
        ),
    )
    await stack.start()
    try:
        await wait_for_ready_executors(stack, executors)
        yield stack
    finally:
        await stack.stop()
