import datetime

from ccplane.v1 import common_pb2 as _common_pb2
from ccplane.v1 import human_loop_pb2 as _human_loop_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AlertState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALERT_STATE_UNSPECIFIED: _ClassVar[AlertState]
    ALERT_STATE_OPEN: _ClassVar[AlertState]
    ALERT_STATE_ACKNOWLEDGED: _ClassVar[AlertState]
    ALERT_STATE_RESOLVED: _ClassVar[AlertState]
ALERT_STATE_UNSPECIFIED: AlertState
ALERT_STATE_OPEN: AlertState
ALERT_STATE_ACKNOWLEDGED: AlertState
ALERT_STATE_RESOLVED: AlertState

class ReconcileRunsRequest(_message.Message):
    __slots__ = ("dry_run", "stale_after")
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    STALE_AFTER_FIELD_NUMBER: _ClassVar[int]
    dry_run: bool
    stale_after: _duration_pb2.Duration
    def __init__(self, dry_run: _Optional[bool] = ..., stale_after: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ReconcileAction(_message.Message):
    __slots__ = ("run_id", "previous_status", "status", "reason", "kind", "lease_id")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    previous_status: _common_pb2.RunStatus
    status: _common_pb2.RunStatus
    reason: str
    kind: str
    lease_id: str
    def __init__(self, run_id: _Optional[str] = ..., previous_status: _Optional[_Union[_common_pb2.RunStatus, str]] = ..., status: _Optional[_Union[_common_pb2.RunStatus, str]] = ..., reason: _Optional[str] = ..., kind: _Optional[str] = ..., lease_id: _Optional[str] = ...) -> None: ...

class ReconcileRunsResponse(_message.Message):
    __slots__ = ("examined", "actions")
    EXAMINED_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    examined: int
    actions: _containers.RepeatedCompositeFieldContainer[ReconcileAction]
    def __init__(self, examined: _Optional[int] = ..., actions: _Optional[_Iterable[_Union[ReconcileAction, _Mapping]]] = ...) -> None: ...

class ExpireHumanLoopRequestsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ExpireHumanLoopRequestsResponse(_message.Message):
    __slots__ = ("expired",)
    EXPIRED_FIELD_NUMBER: _ClassVar[int]
    expired: _containers.RepeatedCompositeFieldContainer[_human_loop_pb2.HumanLoopRequest]
    def __init__(self, expired: _Optional[_Iterable[_Union[_human_loop_pb2.HumanLoopRequest, _Mapping]]] = ...) -> None: ...

class GetMetricsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReconcileAlert(_message.Message):
    __slots__ = ("id", "kind", "severity", "run_id", "message", "details", "created_at", "tenant", "state", "resolved_at", "acknowledged_at", "acknowledged_by")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_AT_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_AT_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_BY_FIELD_NUMBER: _ClassVar[int]
    id: int
    kind: str
    severity: str
    run_id: str
    message: str
    details: _struct_pb2.Struct
    created_at: _timestamp_pb2.Timestamp
    tenant: str
    state: AlertState
    resolved_at: _timestamp_pb2.Timestamp
    acknowledged_at: _timestamp_pb2.Timestamp
    acknowledged_by: str
    def __init__(self, id: _Optional[int] = ..., kind: _Optional[str] = ..., severity: _Optional[str] = ..., run_id: _Optional[str] = ..., message: _Optional[str] = ..., details: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., tenant: _Optional[str] = ..., state: _Optional[_Union[AlertState, str]] = ..., resolved_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., acknowledged_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., acknowledged_by: _Optional[str] = ...) -> None: ...

class ListAlertsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "state", "kind", "severity", "run_id", "tenant")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    state: _containers.RepeatedScalarFieldContainer[AlertState]
    kind: str
    severity: str
    run_id: str
    tenant: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., state: _Optional[_Iterable[_Union[AlertState, str]]] = ..., kind: _Optional[str] = ..., severity: _Optional[str] = ..., run_id: _Optional[str] = ..., tenant: _Optional[str] = ...) -> None: ...

class ListAlertsResponse(_message.Message):
    __slots__ = ("alerts", "next_page_token")
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    alerts: _containers.RepeatedCompositeFieldContainer[ReconcileAlert]
    next_page_token: str
    def __init__(self, alerts: _Optional[_Iterable[_Union[ReconcileAlert, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AcknowledgeAlertRequest(_message.Message):
    __slots__ = ("alert_id",)
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    alert_id: int
    def __init__(self, alert_id: _Optional[int] = ...) -> None: ...

class AcknowledgeAlertResponse(_message.Message):
    __slots__ = ("alert",)
    ALERT_FIELD_NUMBER: _ClassVar[int]
    alert: ReconcileAlert
    def __init__(self, alert: _Optional[_Union[ReconcileAlert, _Mapping]] = ...) -> None: ...

class GetMetricsResponse(_message.Message):
    __slots__ = ("runs_by_status", "pending_human_loop_requests", "executors_ready", "slots_total", "slots_used", "open_alerts", "usage_last_24h")
    class RunsByStatusEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    RUNS_BY_STATUS_FIELD_NUMBER: _ClassVar[int]
    PENDING_HUMAN_LOOP_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    EXECUTORS_READY_FIELD_NUMBER: _ClassVar[int]
    SLOTS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    SLOTS_USED_FIELD_NUMBER: _ClassVar[int]
    OPEN_ALERTS_FIELD_NUMBER: _ClassVar[int]
    USAGE_LAST_24H_FIELD_NUMBER: _ClassVar[int]
    runs_by_status: _containers.ScalarMap[str, int]
    pending_human_loop_requests: int
    executors_ready: int
    slots_total: int
    slots_used: int
    open_alerts: _containers.RepeatedCompositeFieldContainer[ReconcileAlert]
    usage_last_24h: _common_pb2.Usage
    def __init__(self, runs_by_status: _Optional[_Mapping[str, int]] = ..., pending_human_loop_requests: _Optional[int] = ..., executors_ready: _Optional[int] = ..., slots_total: _Optional[int] = ..., slots_used: _Optional[int] = ..., open_alerts: _Optional[_Iterable[_Union[ReconcileAlert, _Mapping]]] = ..., usage_last_24h: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ...) -> None: ...
