"""Executor backends: how the manager starts, stops and watches executors.

One abstract base (:class:`~.base.ExecutorBackend`) and one shared contract
test suite (``tests/integration/executor_manager/test_backend_contract.py``)
for every implementation. ``local`` runs processes on this host; ``docker``
and ``kubernetes`` fit the same interface.
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
    raise ValueError(f"unknown executor backend {config.backend!r} (available: local)")
