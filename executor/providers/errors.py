"""Typed errors of the provider layer.

Each error carries ``reason`` (UPPER_SNAKE_CASE, for ``google.rpc.ErrorInfo``)
and ``status_code``, the name of the gRPC status the executor service should
answer with, so the servicer can map them without knowing every class.
"""

from __future__ import annotations

from typing import ClassVar


class ProviderError(Exception):
    """Base class of every error the provider layer raises on purpose."""

    status_code: ClassVar[str] = "INTERNAL"
    reason: str = "PROVIDER_ERROR"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason

    @property
    def message(self) -> str:
        return str(self)


class InvalidArgumentError(ProviderError):
    """A request field is wrong; ``field`` names it (dotted path)."""

    status_code = "INVALID_ARGUMENT"
    reason = "INVALID_ARGUMENT"

    def __init__(self, field: str, message: str, *, reason: str | None = None) -> None:
        super().__init__(f"{field}: {message}", reason=reason)
        self.field = field


class UnknownProviderError(InvalidArgumentError):
    reason = "UNKNOWN_PROVIDER"

    def __init__(self, provider: str, known: list[str]) -> None:
        super().__init__("provider", f"unknown provider {provider!r}; known: {', '.join(sorted(known))}")
        self.provider = provider


class InvalidSettingError(InvalidArgumentError):
    reason = "INVALID_SETTING"


class InvalidAnswerError(InvalidArgumentError):
    """A human-loop answer does not fit the request it answers."""

    reason = "INVALID_ANSWER"


class PreconditionError(ProviderError):
    status_code = "FAILED_PRECONDITION"
    reason = "FAILED_PRECONDITION"


class WorkspaceMissingError(PreconditionError):
    reason = "WORKSPACE_MISSING"


class ThreadStateNotFoundError(PreconditionError):
    """A thread to resume has no saved state on this executor."""

    reason = "THREAD_STATE_NOT_FOUND"


class ModelConfigError(PreconditionError):
    """Model credentials or settings are missing or unusable."""

    reason = "MODEL_CREDENTIALS_MISSING"


class SessionStateError(PreconditionError):
    """The session cannot do this now (not started, ended, no active turn)."""

    reason = "SESSION_STATE"


class QuestionNotFoundError(ProviderError):
    status_code = "NOT_FOUND"
    reason = "QUESTION_NOT_FOUND"

    def __init__(self, question_id: str) -> None:
        super().__init__(f"no human-loop request {question_id!r} in this session")
        self.question_id = question_id


class QuestionClosedError(ProviderError):
    """The request was already answered, or the agent withdrew it."""

    status_code = "FAILED_PRECONDITION"
    reason = "QUESTION_CLOSED"

    def __init__(self, question_id: str, message: str) -> None:
        super().__init__(message)
        self.question_id = question_id


class QuestionAlreadyAnsweredError(QuestionClosedError):
    status_code = "ALREADY_EXISTS"
    reason = "QUESTION_ALREADY_ANSWERED"

    def __init__(self, question_id: str) -> None:
        super().__init__(question_id, f"human-loop request {question_id!r} was already answered")


class QuestionCanceledError(QuestionClosedError):
    reason = "QUESTION_CANCELED"

    def __init__(self, question_id: str) -> None:
        super().__init__(question_id, f"human-loop request {question_id!r} was withdrawn by the agent")


class ProviderUnavailableError(ProviderError):
    """The agent process could not be started or stopped answering."""

    status_code = "UNAVAILABLE"
    reason = "PROVIDER_UNAVAILABLE"
