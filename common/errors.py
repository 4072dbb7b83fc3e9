"""One error type for every service, rendered as a rich gRPC status.

Domain code raises :class:`ServiceError` (usually through the helpers below);
the gRPC bootstrap turns it into a ``google.rpc.Status`` carrying an
``ErrorInfo`` (reason in UPPER_SNAKE_CASE, domain ``ccplane.dev``) and, for
bad input, a ``BadRequest`` naming the offending fields (AIP-193). Limits add
a ``RetryInfo`` (when to try again) and a ``QuotaFailure`` (which limit).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

DOMAIN = "ccplane.dev"


@dataclass
class FieldViolation:
    field: str
    description: str


@dataclass
class ServiceError(Exception):
    """A failure with a gRPC code, a machine-readable reason and a message."""

    code: grpc.StatusCode
    reason: str
    message: str
    violations: Sequence[FieldViolation] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)
    # Seconds after which the same call may succeed (RetryInfo).
    retry_after: float | None = None
    # (subject, description) of the limit that was hit (QuotaFailure).
    quota: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"{self.code.name} {self.reason}: {self.message}"

    def to_status(self) -> status_pb2.Status:
        details = [
            _pack(
                error_details_pb2.ErrorInfo(reason=self.reason, domain=DOMAIN, metadata=dict(self.metadata))
            )
        ]
        if self.violations:
            details.append(
                _pack(
                    error_details_pb2.BadRequest(
                        field_violations=[
                            error_details_pb2.BadRequest.FieldViolation(
                                field=v.field, description=v.description
                            )
                            for v in self.violations
                        ]
                    )
                )
            )
        if self.retry_after is not None:
            delay = duration_pb2.Duration()
            delay.FromMilliseconds(max(1, round(self.retry_after * 1000)))
            details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
        if self.quota is not None:
            subject, description = self.quota
            details.append(
                _pack(
                    error_details_pb2.QuotaFailure(
                        violations=[
                            error_details_pb2.QuotaFailure.Violation(subject=subject, description=description)
                        ]
                    )
                )
            )
        return status_pb2.Status(code=_CODE_NUMBERS[self.code], message=self.message, details=details)


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


_CODE_NUMBERS: dict[grpc.StatusCode, int] = {c: c.value[0] for c in grpc.StatusCode}


def invalid_argument(field_name: str, description: str, reason: str = "INVALID_ARGUMENT") -> ServiceError:
    """Bad input in one field; the message names the field."""
    return ServiceError(
        grpc.StatusCode.INVALID_ARGUMENT,
        reason,
        f"{field_name}: {description}",
        [FieldViolation(field_name, description)],
        {"field": field_name},
    )


def invalid_arguments(violations: Sequence[FieldViolation], reason: str = "INVALID_ARGUMENT") -> ServiceError:
    """Bad input in several fields at once."""
    message = "; ".join(f"{v.field}: {v.description}" for v in violations)
    return ServiceError(grpc.StatusCode.INVALID_ARGUMENT, reason, message, list(violations))


def not_found(kind: str, resource_id: str) -> ServiceError:
    return ServiceError(
        grpc.StatusCode.NOT_FOUND,
        f"{kind.upper()}_NOT_FOUND",
        f"{kind} {resource_id!r} not found",
        metadata={kind: resource_id},
    )


def failed_precondition(reason: str, message: str, **metadata: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.FAILED_PRECONDITION, reason, message, metadata=metadata)


def already_exists(reason: str, message: str, **metadata: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.ALREADY_EXISTS, reason, message, metadata=metadata)


def aborted(reason: str, message: str, **metadata: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.ABORTED, reason, message, metadata=metadata)


def resource_exhausted(
    reason: str,
    message: str,
    *,
    retry_after: float | None = None,
    quota: tuple[str, str] | None = None,
    **metadata: str,
) -> ServiceError:
    return ServiceError(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        reason,
        message,
        metadata=metadata,
        retry_after=retry_after,
        quota=quota,
    )


def unauthenticated(reason: str, message: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.UNAUTHENTICATED, reason, message)


def permission_denied(reason: str, message: str, **metadata: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.PERMISSION_DENIED, reason, message, metadata=metadata)


def unavailable(reason: str, message: str, **metadata: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.UNAVAILABLE, reason, message, metadata=metadata)
