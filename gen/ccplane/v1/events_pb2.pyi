import datetime

from ccplane.v1 import common_pb2 as _common_pb2
from ccplane.v1 import human_loop_pb2 as _human_loop_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TurnStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TURN_STATUS_UNSPECIFIED: _ClassVar[TurnStatus]
    TURN_STATUS_COMPLETED: _ClassVar[TurnStatus]
    TURN_STATUS_INTERRUPTED: _ClassVar[TurnStatus]
    TURN_STATUS_FAILED: _ClassVar[TurnStatus]

class CommandStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMMAND_STATUS_UNSPECIFIED: _ClassVar[CommandStatus]
    COMMAND_STATUS_COMPLETED: _ClassVar[CommandStatus]
    COMMAND_STATUS_FAILED: _ClassVar[CommandStatus]
    COMMAND_STATUS_DECLINED: _ClassVar[CommandStatus]

class PatchStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PATCH_STATUS_UNSPECIFIED: _ClassVar[PatchStatus]
    PATCH_STATUS_COMPLETED: _ClassVar[PatchStatus]
    PATCH_STATUS_FAILED: _ClassVar[PatchStatus]
    PATCH_STATUS_DECLINED: _ClassVar[PatchStatus]
TURN_STATUS_UNSPECIFIED: TurnStatus
TURN_STATUS_COMPLETED: TurnStatus
TURN_STATUS_INTERRUPTED: TurnStatus
TURN_STATUS_FAILED: TurnStatus
COMMAND_STATUS_UNSPECIFIED: CommandStatus
COMMAND_STATUS_COMPLETED: CommandStatus
COMMAND_STATUS_FAILED: CommandStatus
COMMAND_STATUS_DECLINED: CommandStatus
PATCH_STATUS_UNSPECIFIED: PatchStatus
PATCH_STATUS_COMPLETED: PatchStatus
PATCH_STATUS_FAILED: PatchStatus
PATCH_STATUS_DECLINED: PatchStatus

class RunEvent(_message.Message):
    __slots__ = ("run_id", "seq", "type", "time", "trace_id", "turn_id", "status_changed", "thread_started", "turn_started", "turn_completed", "user_message", "message_delta", "message_completed", "reasoning_summary", "command_started", "command_output", "command_completed", "file_change_completed", "todos_updated", "usage_updated", "human_loop_requested", "human_loop_resolved", "human_loop_expired", "human_loop_canceled", "workspace_synced", "warning", "error", "provider_raw", "turn_diff")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    TURN_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_CHANGED_FIELD_NUMBER: _ClassVar[int]
    THREAD_STARTED_FIELD_NUMBER: _ClassVar[int]
    TURN_STARTED_FIELD_NUMBER: _ClassVar[int]
    TURN_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    USER_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_DELTA_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    REASONING_SUMMARY_FIELD_NUMBER: _ClassVar[int]
    COMMAND_STARTED_FIELD_NUMBER: _ClassVar[int]
    COMMAND_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    COMMAND_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    FILE_CHANGE_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    TODOS_UPDATED_FIELD_NUMBER: _ClassVar[int]
    USAGE_UPDATED_FIELD_NUMBER: _ClassVar[int]
    HUMAN_LOOP_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    HUMAN_LOOP_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    HUMAN_LOOP_EXPIRED_FIELD_NUMBER: _ClassVar[int]
    HUMAN_LOOP_CANCELED_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_SYNCED_FIELD_NUMBER: _ClassVar[int]
    WARNING_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_RAW_FIELD_NUMBER: _ClassVar[int]
    TURN_DIFF_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    seq: int
    type: str
    time: _timestamp_pb2.Timestamp
    trace_id: str
    turn_id: str
    status_changed: RunStatusChanged
    thread_started: ThreadStarted
    turn_started: TurnStarted
    turn_completed: TurnCompleted
    user_message: UserMessage
    message_delta: MessageDelta
    message_completed: MessageCompleted
    reasoning_summary: ReasoningSummary
    command_started: CommandStarted
    command_output: CommandOutput
    command_completed: CommandCompleted
    file_change_completed: FileChangeCompleted
    todos_updated: TodosUpdated
    usage_updated: UsageUpdated
    human_loop_requested: HumanLoopRequested
    human_loop_resolved: HumanLoopResolved
    human_loop_expired: HumanLoopExpired
    human_loop_canceled: HumanLoopCanceled
    workspace_synced: WorkspaceSynced
    warning: RunWarning
    error: RunError
    provider_raw: ProviderRaw
    turn_diff: TurnDiff
    def __init__(self, run_id: _Optional[str] = ..., seq: _Optional[int] = ..., type: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., trace_id: _Optional[str] = ..., turn_id: _Optional[str] = ..., status_changed: _Optional[_Union[RunStatusChanged, _Mapping]] = ..., thread_started: _Optional[_Union[ThreadStarted, _Mapping]] = ..., turn_started: _Optional[_Union[TurnStarted, _Mapping]] = ..., turn_completed: _Optional[_Union[TurnCompleted, _Mapping]] = ..., user_message: _Optional[_Union[UserMessage, _Mapping]] = ..., message_delta: _Optional[_Union[MessageDelta, _Mapping]] = ..., message_completed: _Optional[_Union[MessageCompleted, _Mapping]] = ..., reasoning_summary: _Optional[_Union[ReasoningSummary, _Mapping]] = ..., command_started: _Optional[_Union[CommandStarted, _Mapping]] = ..., command_output: _Optional[_Union[CommandOutput, _Mapping]] = ..., command_completed: _Optional[_Union[CommandCompleted, _Mapping]] = ..., file_change_completed: _Optional[_Union[FileChangeCompleted, _Mapping]] = ..., todos_updated: _Optional[_Union[TodosUpdated, _Mapping]] = ..., usage_updated: _Optional[_Union[UsageUpdated, _Mapping]] = ..., human_loop_requested: _Optional[_Union[HumanLoopRequested, _Mapping]] = ..., human_loop_resolved: _Optional[_Union[HumanLoopResolved, _Mapping]] = ..., human_loop_expired: _Optional[_Union[HumanLoopExpired, _Mapping]] = ..., human_loop_canceled: _Optional[_Union[HumanLoopCanceled, _Mapping]] = ..., workspace_synced: _Optional[_Union[WorkspaceSynced, _Mapping]] = ..., warning: _Optional[_Union[RunWarning, _Mapping]] = ..., error: _Optional[_Union[RunError, _Mapping]] = ..., provider_raw: _Optional[_Union[ProviderRaw, _Mapping]] = ..., turn_diff: _Optional[_Union[TurnDiff, _Mapping]] = ...) -> None: ...

