"""Checks on requests before they reach the domain: bad input is
INVALID_ARGUMENT naming the field, never INTERNAL."""

from __future__ import annotations

import re

from ccplane.v1 import executor_manager_pb2 as pb
from common import ids, providers
from common.errors import invalid_argument
from executor_manager.records import ExecutorAnnouncement, HeartbeatReport, LeaseRequest

_ADDRESS = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):([0-9]{1,5})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$")
_MAX_TEXT = 256
_WILDCARDS = {"0.0.0.0", "[::]", "[0:0:0:0:0:0:0:0]"}


def require_id(kind: str, field_name: str, value: str) -> str:
    if not value:
        raise invalid_argument(field_name, "is required")
    if not ids.is_valid(kind, value):
        raise invalid_argument(field_name, f"is not a valid id (expected {kind}_ followed by 26 characters)")
    return value


def _optional_id(kind: str, field_name: str, value: str) -> str:
    return require_id(kind, field_name, value) if value else ""


def _short_text(field_name: str, value: str) -> str:
    if len(value) > _MAX_TEXT:
        raise invalid_argument(field_name, f"must be at most {_MAX_TEXT} characters")
    return value


def lease_request(request: pb.AcquireExecutorRequest) -> LeaseRequest:
    run_id = require_id(ids.RUN, "run_id", request.run_id)
    provider = request.provider or providers.DEFAULT_PROVIDER
    if not _NAME.fullmatch(provider):
        raise invalid_argument("provider", "is not a valid provider name")
    return LeaseRequest(
        run_id=run_id,
        tenant_id=_short_text("tenant_id", request.tenant_id),
        # Executors advertise canonical kinds; legacy aliases lease the same slots.
        provider=providers.ALIASES.get(provider, provider),
        preferred_executor_id=_optional_id(
            ids.EXECUTOR, "preferred_executor_id", request.preferred_executor_id
        ),
    )


def announcement(request: pb.RegisterExecutorRequest) -> ExecutorAnnouncement:
    executor_id = require_id(ids.EXECUTOR, "executor_id", request.executor_id)
    if not request.address:
        raise invalid_argument("address", "is required")
    _check_address("address", request.address)
    if request.metrics_address:
        _check_address("metrics_address", request.metrics_address)
    if request.slots_total <= 0:
        raise invalid_argument("slots_total", "must be positive")
    if not request.providers:
        raise invalid_argument("providers", "at least one provider is required")
    for index, name in enumerate(request.providers):
        if not _NAME.fullmatch(name):
            raise invalid_argument(f"providers[{index}]", "is not a valid provider name")
    for key, value in request.labels.items():
        if not _NAME.fullmatch(key):
            raise invalid_argument("labels", f"key {key[:64]!r} is not a valid label key")
        _short_text(f"labels[{key}]", value)
    backend = request.backend or "external"
    if not _NAME.fullmatch(backend):
        raise invalid_argument("backend", "is not a valid backend name")
    return ExecutorAnnouncement(
        executor_id=executor_id,
        address=request.address,
        slots_total=request.slots_total,
        providers=tuple(dict.fromkeys(request.providers)),
        labels=dict(request.labels),
        version=_short_text("version", request.version),
        backend=backend,
        metrics_address=request.metrics_address,
    )


def _check_address(field_name: str, value: str) -> None:
    match = _ADDRESS.fullmatch(value)
    if match is None or not 0 < int(match.group(2)) < 65536:
        raise invalid_argument(field_name, "must be host:port")
    if match.group(1) in _WILDCARDS:
        # The host an executor listens on, not one anybody can dial.
        raise invalid_argument(
            field_name, "must name a host others can dial, not a wildcard (CCPLANE_EXECUTOR_ADVERTISE_HOST)"
        )


def heartbeat_report(request: pb.HeartbeatRequest) -> HeartbeatReport:
    executor_id = require_id(ids.EXECUTOR, "executor_id", request.executor_id)
    if request.slots_used < 0:
        raise invalid_argument("slots_used", "must not be negative")
    for index, run_id in enumerate(request.run_ids):
        if not ids.is_valid(ids.RUN, run_id):
            raise invalid_argument(f"run_ids[{index}]", "is not a valid run id")
    return HeartbeatReport(
        executor_id=executor_id,
        slots_used=request.slots_used,
        draining=request.draining,
        run_ids=tuple(request.run_ids),
    )
