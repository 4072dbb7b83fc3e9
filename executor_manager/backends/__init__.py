"""Executor backends: how the manager starts, stops and watches executors.

One abstract base (:class:`~.base.ExecutorBackend`) and one shared contract
test suite (``tests/integration/executor_manager/test_backend_contract.py``)
for every implementation. ``local`` runs processes on this host;
``external`` starts nothing and watches executors that register on their own
(a Kubernetes Deployment, compose replicas, your machines); ``docker`` runs
containers through the Docker Engine API.
"""

from __future__ import annotations

from executor_manager.backends.base import (
    BackendCapabilities,
    BackendError,
    BackendHealth,
    ExecutorBackend,
    ExecutorHandle,
    LaunchSpec,
    ProcessState,
)
from executor_manager.config import ManagerConfig

__all__ = [
    "BackendCapabilities",
    "BackendError",
    "BackendHealth",
    "ExecutorBackend",
    "ExecutorHandle",
    "LaunchSpec",
    "ProcessState",
    "create_backend",
]


def create_backend(config: ManagerConfig) -> ExecutorBackend:
    """The backend ``config.backend`` names, set up from ``config``."""
    if config.backend == "local":
        from executor_manager.backends.local import LocalBackend

        return LocalBackend(log_dir=config.logs_dir)
    if config.backend == "external":
        from executor_manager.backends.external import ExternalBackend

        return ExternalBackend()
    if config.backend == "docker":
        from executor_manager.backends.docker import DockerBackend, DockerLimits

        return DockerBackend(
            image=config.executor_image,
            network=config.docker_network,
            docker_url=config.docker_url,
            limits=DockerLimits(
                memory_bytes=config.executor_memory_bytes,
                cpus=config.executor_cpus,
                pids=config.executor_pids,
            ),
        )
    raise ValueError(f"unknown executor backend {config.backend!r} (available: local, external, docker)")