class RunStatusChanged(_message.Message):
    __slots__ = ("previous_status", "status", "reason", "error", "error_reason")
    PREVIOUS_STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ERROR_REASON_FIELD_NUMBER: _ClassVar[int]
    previous_status: _common_pb2.RunStatus
    status: _common_pb2.RunStatus
    reason: str
    error: str
    error_reason: str
    def __init__(self, previous_status: _Optional[_Union[_common_pb2.RunStatus, str]] = ..., status: _Optional[_Union[_common_pb2.RunStatus, str]] = ..., reason: _Optional[str] = ..., error: _Optional[str] = ..., error_reason: _Optional[str] = ...) -> None: ...

class ThreadStarted(_message.Message):
    __slots__ = ("thread_id", "resumed")
    THREAD_ID_FIELD_NUMBER: _ClassVar[int]
    RESUMED_FIELD_NUMBER: _ClassVar[int]
    thread_id: str
    resumed: bool
    def __init__(self, thread_id: _Optional[str] = ..., resumed: _Optional[bool] = ...) -> None: ...

class TurnStarted(_message.Message):
    __slots__ = ("turn_id", "thread_id")
    TURN_ID_FIELD_NUMBER: _ClassVar[int]
    THREAD_ID_FIELD_NUMBER: _ClassVar[int]
    turn_id: str
    thread_id: str
    def __init__(self, turn_id: _Optional[str] = ..., thread_id: _Optional[str] = ...) -> None: ...

class TurnCompleted(_message.Message):
    __slots__ = ("turn_id", "status", "error")
    TURN_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    turn_id: str
    status: TurnStatus
    error: str
    def __init__(self, turn_id: _Optional[str] = ..., status: _Optional[_Union[TurnStatus, str]] = ..., error: _Optional[str] = ...) -> None: ...

