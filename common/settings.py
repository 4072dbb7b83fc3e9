"""Process settings read from the environment (``CCPLANE_*``).

Every service reads its configuration here, so the README's configuration
table has one source. Command-line flags override these values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def _env_int(name: str, default: int) -> int:
    raw = _env(name)
    return int(raw) if raw else default


def _env_float(name: str, default: float) -> float:
    raw = _env(name)
    return float(raw) if raw else default


@dataclass
class Settings:
    # Where embedded PostgreSQL, the local object store and keys live.
    data_dir: Path = field(default_factory=lambda: Path(_env("CCPLANE_DATA_DIR", ".ccplane")))
    # PostgreSQL URL; empty starts an embedded PostgreSQL in data_dir.
    database_url: str = field(default_factory=lambda: _env("CCPLANE_DATABASE_URL"))
    grpc_host: str = field(default_factory=lambda: _env("CCPLANE_GRPC_HOST", "127.0.0.1"))
    grpc_port: int = field(default_factory=lambda: _env_int("CCPLANE_GRPC_PORT", 50051))
    gateway_port: int = field(default_factory=lambda: _env_int("CCPLANE_GATEWAY_PORT", 3001))
    executor_manager_port: int = field(
        default_factory=lambda: _env_int("CCPLANE_EXECUTOR_MANAGER_PORT", 50052)
    )
    # Where Prometheus scrapes each service's /metrics (the executor-manager
    # also serves its executors' service discovery at /sd/executors). The
    # executors pick a free port and report it when they register. 0: any
    # free port; negative: no metrics endpoint.
    metrics_host: str = field(default_factory=lambda: _env("CCPLANE_METRICS_HOST", "127.0.0.1"))
    metrics_port: int = field(default_factory=lambda: _env_int("CCPLANE_METRICS_PORT", 9464))
    executor_manager_metrics_port: int = field(
        default_factory=lambda: _env_int("CCPLANE_EXECUTOR_MANAGER_METRICS_PORT", 9465)
    )
    # Alertmanager to push the platform's own alerts to (its base URL, for
    # example http://127.0.0.1:9093); empty: alerts are only recorded.
    alertmanager_url: str = field(default_factory=lambda: _env("CCPLANE_ALERTMANAGER_URL"))
    # How often open alerts are pushed again (and new ones at the latest).
    alertmanager_interval: float = field(
        default_factory=lambda: _env_float("CCPLANE_ALERTMANAGER_INTERVAL", 5.0)
    )
    # Address of the executor-manager as the control plane dials it.
    executor_manager_address: str = field(default_factory=lambda: _env("CCPLANE_EXECUTOR_MANAGER_ADDR"))
    log_level: str = field(default_factory=lambda: _env("CCPLANE_LOG_LEVEL", "INFO"))
    # "auto" (default: text on a terminal, JSON otherwise), "json" or "text".
    log_format: str = field(default_factory=lambda: _env("CCPLANE_LOG_FORMAT", "auto"))
    # Default human-loop timeout in seconds when a run sets none.
    human_loop_timeout_s: float = field(
        default_factory=lambda: _env_float("CCPLANE_HUMAN_LOOP_TIMEOUT", 3600.0)
    )
    # Per-tenant defaults (0: no limit); `ccplane tenants set-limits` overrides them.
    tenant_max_runs: int = field(default_factory=lambda: _env_int("CCPLANE_TENANT_MAX_RUNS", 100))
    tenant_rps: float = field(default_factory=lambda: _env_float("CCPLANE_TENANT_RPS", 50.0))
    # How long an API key lookup (and its tenant's limits) is cached.
    auth_cache_ttl: float = field(default_factory=lambda: _env_float("CCPLANE_AUTH_CACHE_TTL", 5.0))
    # The longest a browser session lasts (seconds); sign-ins ask for no more.
    session_ttl: float = field(default_factory=lambda: _env_float("CCPLANE_SESSION_TTL", 12 * 3600.0))
    # A stream reader (gRPC or SSE) that takes no message for this long is
    # dropped; it resumes from its cursor (after_seq, Last-Event-ID).
    stream_write_timeout: float = field(
        default_factory=lambda: _env_float("CCPLANE_STREAM_WRITE_TIMEOUT", 30.0)
    )
    # An executor silent this long is unhealthy and its leases are revoked.
    executor_heartbeat_timeout: float = field(
        default_factory=lambda: _env_float("CCPLANE_EXECUTOR_HEARTBEAT_TIMEOUT", 10.0)
    )
    # Recovery from faults (control_plane.reconcile): how long a run whose
    # executor vanished may stay `lost` before it fails with EXECUTOR_LOST.
    lost_grace: float = field(default_factory=lambda: _env_float("CCPLANE_LOST_GRACE", 15.0))
    # How often each control plane's reconciler looks (one acts at a time).
    reconcile_interval: float = field(default_factory=lambda: _env_float("CCPLANE_RECONCILE_INTERVAL", 5.0))
    # A live run whose control plane died and that nobody adopted for this
    # long is `lost`; a run `starting` for this long fails with START_TIMEOUT.
    orphan_after: float = field(default_factory=lambda: _env_float("CCPLANE_ORPHAN_AFTER", 30.0))
    start_timeout: float = field(default_factory=lambda: _env_float("CCPLANE_RUN_START_TIMEOUT", 300.0))
    # A run queued this long while no executor has a free slot raises an alert.
    queued_alert_after: float = field(default_factory=lambda: _env_float("CCPLANE_QUEUED_ALERT_AFTER", 300.0))
    # Outputs an executor keeps per session for a control plane to re-attach
    # from; a control plane away for longer fails the run (REPLAY_WINDOW_EXCEEDED).
    executor_replay_capacity: int = field(
        default_factory=lambda: _env_int("CCPLANE_EXECUTOR_REPLAY_CAPACITY", 20_000)
    )
    # SIGTERM: how long live work may take to finish before it is stopped
    # (executors fail what is left with EXECUTOR_SHUTDOWN).
    shutdown_grace: float = field(default_factory=lambda: _env_float("CCPLANE_SHUTDOWN_GRACE", 30.0))
    default_provider: str = "codex-app-server"
    default_model: str = field(default_factory=lambda: _env("CCPLANE_MODEL", "gpt-5.5"))

    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()
