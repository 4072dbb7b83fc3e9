import datetime

from ccplane.v1 import common_pb2 as _common_pb2
from ccplane.v1 import events_pb2 as _events_pb2
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

class ApprovalMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    APPROVAL_MODE_UNSPECIFIED: _ClassVar[ApprovalMode]
    APPROVAL_MODE_NEVER: _ClassVar[ApprovalMode]
    APPROVAL_MODE_ON_REQUEST: _ClassVar[ApprovalMode]
    APPROVAL_MODE_ON_FAILURE: _ClassVar[ApprovalMode]
    APPROVAL_MODE_UNTRUSTED: _ClassVar[ApprovalMode]

class SandboxMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SANDBOX_MODE_UNSPECIFIED: _ClassVar[SandboxMode]
    SANDBOX_MODE_READ_ONLY: _ClassVar[SandboxMode]
    SANDBOX_MODE_WORKSPACE_WRITE: _ClassVar[SandboxMode]
    SANDBOX_MODE_DANGER_FULL_ACCESS: _ClassVar[SandboxMode]

class ReasoningEffort(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REASONING_EFFORT_UNSPECIFIED: _ClassVar[ReasoningEffort]
    REASONING_EFFORT_NONE: _ClassVar[ReasoningEffort]
    REASONING_EFFORT_MINIMAL: _ClassVar[ReasoningEffort]
    REASONING_EFFORT_LOW: _ClassVar[ReasoningEffort]
    REASONING_EFFORT_MEDIUM: _ClassVar[ReasoningEffort]
    REASONING_EFFORT_HIGH: _ClassVar[ReasoningEffort]
    REASONING_EFFORT_XHIGH: _ClassVar[ReasoningEffort]

class ThreadMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    THREAD_MODE_UNSPECIFIED: _ClassVar[ThreadMode]
    THREAD_MODE_PERSISTENT: _ClassVar[ThreadMode]
    THREAD_MODE_STATELESS: _ClassVar[ThreadMode]

class MessageDelivery(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MESSAGE_DELIVERY_UNSPECIFIED: _ClassVar[MessageDelivery]
    MESSAGE_DELIVERY_STEER: _ClassVar[MessageDelivery]
    MESSAGE_DELIVERY_FOLLOW_UP: _ClassVar[MessageDelivery]
APPROVAL_MODE_UNSPECIFIED: ApprovalMode
APPROVAL_MODE_NEVER: ApprovalMode
APPROVAL_MODE_ON_REQUEST: ApprovalMode
APPROVAL_MODE_ON_FAILURE: ApprovalMode
APPROVAL_MODE_UNTRUSTED: ApprovalMode
SANDBOX_MODE_UNSPECIFIED: SandboxMode
SANDBOX_MODE_READ_ONLY: SandboxMode
SANDBOX_MODE_WORKSPACE_WRITE: SandboxMode
SANDBOX_MODE_DANGER_FULL_ACCESS: SandboxMode
REASONING_EFFORT_UNSPECIFIED: ReasoningEffort
REASONING_EFFORT_NONE: ReasoningEffort
REASONING_EFFORT_MINIMAL: ReasoningEffort
REASONING_EFFORT_LOW: ReasoningEffort
REASONING_EFFORT_MEDIUM: ReasoningEffort
REASONING_EFFORT_HIGH: ReasoningEffort
REASONING_EFFORT_XHIGH: ReasoningEffort
THREAD_MODE_UNSPECIFIED: ThreadMode
THREAD_MODE_PERSISTENT: ThreadMode
THREAD_MODE_STATELESS: ThreadMode
MESSAGE_DELIVERY_UNSPECIFIED: MessageDelivery
MESSAGE_DELIVERY_STEER: MessageDelivery
MESSAGE_DELIVERY_FOLLOW_UP: MessageDelivery

class McpServer(_message.Message):
    __slots__ = ("command", "args", "env", "url")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    command: str
    args: _containers.RepeatedScalarFieldContainer[str]
    env: _containers.ScalarMap[str, str]
    url: str
    def __init__(self, command: _Optional[str] = ..., args: _Optional[_Iterable[str]] = ..., env: _Optional[_Mapping[str, str]] = ..., url: _Optional[str] = ...) -> None: ...

class RunSettings(_message.Message):
    __slots__ = ("approval_mode", "sandbox_mode", "reasoning_effort", "thread_mode", "mcp_servers", "env", "config_overrides", "base_instructions", "human_loop_timeout", "developer_instructions")
    class McpServersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: McpServer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[McpServer, _Mapping]] = ...) -> None: ...
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class ConfigOverridesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _struct_pb2.Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...
    APPROVAL_MODE_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_MODE_FIELD_NUMBER: _ClassVar[int]
    REASONING_EFFORT_FIELD_NUMBER: _ClassVar[int]
    THREAD_MODE_FIELD_NUMBER: _ClassVar[int]
    MCP_SERVERS_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    CONFIG_OVERRIDES_FIELD_NUMBER: _ClassVar[int]
    BASE_INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    HUMAN_LOOP_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    DEVELOPER_INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    approval_mode: ApprovalMode
    sandbox_mode: SandboxMode
    reasoning_effort: ReasoningEffort
    thread_mode: ThreadMode
    mcp_servers: _containers.MessageMap[str, McpServer]
    env: _containers.ScalarMap[str, str]
    config_overrides: _containers.MessageMap[str, _struct_pb2.Value]
    base_instructions: str
    human_loop_timeout: _duration_pb2.Duration
    developer_instructions: str
    def __init__(self, approval_mode: _Optional[_Union[ApprovalMode, str]] = ..., sandbox_mode: _Optional[_Union[SandboxMode, str]] = ..., reasoning_effort: _Optional[_Union[ReasoningEffort, str]] = ..., thread_mode: _Optional[_Union[ThreadMode, str]] = ..., mcp_servers: _Optional[_Mapping[str, McpServer]] = ..., env: _Optional[_Mapping[str, str]] = ..., config_overrides: _Optional[_Mapping[str, _struct_pb2.Value]] = ..., base_instructions: _Optional[str] = ..., human_loop_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., developer_instructions: _Optional[str] = ...) -> None: ...

