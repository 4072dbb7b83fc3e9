"""The executor's Prometheus metrics: its sessions, their agent processes,
workspace transfers, provider errors and its gRPC server's calls.

:class:`ExecutorMetrics` owns the executor's registry. Gauges about the live
sessions (how many, their agent processes and the memory those hold) are
computed when Prometheus scrapes; the rest is recorded where it happens
(:mod:`executor.sessions`, :mod:`executor.hosted_session`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING

import psutil
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from common.metrics import LATENCY_BUCKETS, GrpcServerMetrics, MetricsEndpoint

if TYPE_CHECKING:
    from executor.sessions import SessionHost

# A restore or a sync of a large workspace takes minutes, not milliseconds.
TRANSFER_BUCKETS = (*LATENCY_BUCKETS, 120.0, 300.0, 600.0)


class ExecutorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.grpc = GrpcServerMetrics(self.registry)
        self.sessions = Gauge(
            "ccplane_executor_sessions", "Live sessions on this executor.", registry=self.registry
        )
        self.codex_processes = Gauge(
            "ccplane_codex_processes",
            "Running agent processes (codex app-server) of the live sessions.",
            registry=self.registry,
        )
        self.codex_memory = Gauge(
            "ccplane_codex_resident_memory_bytes",
            "Resident memory of the agent processes and everything they started (commands, tools).",
            registry=self.registry,
        )
        self.restore_duration = Histogram(
            "ccplane_workspace_restore_duration_seconds",
            "Time to restore a session's workspace from the object store.",
            buckets=TRANSFER_BUCKETS,
            registry=self.registry,
        )
        self.sync_duration = Histogram(
            "ccplane_workspace_sync_duration_seconds",
            "Time to sync a session's workspace back to the object store.",
            buckets=TRANSFER_BUCKETS,
            registry=self.registry,
        )
        self.restore_bytes = Counter(
            "ccplane_workspace_restore_bytes_total",
            "File content fetched from the object store to restore workspaces.",
            registry=self.registry,
        )
        self.sync_bytes = Counter(
            "ccplane_workspace_sync_bytes_total",
            "File content uploaded to the object store by workspace syncs.",
            registry=self.registry,
        )
        self.provider_errors = Counter(
            "ccplane_provider_errors_total",
            "Sessions that ended failed, or whose provider failed to start, by provider kind.",
            ["provider"],
            registry=self.registry,
        )

    def known_providers(self, names: Iterable[str]) -> None:
        """Report 0 errors for these providers until one fails."""
        for name in names:
            self.provider_errors.labels(name)

    def workspace_restored(self, seconds: float, fetched_bytes: int) -> None:
        self.restore_duration.observe(seconds)
        self.restore_bytes.inc(fetched_bytes)

    def workspace_synced(self, seconds: float, uploaded_bytes: int) -> None:
        self.sync_duration.observe(seconds)
        self.sync_bytes.inc(uploaded_bytes)

    def provider_failed(self, provider: str) -> None:
        self.provider_errors.labels(provider).inc()

    async def observe_sessions(self, host: SessionHost) -> None:
        """Set the session gauges from ``host``'s live sessions."""
        live = [s for s in host.sessions() if not s.outputs.ended]
        pids = [pid for s in live if (pid := s.provider.process_pid) is not None]
        processes, resident = await asyncio.to_thread(_resident_memory, pids)
        self.sessions.set(len(live))
        self.codex_processes.set(processes)
        self.codex_memory.set(resident)

    def endpoint(self, host: SessionHost) -> MetricsEndpoint:
        async def refresh_sessions() -> None:
            await self.observe_sessions(host)

        return MetricsEndpoint(self.registry, name="executor", refresh=[refresh_sessions])


def _resident_memory(pids: Iterable[int]) -> tuple[int, int]:
    """(how many of ``pids`` run, the resident bytes of them and their
    descendants). Confined sessions run as other users: reading their
    memory needs root or the same user; what cannot be read is left out."""
    running = 0
    resident = 0
    seen: set[int] = set()
    for pid in pids:
        try:
            root = psutil.Process(pid)
            if root.status() == psutil.STATUS_ZOMBIE:
                continue
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        running += 1
        for proc in tree:
            if proc.pid in seen:
                continue
            seen.add(proc.pid)
            try:
                resident += proc.memory_info().rss
            except psutil.Error:
                continue
    return running, resident
