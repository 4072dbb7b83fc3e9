import datetime

from ccplane.v1 import events_pb2 as _events_pb2
from ccplane.v1 import human_loop_pb2 as _human_loop_pb2
from ccplane.v1 import runs_pb2 as _runs_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SessionOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SESSION_OUTCOME_UNSPECIFIED: _ClassVar[SessionOutcome]
    SESSION_OUTCOME_COMPLETED: _ClassVar[SessionOutcome]
    SESSION_OUTCOME_FAILED: _ClassVar[SessionOutcome]
    SESSION_OUTCOME_CANCELED: _ClassVar[SessionOutcome]
SESSION_OUTCOME_UNSPECIFIED: SessionOutcome
SESSION_OUTCOME_COMPLETED: SessionOutcome
SESSION_OUTCOME_FAILED: SessionOutcome
SESSION_OUTCOME_CANCELED: SessionOutcome

class SessionRequest(_message.Message):
    __slots__ = ("start", "inject", "reply", "interrupt", "close", "attach")
    START_FIELD_NUMBER: _ClassVar[int]
    INJECT_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    INTERRUPT_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    ATTACH_FIELD_NUMBER: _ClassVar[int]
    start: StartSession
    inject: InjectInput
    reply: DeliverReply
    interrupt: InterruptTurn
    close: CloseSession
    attach: AttachSession
    def __init__(self, start: _Optional[_Union[StartSession, _Mapping]] = ..., inject: _Optional[_Union[InjectInput, _Mapping]] = ..., reply: _Optional[_Union[DeliverReply, _Mapping]] = ..., interrupt: _Optional[_Union[InterruptTurn, _Mapping]] = ..., close: _Optional[_Union[CloseSession, _Mapping]] = ..., attach: _Optional[_Union[AttachSession, _Mapping]] = ...) -> None: ...

class AttachSession(_message.Message):
    __slots__ = ("run_id", "after_executor_seq")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_EXECUTOR_SEQ_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    after_executor_seq: int
    def __init__(self, run_id: _Optional[str] = ..., after_executor_seq: _Optional[int] = ...) -> None: ...

class StartSession(_message.Message):
    __slots__ = ("run_id", "tenant_id", "workspace_dir", "workspace_id", "workspace_version", "provider", "model", "settings", "prompt", "resume_thread_id", "lease_id")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_DIR_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_VERSION_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    RESUME_THREAD_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    tenant_id: str
    workspace_dir: str
    workspace_id: str
    workspace_version: int
    provider: str
    model: str
    settings: _runs_pb2.RunSettings
    prompt: str
    resume_thread_id: str
    lease_id: str
    def __init__(self, run_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., workspace_dir: _Optional[str] = ..., workspace_id: _Optional[str] = ..., workspace_version: _Optional[int] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., settings: _Optional[_Union[_runs_pb2.RunSettings, _Mapping]] = ..., prompt: _Optional[str] = ..., resume_thread_id: _Optional[str] = ..., lease_id: _Optional[str] = ...) -> None: ...

