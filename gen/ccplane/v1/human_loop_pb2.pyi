import datetime

from ccplane.v1 import common_pb2 as _common_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class HumanLoopKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HUMAN_LOOP_KIND_UNSPECIFIED: _ClassVar[HumanLoopKind]
    HUMAN_LOOP_KIND_COMMAND_APPROVAL: _ClassVar[HumanLoopKind]
    HUMAN_LOOP_KIND_FILE_CHANGE_APPROVAL: _ClassVar[HumanLoopKind]
    HUMAN_LOOP_KIND_PERMISSIONS_APPROVAL: _ClassVar[HumanLoopKind]
    HUMAN_LOOP_KIND_USER_INPUT: _ClassVar[HumanLoopKind]
    HUMAN_LOOP_KIND_MCP_ELICITATION: _ClassVar[HumanLoopKind]

class HumanLoopStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HUMAN_LOOP_STATUS_UNSPECIFIED: _ClassVar[HumanLoopStatus]
    HUMAN_LOOP_STATUS_PENDING: _ClassVar[HumanLoopStatus]
    HUMAN_LOOP_STATUS_RESOLVED: _ClassVar[HumanLoopStatus]
    HUMAN_LOOP_STATUS_EXPIRED: _ClassVar[HumanLoopStatus]
    HUMAN_LOOP_STATUS_CANCELED: _ClassVar[HumanLoopStatus]

class ApprovalDecision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    APPROVAL_DECISION_UNSPECIFIED: _ClassVar[ApprovalDecision]
    APPROVAL_DECISION_ACCEPT: _ClassVar[ApprovalDecision]
    APPROVAL_DECISION_ACCEPT_FOR_SESSION: _ClassVar[ApprovalDecision]
    APPROVAL_DECISION_DECLINE: _ClassVar[ApprovalDecision]
    APPROVAL_DECISION_CANCEL: _ClassVar[ApprovalDecision]
HUMAN_LOOP_KIND_UNSPECIFIED: HumanLoopKind
HUMAN_LOOP_KIND_COMMAND_APPROVAL: HumanLoopKind
HUMAN_LOOP_KIND_FILE_CHANGE_APPROVAL: HumanLoopKind
HUMAN_LOOP_KIND_PERMISSIONS_APPROVAL: HumanLoopKind
HUMAN_LOOP_KIND_USER_INPUT: HumanLoopKind
HUMAN_LOOP_KIND_MCP_ELICITATION: HumanLoopKind
HUMAN_LOOP_STATUS_UNSPECIFIED: HumanLoopStatus
HUMAN_LOOP_STATUS_PENDING: HumanLoopStatus
HUMAN_LOOP_STATUS_RESOLVED: HumanLoopStatus
HUMAN_LOOP_STATUS_EXPIRED: HumanLoopStatus
HUMAN_LOOP_STATUS_CANCELED: HumanLoopStatus
APPROVAL_DECISION_UNSPECIFIED: ApprovalDecision
APPROVAL_DECISION_ACCEPT: ApprovalDecision
APPROVAL_DECISION_ACCEPT_FOR_SESSION: ApprovalDecision
APPROVAL_DECISION_DECLINE: ApprovalDecision
APPROVAL_DECISION_CANCEL: ApprovalDecision

