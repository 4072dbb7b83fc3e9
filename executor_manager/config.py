"""The executor-manager's configuration: fleet size, timings, where data goes,
and how the ``docker`` backend runs executor containers."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# ``local``: child processes; ``external``: executors that register on their
# own (Kubernetes, compose, your machines); ``docker``: containers the
# manager starts through the Docker Engine API.
BACKENDS = ("local", "external", "docker")
EXECUTOR_IMAGE_ENV = "CCPLANE_EXECUTOR_IMAGE"
GIB = 1024**3


@dataclass(frozen=True)
class ManagerConfig:
    """Settings of one executor-manager process.

    ``heartbeat_timeout`` is how long an executor may stay silent before it
    becomes UNHEALTHY and its leases expire; it is also a lease's time to live
    between two heartbeats of its executor.
    """

    data_dir: Path = field(default_factory=lambda: Path(os.environ.get("CCPLANE_DATA_DIR", ".ccplane")))
    backend: str = "local"
    min_executors: int = 1
    max_executors: int = 4
    slots_per_executor: int = 4
    heartbeat_interval: float = 2.0
    heartbeat_timeout: float = 10.0
    # How often the manager looks for silent executors and expired leases.
    sweep_interval: float = 1.0
    # How often the pool checks its executors' processes.
    supervise_interval: float = 1.0
    # An executor that has not registered this long after its start is replaced.
    start_timeout: float = 60.0
    # SIGTERM (or the backend's equivalent), then kill after this many
    # seconds: more than the executors' own drain (CCPLANE_SHUTDOWN_GRACE).
    stop_grace: float = 40.0
    # Stop executors beyond ``min_executors`` after this long without work; None: never.
    idle_timeout: float | None = 300.0
    restart_backoff_initial: float = 0.5
    restart_backoff_max: float = 30.0
    # STOPPED and UNHEALTHY executors are forgotten (with their lease history)
    # after this long.
    forget_after: float = 7 * 24 * 3600.0
    # The address executors dial to reach this manager; empty: the address it
    # listens on (loopback when it listens on every interface).
    advertise_address: str = ""
    # Labels and environment given to every executor the pool starts.
    executor_labels: Mapping[str, str] = field(default_factory=dict)
    executor_env: Mapping[str, str] = field(default_factory=dict)
    # The internal credential between services; empty: CCPLANE_INTERNAL_TOKEN
    # or <data_dir>/internal.key (common.credentials).
    internal_token: str = field(default="", repr=False)
    # Where /metrics and the executors' service discovery (/sd/executors)
    # are served: 0 picks a free port; negative serves none (the default
    # here; the executor-manager command takes CCPLANE_EXECUTOR_MANAGER_METRICS_PORT).
    metrics_host: str = "127.0.0.1"
    metrics_port: int = -1
    # The docker backend: the image executor containers run (it has the
    # ``ccplane`` command), the network they join (the manager's
    # ``advertise_address`` must be reachable from it), the Engine API
    # (empty: DOCKER_HOST or the local socket), and each container's limits
    # (0: none).
    executor_image: str = field(default_factory=lambda: os.environ.get(EXECUTOR_IMAGE_ENV, "ccplane:latest"))
    docker_network: str = "bridge"
    docker_url: str = ""
    executor_memory_bytes: int = 4 * GIB
    executor_cpus: float = 2.0
    executor_pids: int = 4096

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}")
        if self.min_executors < 0:
            raise ValueError("min_executors must not be negative")
        if self.max_executors < self.min_executors:
            raise ValueError("max_executors must be at least min_executors")
        if self.slots_per_executor < 1:
            raise ValueError("slots_per_executor must be at least 1")
        if self.heartbeat_interval <= 0 or self.heartbeat_timeout <= self.heartbeat_interval:
            raise ValueError("heartbeat_timeout must exceed a positive heartbeat_interval")
        if self.sweep_interval <= 0 or self.supervise_interval <= 0:
            raise ValueError("sweep_interval and supervise_interval must be positive")
        if self.idle_timeout is not None and self.idle_timeout <= 0:
            raise ValueError("idle_timeout must be positive (or None to keep idle executors)")
        if self.executor_memory_bytes < 0 or self.executor_cpus < 0 or self.executor_pids < 0:
            raise ValueError("executor limits must not be negative (0: no limit)")

    @property
    def executors_dir(self) -> Path:
        return self.data_dir.expanduser().resolve() / "executors"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir.expanduser().resolve() / "logs" / "executors"
