"""Conversions between the manager's records and their protobuf messages."""

from __future__ import annotations

from datetime import datetime

from google.protobuf import duration_pb2, timestamp_pb2

from ccplane.v1 import executor_manager_pb2 as pb
from executor_manager.records import ExecutorRecord, ExecutorState, LeaseChange, LeaseEvent, LeaseRecord

_STATES: dict[ExecutorState, pb.ExecutorState] = {
    ExecutorState.STARTING: pb.EXECUTOR_STATE_STARTING,
    ExecutorState.READY: pb.EXECUTOR_STATE_READY,
    ExecutorState.DRAINING: pb.EXECUTOR_STATE_DRAINING,
    ExecutorState.UNHEALTHY: pb.EXECUTOR_STATE_UNHEALTHY,
    ExecutorState.STOPPED: pb.EXECUTOR_STATE_STOPPED,
}

_CHANGES: dict[LeaseChange, pb.LeaseChange] = {
    LeaseChange.ACQUIRED: pb.LEASE_CHANGE_ACQUIRED,
    LeaseChange.RELEASED: pb.LEASE_CHANGE_RELEASED,
    LeaseChange.EXPIRED: pb.LEASE_CHANGE_EXPIRED,
}


def timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts


def duration(seconds: float) -> duration_pb2.Duration:
    value = duration_pb2.Duration()
    value.FromNanoseconds(round(seconds * 1e9))
    return value


def state_to_proto(state: ExecutorState) -> pb.ExecutorState:
    return _STATES[state]


def executor_to_proto(record: ExecutorRecord) -> pb.Executor:
    return pb.Executor(
        id=record.id,
        address=record.address,
        state=state_to_proto(record.state),
        slots_total=record.slots_total,
        slots_used=record.slots_used,
        backend=record.backend,
        providers=list(record.providers),
        labels=dict(record.labels),
        version=record.version,
        registered_at=timestamp(record.registered_at),
        last_heartbeat_at=timestamp(record.last_heartbeat_at),
        metrics_address=record.metrics_address,
    )


def lease_to_proto(lease: LeaseRecord) -> pb.ExecutorLease:
    return pb.ExecutorLease(
        lease_id=lease.id,
        executor_id=lease.executor_id,
        address=lease.address,
        run_id=lease.run_id,
        acquired_at=timestamp(lease.acquired_at),
    )


def lease_event_to_proto(event: LeaseEvent) -> pb.WatchLeasesResponse:
    return pb.WatchLeasesResponse(change=_CHANGES[event.change], lease=lease_to_proto(event.lease))