class HumanLoopRequest(_message.Message):
    __slots__ = ("question_id", "run_id", "kind", "status", "details", "answer", "created_at", "resolved_at", "expires_at", "workspace_id", "turn_id", "resolved_by")
    QUESTION_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    TURN_ID_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_BY_FIELD_NUMBER: _ClassVar[int]
    question_id: str
    run_id: str
    kind: HumanLoopKind
    status: HumanLoopStatus
    details: HumanLoopDetails
    answer: HumanLoopAnswer
    created_at: _timestamp_pb2.Timestamp
    resolved_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    workspace_id: str
    turn_id: str
    resolved_by: str
    def __init__(self, question_id: _Optional[str] = ..., run_id: _Optional[str] = ..., kind: _Optional[_Union[HumanLoopKind, str]] = ..., status: _Optional[_Union[HumanLoopStatus, str]] = ..., details: _Optional[_Union[HumanLoopDetails, _Mapping]] = ..., answer: _Optional[_Union[HumanLoopAnswer, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., resolved_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., workspace_id: _Optional[str] = ..., turn_id: _Optional[str] = ..., resolved_by: _Optional[str] = ...) -> None: ...

class HumanLoopDetails(_message.Message):
    __slots__ = ("command_approval", "file_change_approval", "permissions_approval", "user_input", "mcp_elicitation")
    COMMAND_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    FILE_CHANGE_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    PERMISSIONS_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    USER_INPUT_FIELD_NUMBER: _ClassVar[int]
    MCP_ELICITATION_FIELD_NUMBER: _ClassVar[int]
    command_approval: CommandApprovalDetails
    file_change_approval: FileChangeApprovalDetails
    permissions_approval: PermissionsApprovalDetails
    user_input: UserInputDetails
    mcp_elicitation: McpElicitationDetails
    def __init__(self, command_approval: _Optional[_Union[CommandApprovalDetails, _Mapping]] = ..., file_change_approval: _Optional[_Union[FileChangeApprovalDetails, _Mapping]] = ..., permissions_approval: _Optional[_Union[PermissionsApprovalDetails, _Mapping]] = ..., user_input: _Optional[_Union[UserInputDetails, _Mapping]] = ..., mcp_elicitation: _Optional[_Union[McpElicitationDetails, _Mapping]] = ...) -> None: ...

class CommandApprovalDetails(_message.Message):
    __slots__ = ("item_id", "command", "cwd", "reason", "available_decisions")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    CWD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_DECISIONS_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    command: str
    cwd: str
    reason: str
    available_decisions: _containers.RepeatedScalarFieldContainer[ApprovalDecision]
    def __init__(self, item_id: _Optional[str] = ..., command: _Optional[str] = ..., cwd: _Optional[str] = ..., reason: _Optional[str] = ..., available_decisions: _Optional[_Iterable[_Union[ApprovalDecision, str]]] = ...) -> None: ...

class FileChangeApprovalDetails(_message.Message):
    __slots__ = ("item_id", "changes", "reason", "grant_root")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    GRANT_ROOT_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    changes: _containers.RepeatedCompositeFieldContainer[_common_pb2.FileChange]
    reason: str
    grant_root: str
    def __init__(self, item_id: _Optional[str] = ..., changes: _Optional[_Iterable[_Union[_common_pb2.FileChange, _Mapping]]] = ..., reason: _Optional[str] = ..., grant_root: _Optional[str] = ...) -> None: ...

class PermissionsApprovalDetails(_message.Message):
    __slots__ = ("item_id", "reason", "permissions")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    reason: str
    permissions: _struct_pb2.Struct
    def __init__(self, item_id: _Optional[str] = ..., reason: _Optional[str] = ..., permissions: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class UserInputDetails(_message.Message):
    __slots__ = ("item_id", "questions")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    QUESTIONS_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    questions: _containers.RepeatedCompositeFieldContainer[UserInputQuestion]
    def __init__(self, item_id: _Optional[str] = ..., questions: _Optional[_Iterable[_Union[UserInputQuestion, _Mapping]]] = ...) -> None: ...

class UserInputQuestion(_message.Message):
    __slots__ = ("id", "header", "question", "options", "allow_other", "secret")
    ID_FIELD_NUMBER: _ClassVar[int]
    HEADER_FIELD_NUMBER: _ClassVar[int]
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    ALLOW_OTHER_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    id: str
    header: str
    question: str
    options: _containers.RepeatedCompositeFieldContainer[UserInputOption]
    allow_other: bool
    secret: bool
    def __init__(self, id: _Optional[str] = ..., header: _Optional[str] = ..., question: _Optional[str] = ..., options: _Optional[_Iterable[_Union[UserInputOption, _Mapping]]] = ..., allow_other: _Optional[bool] = ..., secret: _Optional[bool] = ...) -> None: ...

class UserInputOption(_message.Message):
    __slots__ = ("label", "description")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    label: str
    description: str
    def __init__(self, label: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class McpElicitationDetails(_message.Message):
    __slots__ = ("server_name", "message", "requested_schema")
    SERVER_NAME_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    server_name: str
    message: str
    requested_schema: _struct_pb2.Struct
    def __init__(self, server_name: _Optional[str] = ..., message: _Optional[str] = ..., requested_schema: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class HumanLoopAnswer(_message.Message):
    __slots__ = ("approval", "questions", "text")
    APPROVAL_FIELD_NUMBER: _ClassVar[int]
    QUESTIONS_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    approval: ApprovalAnswer
    questions: QuestionAnswers
    text: str
    def __init__(self, approval: _Optional[_Union[ApprovalAnswer, _Mapping]] = ..., questions: _Optional[_Union[QuestionAnswers, _Mapping]] = ..., text: _Optional[str] = ...) -> None: ...

class ApprovalAnswer(_message.Message):
    __slots__ = ("decision",)
    DECISION_FIELD_NUMBER: _ClassVar[int]
    decision: ApprovalDecision
    def __init__(self, decision: _Optional[_Union[ApprovalDecision, str]] = ...) -> None: ...

class QuestionAnswers(_message.Message):
    __slots__ = ("answers",)
    class AnswersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: QuestionAnswer
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[QuestionAnswer, _Mapping]] = ...) -> None: ...
    ANSWERS_FIELD_NUMBER: _ClassVar[int]
    answers: _containers.MessageMap[str, QuestionAnswer]
    def __init__(self, answers: _Optional[_Mapping[str, QuestionAnswer]] = ...) -> None: ...

class QuestionAnswer(_message.Message):
    __slots__ = ("answers",)
    ANSWERS_FIELD_NUMBER: _ClassVar[int]
    answers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, answers: _Optional[_Iterable[str]] = ...) -> None: ...

class ListPendingRequestsRequest(_message.Message):
    __slots__ = ("run_id", "workspace_id", "page_size", "page_token")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    workspace_id: str
    page_size: int
    page_token: str
    def __init__(self, run_id: _Optional[str] = ..., workspace_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPendingRequestsResponse(_message.Message):
    __slots__ = ("requests", "next_page_token")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[HumanLoopRequest]
    next_page_token: str
    def __init__(self, requests: _Optional[_Iterable[_Union[HumanLoopRequest, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetRequestRequest(_message.Message):
    __slots__ = ("question_id",)
    QUESTION_ID_FIELD_NUMBER: _ClassVar[int]
    question_id: str
    def __init__(self, question_id: _Optional[str] = ...) -> None: ...

class GetRequestResponse(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: HumanLoopRequest
    def __init__(self, request: _Optional[_Union[HumanLoopRequest, _Mapping]] = ...) -> None: ...

class ListRequestsRequest(_message.Message):
    __slots__ = ("run_id", "workspace_id", "status", "page_size", "page_token")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    workspace_id: str
    status: _containers.RepeatedScalarFieldContainer[HumanLoopStatus]
    page_size: int
    page_token: str
    def __init__(self, run_id: _Optional[str] = ..., workspace_id: _Optional[str] = ..., status: _Optional[_Iterable[_Union[HumanLoopStatus, str]]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRequestsResponse(_message.Message):
    __slots__ = ("requests", "next_page_token")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[HumanLoopRequest]
    next_page_token: str
    def __init__(self, requests: _Optional[_Iterable[_Union[HumanLoopRequest, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ReplyRequest(_message.Message):
    __slots__ = ("run_id", "question_id", "approval", "questions", "text", "request_id")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    QUESTION_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_FIELD_NUMBER: _ClassVar[int]
    QUESTIONS_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    question_id: str
    approval: ApprovalAnswer
    questions: QuestionAnswers
    text: str
    request_id: str
    def __init__(self, run_id: _Optional[str] = ..., question_id: _Optional[str] = ..., approval: _Optional[_Union[ApprovalAnswer, _Mapping]] = ..., questions: _Optional[_Union[QuestionAnswers, _Mapping]] = ..., text: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ReplyResponse(_message.Message):
    __slots__ = ("request", "already_resolved")
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    ALREADY_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    request: HumanLoopRequest
    already_resolved: bool
    def __init__(self, request: _Optional[_Union[HumanLoopRequest, _Mapping]] = ..., already_resolved: _Optional[bool] = ...) -> None: ...

class StreamRequestsRequest(_message.Message):
    __slots__ = ("after_seq", "pending_only")
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    PENDING_ONLY_FIELD_NUMBER: _ClassVar[int]
    after_seq: int
    pending_only: bool
    def __init__(self, after_seq: _Optional[int] = ..., pending_only: _Optional[bool] = ...) -> None: ...

class StreamRequestsResponse(_message.Message):
    __slots__ = ("seq", "request")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    seq: int
    request: HumanLoopRequest
    def __init__(self, seq: _Optional[int] = ..., request: _Optional[_Union[HumanLoopRequest, _Mapping]] = ...) -> None: ...