class UserMessage(_message.Message):
    __slots__ = ("item_id", "text")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    text: str
    def __init__(self, item_id: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class MessageDelta(_message.Message):
    __slots__ = ("item_id", "delta")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    delta: str
    def __init__(self, item_id: _Optional[str] = ..., delta: _Optional[str] = ...) -> None: ...

class MessageCompleted(_message.Message):
    __slots__ = ("item_id", "text")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    text: str
    def __init__(self, item_id: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class ReasoningSummary(_message.Message):
    __slots__ = ("item_id", "text")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    text: str
    def __init__(self, item_id: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class CommandStarted(_message.Message):
    __slots__ = ("item_id", "command", "cwd")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    CWD_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    command: str
    cwd: str
    def __init__(self, item_id: _Optional[str] = ..., command: _Optional[str] = ..., cwd: _Optional[str] = ...) -> None: ...

class CommandOutput(_message.Message):
    __slots__ = ("item_id", "chunk", "truncated")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    chunk: str
    truncated: bool
    def __init__(self, item_id: _Optional[str] = ..., chunk: _Optional[str] = ..., truncated: _Optional[bool] = ...) -> None: ...

class CommandCompleted(_message.Message):
    __slots__ = ("item_id", "command", "cwd", "status", "exit_code", "output", "duration_ms", "output_bytes", "output_truncated")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    CWD_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    command: str
    cwd: str
    status: CommandStatus
    exit_code: int
    output: str
    duration_ms: int
    output_bytes: int
    output_truncated: bool
    def __init__(self, item_id: _Optional[str] = ..., command: _Optional[str] = ..., cwd: _Optional[str] = ..., status: _Optional[_Union[CommandStatus, str]] = ..., exit_code: _Optional[int] = ..., output: _Optional[str] = ..., duration_ms: _Optional[int] = ..., output_bytes: _Optional[int] = ..., output_truncated: _Optional[bool] = ...) -> None: ...

class FileChangeCompleted(_message.Message):
    __slots__ = ("item_id", "changes", "status")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    changes: _containers.RepeatedCompositeFieldContainer[_common_pb2.FileChange]
    status: PatchStatus
    def __init__(self, item_id: _Optional[str] = ..., changes: _Optional[_Iterable[_Union[_common_pb2.FileChange, _Mapping]]] = ..., status: _Optional[_Union[PatchStatus, str]] = ...) -> None: ...

class TodosUpdated(_message.Message):
    __slots__ = ("version", "items", "explanation")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    version: int
    items: _containers.RepeatedCompositeFieldContainer[_common_pb2.TodoItem]
    explanation: str
    def __init__(self, version: _Optional[int] = ..., items: _Optional[_Iterable[_Union[_common_pb2.TodoItem, _Mapping]]] = ..., explanation: _Optional[str] = ...) -> None: ...

class UsageUpdated(_message.Message):
    __slots__ = ("last", "total", "model")
    LAST_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    last: _common_pb2.Usage
    total: _common_pb2.Usage
    model: str
    def __init__(self, last: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., total: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., model: _Optional[str] = ...) -> None: ...

class HumanLoopRequested(_message.Message):
    __slots__ = ("question_id", "kind", "details", "expires_at", "item_id")
    QUESTION_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    question_id: str
    kind: _human_loop_pb2.HumanLoopKind
    details: _human_loop_pb2.HumanLoopDetails
    expires_at: _timestamp_pb2.Timestamp
    item_id: str
    def __init__(self, question_id: _Optional[str] = ..., kind: _Optional[_Union[_human_loop_pb2.HumanLoopKind, str]] = ..., details: _Optional[_Union[_human_loop_pb2.HumanLoopDetails, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., item_id: _Optional[str] = ...) -> None: ...

class HumanLoopResolved(_message.Message):
    __slots__ = ("question_id", "answer", "resolved_by")
    QUESTION_ID_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_BY_FIELD_NUMBER: _ClassVar[int]
    question_id: str
    answer: _human_loop_pb2.HumanLoopAnswer
    resolved_by: str
    def __init__(self, question_id: _Optional[str] = ..., answer: _Optional[_Union[_human_loop_pb2.HumanLoopAnswer, _Mapping]] = ..., resolved_by: _Optional[str] = ...) -> None: ...

class HumanLoopExpired(_message.Message):
    __slots__ = ("question_id", "answer")
    QUESTION_ID_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    question_id: str
    answer: _human_loop_pb2.HumanLoopAnswer
    def __init__(self, question_id: _Optional[str] = ..., answer: _Optional[_Union[_human_loop_pb2.HumanLoopAnswer, _Mapping]] = ...) -> None: ...

class HumanLoopCanceled(_message.Message):
    __slots__ = ("question_id", "reason")
    QUESTION_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    question_id: str
    reason: str
    def __init__(self, question_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class WorkspaceSynced(_message.Message):
    __slots__ = ("workspace_id", "version", "changed_paths", "deleted_paths")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CHANGED_PATHS_FIELD_NUMBER: _ClassVar[int]
    DELETED_PATHS_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    version: int
    changed_paths: _containers.RepeatedScalarFieldContainer[str]
    deleted_paths: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, workspace_id: _Optional[str] = ..., version: _Optional[int] = ..., changed_paths: _Optional[_Iterable[str]] = ..., deleted_paths: _Optional[_Iterable[str]] = ...) -> None: ...

class RunWarning(_message.Message):
    __slots__ = ("message", "reason")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    message: str
    reason: str
    def __init__(self, message: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RunError(_message.Message):
    __slots__ = ("message", "reason", "will_retry")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    WILL_RETRY_FIELD_NUMBER: _ClassVar[int]
    message: str
    reason: str
    will_retry: bool
    def __init__(self, message: _Optional[str] = ..., reason: _Optional[str] = ..., will_retry: _Optional[bool] = ...) -> None: ...

class ProviderRaw(_message.Message):
    __slots__ = ("method", "params")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    method: str
    params: _struct_pb2.Struct
    def __init__(self, method: _Optional[str] = ..., params: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class TurnDiff(_message.Message):
    __slots__ = ("turn_id", "diff")
    TURN_ID_FIELD_NUMBER: _ClassVar[int]
    DIFF_FIELD_NUMBER: _ClassVar[int]
    turn_id: str
    diff: str
    def __init__(self, turn_id: _Optional[str] = ..., diff: _Optional[str] = ...) -> None: ...