class Run(_message.Message):
    __slots__ = ("id", "workspace_id", "status", "provider", "model", "settings", "thread_id", "executor_id", "created_at", "started_at", "finished_at", "error", "usage", "trace_id", "last_seq", "prompt", "labels", "require_human_loop", "resume_thread_id", "error_reason", "updated_at", "workspace_version")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    THREAD_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_HUMAN_LOOP_FIELD_NUMBER: _ClassVar[int]
    RESUME_THREAD_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_REASON_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_VERSION_FIELD_NUMBER: _ClassVar[int]
    id: str
    workspace_id: str
    status: _common_pb2.RunStatus
    provider: str
    model: str
    settings: RunSettings
    thread_id: str
    executor_id: str
    created_at: _timestamp_pb2.Timestamp
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    error: str
    usage: _common_pb2.Usage
    trace_id: str
    last_seq: int
    prompt: str
    labels: _containers.ScalarMap[str, str]
    require_human_loop: bool
    resume_thread_id: str
    error_reason: str
    updated_at: _timestamp_pb2.Timestamp
    workspace_version: int
    def __init__(self, id: _Optional[str] = ..., workspace_id: _Optional[str] = ..., status: _Optional[_Union[_common_pb2.RunStatus, str]] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., settings: _Optional[_Union[RunSettings, _Mapping]] = ..., thread_id: _Optional[str] = ..., executor_id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., error: _Optional[str] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., trace_id: _Optional[str] = ..., last_seq: _Optional[int] = ..., prompt: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., require_human_loop: _Optional[bool] = ..., resume_thread_id: _Optional[str] = ..., error_reason: _Optional[str] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., workspace_version: _Optional[int] = ...) -> None: ...

class CreateRunRequest(_message.Message):
    __slots__ = ("prompt", "workspace_id", "provider", "model", "settings", "require_human_loop", "resume_thread_id", "request_id", "labels")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_HUMAN_LOOP_FIELD_NUMBER: _ClassVar[int]
    RESUME_THREAD_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    workspace_id: str
    provider: str
    model: str
    settings: RunSettings
    require_human_loop: bool
    resume_thread_id: str
    request_id: str
    labels: _containers.ScalarMap[str, str]
    def __init__(self, prompt: _Optional[str] = ..., workspace_id: _Optional[str] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., settings: _Optional[_Union[RunSettings, _Mapping]] = ..., require_human_loop: _Optional[bool] = ..., resume_thread_id: _Optional[str] = ..., request_id: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ...) -> None: ...

class CreateRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: Run
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...

class GetRunRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class GetRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: Run
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...

class ListRunsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "status", "workspace_id", "thread_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    THREAD_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    status: _containers.RepeatedScalarFieldContainer[_common_pb2.RunStatus]
    workspace_id: str
    thread_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., status: _Optional[_Iterable[_Union[_common_pb2.RunStatus, str]]] = ..., workspace_id: _Optional[str] = ..., thread_id: _Optional[str] = ...) -> None: ...

