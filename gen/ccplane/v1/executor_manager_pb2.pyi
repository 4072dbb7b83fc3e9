import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExecutorState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXECUTOR_STATE_UNSPECIFIED: _ClassVar[ExecutorState]
    EXECUTOR_STATE_STARTING: _ClassVar[ExecutorState]
    EXECUTOR_STATE_READY: _ClassVar[ExecutorState]
    EXECUTOR_STATE_DRAINING: _ClassVar[ExecutorState]
    EXECUTOR_STATE_UNHEALTHY: _ClassVar[ExecutorState]
    EXECUTOR_STATE_STOPPED: _ClassVar[ExecutorState]

class LeaseChange(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LEASE_CHANGE_UNSPECIFIED: _ClassVar[LeaseChange]
    LEASE_CHANGE_ACQUIRED: _ClassVar[LeaseChange]
    LEASE_CHANGE_RELEASED: _ClassVar[LeaseChange]
    LEASE_CHANGE_EXPIRED: _ClassVar[LeaseChange]
EXECUTOR_STATE_UNSPECIFIED: ExecutorState
EXECUTOR_STATE_STARTING: ExecutorState
EXECUTOR_STATE_READY: ExecutorState
EXECUTOR_STATE_DRAINING: ExecutorState
EXECUTOR_STATE_UNHEALTHY: ExecutorState
EXECUTOR_STATE_STOPPED: ExecutorState
LEASE_CHANGE_UNSPECIFIED: LeaseChange
LEASE_CHANGE_ACQUIRED: LeaseChange
LEASE_CHANGE_RELEASED: LeaseChange
LEASE_CHANGE_EXPIRED: LeaseChange

class Executor(_message.Message):
    __slots__ = ("id", "address", "state", "slots_total", "slots_used", "backend", "providers", "labels", "version", "registered_at", "last_heartbeat_at", "metrics_address")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SLOTS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    SLOTS_USED_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_HEARTBEAT_AT_FIELD_NUMBER: _ClassVar[int]
    METRICS_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    id: str
    address: str
    state: ExecutorState
    slots_total: int
    slots_used: int
    backend: str
    providers: _containers.RepeatedScalarFieldContainer[str]
    labels: _containers.ScalarMap[str, str]
    version: str
    registered_at: _timestamp_pb2.Timestamp
    last_heartbeat_at: _timestamp_pb2.Timestamp
    metrics_address: str
    def __init__(self, id: _Optional[str] = ..., address: _Optional[str] = ..., state: _Optional[_Union[ExecutorState, str]] = ..., slots_total: _Optional[int] = ..., slots_used: _Optional[int] = ..., backend: _Optional[str] = ..., providers: _Optional[_Iterable[str]] = ..., labels: _Optional[_Mapping[str, str]] = ..., version: _Optional[str] = ..., registered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_heartbeat_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., metrics_address: _Optional[str] = ...) -> None: ...

class ExecutorLease(_message.Message):
    __slots__ = ("lease_id", "executor_id", "address", "run_id", "acquired_at")
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    ACQUIRED_AT_FIELD_NUMBER: _ClassVar[int]
    lease_id: str
    executor_id: str
    address: str
    run_id: str
    acquired_at: _timestamp_pb2.Timestamp
    def __init__(self, lease_id: _Optional[str] = ..., executor_id: _Optional[str] = ..., address: _Optional[str] = ..., run_id: _Optional[str] = ..., acquired_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AcquireExecutorRequest(_message.Message):
    __slots__ = ("run_id", "tenant_id", "provider", "preferred_executor_id")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    tenant_id: str
    provider: str
    preferred_executor_id: str
    def __init__(self, run_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., provider: _Optional[str] = ..., preferred_executor_id: _Optional[str] = ...) -> None: ...

class AcquireExecutorResponse(_message.Message):
    __slots__ = ("lease",)
    LEASE_FIELD_NUMBER: _ClassVar[int]
    lease: ExecutorLease
    def __init__(self, lease: _Optional[_Union[ExecutorLease, _Mapping]] = ...) -> None: ...

class ReleaseExecutorRequest(_message.Message):
    __slots__ = ("lease_id",)
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    lease_id: str
    def __init__(self, lease_id: _Optional[str] = ...) -> None: ...

class ReleaseExecutorResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RegisterExecutorRequest(_message.Message):
    __slots__ = ("executor_id", "address", "slots_total", "providers", "labels", "version", "backend", "metrics_address")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SLOTS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    METRICS_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    executor_id: str
    address: str
    slots_total: int
    providers: _containers.RepeatedScalarFieldContainer[str]
    labels: _containers.ScalarMap[str, str]
    version: str
    backend: str
    metrics_address: str
    def __init__(self, executor_id: _Optional[str] = ..., address: _Optional[str] = ..., slots_total: _Optional[int] = ..., providers: _Optional[_Iterable[str]] = ..., labels: _Optional[_Mapping[str, str]] = ..., version: _Optional[str] = ..., backend: _Optional[str] = ..., metrics_address: _Optional[str] = ...) -> None: ...

class RegisterExecutorResponse(_message.Message):
    __slots__ = ("executor", "heartbeat_interval")
    EXECUTOR_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    executor: Executor
    heartbeat_interval: _duration_pb2.Duration
    def __init__(self, executor: _Optional[_Union[Executor, _Mapping]] = ..., heartbeat_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("executor_id", "slots_used", "draining", "run_ids")
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    SLOTS_USED_FIELD_NUMBER: _ClassVar[int]
    DRAINING_FIELD_NUMBER: _ClassVar[int]
    RUN_IDS_FIELD_NUMBER: _ClassVar[int]
    executor_id: str
    slots_used: int
    draining: bool
    run_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, executor_id: _Optional[str] = ..., slots_used: _Optional[int] = ..., draining: _Optional[bool] = ..., run_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("known", "drain")
    KNOWN_FIELD_NUMBER: _ClassVar[int]
    DRAIN_FIELD_NUMBER: _ClassVar[int]
    known: bool
    drain: bool
    def __init__(self, known: _Optional[bool] = ..., drain: _Optional[bool] = ...) -> None: ...

class ListExecutorsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListExecutorsResponse(_message.Message):
    __slots__ = ("executors", "next_page_token")
    EXECUTORS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    executors: _containers.RepeatedCompositeFieldContainer[Executor]
    next_page_token: str
    def __init__(self, executors: _Optional[_Iterable[_Union[Executor, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DrainExecutorRequest(_message.Message):
    __slots__ = ("executor_id",)
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    executor_id: str
    def __init__(self, executor_id: _Optional[str] = ...) -> None: ...

class DrainExecutorResponse(_message.Message):
    __slots__ = ("executor",)
    EXECUTOR_FIELD_NUMBER: _ClassVar[int]
    executor: Executor
    def __init__(self, executor: _Optional[_Union[Executor, _Mapping]] = ...) -> None: ...

class WatchLeasesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WatchLeasesResponse(_message.Message):
    __slots__ = ("change", "lease")
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    LEASE_FIELD_NUMBER: _ClassVar[int]
    change: LeaseChange
    lease: ExecutorLease
    def __init__(self, change: _Optional[_Union[LeaseChange, str]] = ..., lease: _Optional[_Union[ExecutorLease, _Mapping]] = ...) -> None: ...