class InjectInput(_message.Message):
    __slots__ = ("text", "request_id")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    text: str
    request_id: str
    def __init__(self, text: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class DeliverReply(_message.Message):
    __slots__ = ("question_id", "answer")
    QUESTION_ID_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    question_id: str
    answer: _human_loop_pb2.HumanLoopAnswer
    def __init__(self, question_id: _Optional[str] = ..., answer: _Optional[_Union[_human_loop_pb2.HumanLoopAnswer, _Mapping]] = ...) -> None: ...

class InterruptTurn(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class CloseSession(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class SessionOutput(_message.Message):
    __slots__ = ("executor_seq", "event", "action_result", "ended")
    EXECUTOR_SEQ_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    ACTION_RESULT_FIELD_NUMBER: _ClassVar[int]
    ENDED_FIELD_NUMBER: _ClassVar[int]
    executor_seq: int
    event: _events_pb2.RunEvent
    action_result: ActionResult
    ended: SessionEnded
    def __init__(self, executor_seq: _Optional[int] = ..., event: _Optional[_Union[_events_pb2.RunEvent, _Mapping]] = ..., action_result: _Optional[_Union[ActionResult, _Mapping]] = ..., ended: _Optional[_Union[SessionEnded, _Mapping]] = ...) -> None: ...

class ActionResult(_message.Message):
    __slots__ = ("action", "ref", "code", "message", "delivery")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    action: str
    ref: str
    code: int
    message: str
    delivery: _runs_pb2.MessageDelivery
    def __init__(self, action: _Optional[str] = ..., ref: _Optional[str] = ..., code: _Optional[int] = ..., message: _Optional[str] = ..., delivery: _Optional[_Union[_runs_pb2.MessageDelivery, str]] = ...) -> None: ...

class SessionEnded(_message.Message):
    __slots__ = ("outcome", "error", "error_reason", "thread_id")
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ERROR_REASON_FIELD_NUMBER: _ClassVar[int]
    THREAD_ID_FIELD_NUMBER: _ClassVar[int]
    outcome: SessionOutcome
    error: str
    error_reason: str
    thread_id: str
    def __init__(self, outcome: _Optional[_Union[SessionOutcome, str]] = ..., error: _Optional[str] = ..., error_reason: _Optional[str] = ..., thread_id: _Optional[str] = ...) -> None: ...

class SessionResponse(_message.Message):
    __slots__ = ("output",)
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    output: SessionOutput
    def __init__(self, output: _Optional[_Union[SessionOutput, _Mapping]] = ...) -> None: ...

class AttachRequest(_message.Message):
    __slots__ = ("run_id", "after_executor_seq")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_EXECUTOR_SEQ_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    after_executor_seq: int
    def __init__(self, run_id: _Optional[str] = ..., after_executor_seq: _Optional[int] = ...) -> None: ...

class AttachResponse(_message.Message):
    __slots__ = ("output",)
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    output: SessionOutput
    def __init__(self, output: _Optional[_Union[SessionOutput, _Mapping]] = ...) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SessionStatus(_message.Message):
    __slots__ = ("run_id", "thread_id", "turn_active", "pending_question_ids", "last_executor_seq", "started_at", "attached", "trace_id")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    THREAD_ID_FIELD_NUMBER: _ClassVar[int]
    TURN_ACTIVE_FIELD_NUMBER: _ClassVar[int]
    PENDING_QUESTION_IDS_FIELD_NUMBER: _ClassVar[int]
    LAST_EXECUTOR_SEQ_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    ATTACHED_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    thread_id: str
    turn_active: bool
    pending_question_ids: _containers.RepeatedScalarFieldContainer[str]
    last_executor_seq: int
    started_at: _timestamp_pb2.Timestamp
    attached: bool
    trace_id: str
    def __init__(self, run_id: _Optional[str] = ..., thread_id: _Optional[str] = ..., turn_active: _Optional[bool] = ..., pending_question_ids: _Optional[_Iterable[str]] = ..., last_executor_seq: _Optional[int] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., attached: _Optional[bool] = ..., trace_id: _Optional[str] = ...) -> None: ...

class GetStatusResponse(_message.Message):
    __slots__ = ("executor_id", "slots_total", "slots_used", "draining", "sessions", "providers")
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    SLOTS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    SLOTS_USED_FIELD_NUMBER: _ClassVar[int]
    DRAINING_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    executor_id: str
    slots_total: int
    slots_used: int
    draining: bool
    sessions: _containers.RepeatedCompositeFieldContainer[SessionStatus]
    providers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, executor_id: _Optional[str] = ..., slots_total: _Optional[int] = ..., slots_used: _Optional[int] = ..., draining: _Optional[bool] = ..., sessions: _Optional[_Iterable[_Union[SessionStatus, _Mapping]]] = ..., providers: _Optional[_Iterable[str]] = ...) -> None: ...

class DrainRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DrainResponse(_message.Message):
    __slots__ = ("active_sessions",)
    ACTIVE_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    active_sessions: int
    def __init__(self, active_sessions: _Optional[int] = ...) -> None: ...