class ListRunsResponse(_message.Message):
    __slots__ = ("runs", "next_page_token")
    RUNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[Run]
    next_page_token: str
    def __init__(self, runs: _Optional[_Iterable[_Union[Run, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class StopRunRequest(_message.Message):
    __slots__ = ("run_id", "reason", "request_id")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    reason: str
    request_id: str
    def __init__(self, run_id: _Optional[str] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class StopRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: Run
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...

class InterruptRunRequest(_message.Message):
    __slots__ = ("run_id", "reason")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    reason: str
    def __init__(self, run_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class InterruptRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: Run
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...

class SendMessageRequest(_message.Message):
    __slots__ = ("run_id", "text", "request_id")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    text: str
    request_id: str
    def __init__(self, run_id: _Optional[str] = ..., text: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class SendMessageResponse(_message.Message):
    __slots__ = ("run", "delivery")
    RUN_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    run: Run
    delivery: MessageDelivery
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ..., delivery: _Optional[_Union[MessageDelivery, str]] = ...) -> None: ...

class StreamRunEventsRequest(_message.Message):
    __slots__ = ("run_id", "after_seq")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    after_seq: int
    def __init__(self, run_id: _Optional[str] = ..., after_seq: _Optional[int] = ...) -> None: ...

class ListRunEventsRequest(_message.Message):
    __slots__ = ("run_id", "after_seq", "page_size", "page_token")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    after_seq: int
    page_size: int
    page_token: str
    def __init__(self, run_id: _Optional[str] = ..., after_seq: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRunEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token", "last_seq", "status")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_events_pb2.RunEvent]
    next_page_token: str
    last_seq: int
    status: _common_pb2.RunStatus
    def __init__(self, events: _Optional[_Iterable[_Union[_events_pb2.RunEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., last_seq: _Optional[int] = ..., status: _Optional[_Union[_common_pb2.RunStatus, str]] = ...) -> None: ...

class ConnectRequest(_message.Message):
    __slots__ = ("subscribe", "inject", "reply", "interrupt")
    SUBSCRIBE_FIELD_NUMBER: _ClassVar[int]
    INJECT_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    INTERRUPT_FIELD_NUMBER: _ClassVar[int]
    subscribe: ConnectSubscribe
    inject: ConnectInject
    reply: _human_loop_pb2.ReplyRequest
    interrupt: ConnectInterrupt
    def __init__(self, subscribe: _Optional[_Union[ConnectSubscribe, _Mapping]] = ..., inject: _Optional[_Union[ConnectInject, _Mapping]] = ..., reply: _Optional[_Union[_human_loop_pb2.ReplyRequest, _Mapping]] = ..., interrupt: _Optional[_Union[ConnectInterrupt, _Mapping]] = ...) -> None: ...

class ConnectSubscribe(_message.Message):
    __slots__ = ("run_id", "after_seq")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    after_seq: int
    def __init__(self, run_id: _Optional[str] = ..., after_seq: _Optional[int] = ...) -> None: ...

class ConnectInject(_message.Message):
    __slots__ = ("text", "request_id")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    text: str
    request_id: str
    def __init__(self, text: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ConnectInterrupt(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class ConnectResponse(_message.Message):
    __slots__ = ("event", "ack")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    event: _events_pb2.RunEvent
    ack: ConnectAck
    def __init__(self, event: _Optional[_Union[_events_pb2.RunEvent, _Mapping]] = ..., ack: _Optional[_Union[ConnectAck, _Mapping]] = ...) -> None: ...

class ConnectAck(_message.Message):
    __slots__ = ("action", "code", "message", "message_result", "reply_result")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_RESULT_FIELD_NUMBER: _ClassVar[int]
    REPLY_RESULT_FIELD_NUMBER: _ClassVar[int]
    action: str
    code: int
    message: str
    message_result: SendMessageResponse
    reply_result: _human_loop_pb2.ReplyResponse
    def __init__(self, action: _Optional[str] = ..., code: _Optional[int] = ..., message: _Optional[str] = ..., message_result: _Optional[_Union[SendMessageResponse, _Mapping]] = ..., reply_result: _Optional[_Union[_human_loop_pb2.ReplyResponse, _Mapping]] = ...) -> None: ...

class ListTodosRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class ListTodosResponse(_message.Message):
    __slots__ = ("run_id", "version", "items", "explanation", "updated_at")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    version: int
    items: _containers.RepeatedCompositeFieldContainer[_common_pb2.TodoItem]
    explanation: str
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, run_id: _Optional[str] = ..., version: _Optional[int] = ..., items: _Optional[_Iterable[_Union[_common_pb2.TodoItem, _Mapping]]] = ..., explanation: _Optional[str] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class StreamTodoEventsRequest(_message.Message):
    __slots__ = ("run_id", "after_version")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_VERSION_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    after_version: int
    def __init__(self, run_id: _Optional[str] = ..., after_version: _Optional[int] = ...) -> None: ...

class StreamTodoEventsResponse(_message.Message):
    __slots__ = ("run_id", "version", "items", "explanation", "time", "turn_id", "seq")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    TURN_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    version: int
    items: _containers.RepeatedCompositeFieldContainer[_common_pb2.TodoItem]
    explanation: str
    time: _timestamp_pb2.Timestamp
    turn_id: str
    seq: int
    def __init__(self, run_id: _Optional[str] = ..., version: _Optional[int] = ..., items: _Optional[_Iterable[_Union[_common_pb2.TodoItem, _Mapping]]] = ..., explanation: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., turn_id: _Optional[str] = ..., seq: _Optional[int] = ...) -> None: ...
