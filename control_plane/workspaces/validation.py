"""Validation of workspace requests: bad input is INVALID_ARGUMENT naming the field."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from common import ids
from common.errors import FieldViolation, invalid_argument, invalid_arguments
from common.objectstore.manifest import DEFAULT_FILE_MODE, MAX_MODE
from common.objectstore.paths import InvalidPathError, check_dir_path, check_path
from control_plane.runs.validation import require_id, validate_request_id
from control_plane.workspaces.changes import RequestKey

MAX_NAME_CHARS = 200
MAX_LABELS = 64
_LABEL_KEY = re.compile(r"[a-z0-9]([a-z0-9_.\-/]{0,61}[a-z0-9])?")

__all__ = ["file_mode", "request_key", "require_path", "require_workspace_id", "validate_request_id"]


def require_workspace_id(value: str, field: str = "workspace_id") -> str:
    return require_id(ids.WORKSPACE, field, value)


def require_path(field: str, value: str, *, directory: bool = False) -> str:
    try:
        return check_dir_path(value) if directory else check_path(value)
    except InvalidPathError as exc:
        raise invalid_argument(field, str(exc)) from None


def file_mode(field: str, value: int) -> int:
    """POSIX permission bits; 0 means 0644. Set-id and sticky bits are refused."""
    if value == 0:
        return DEFAULT_FILE_MODE
    if value > MAX_MODE:
        raise invalid_argument(field, "must be permission bits between 0 and 0o777")
    return value


def version(field: str, value: int) -> int:
    if value < 0:
        raise invalid_argument(field, "must not be negative")
    return value


def workspace_name(value: str) -> str:
    if len(value) > MAX_NAME_CHARS:
        raise invalid_argument("name", f"must be at most {MAX_NAME_CHARS} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise invalid_argument("name", "must not contain control characters")
    return value.strip()


def labels(values: Mapping[str, str]) -> dict[str, str]:
    violations: list[FieldViolation] = []
    if len(values) > MAX_LABELS:
        violations.append(FieldViolation("labels", f"at most {MAX_LABELS} labels"))
    for key, value in values.items():
        if not _LABEL_KEY.fullmatch(key):
            violations.append(
                FieldViolation(f"labels[{key!r}]", "keys are 1-63 lower-case letters, digits or _.-/")
            )
        if len(value) > 256:
            violations.append(FieldViolation(f"labels[{key!r}]", "values are at most 256 characters"))
    if len(violations) == 1:
        raise invalid_argument(violations[0].field, violations[0].description)
    if violations:
        raise invalid_arguments(violations)
    return dict(values)


def request_key(scope: str, request_id: str, *parts: object) -> RequestKey | None:
    """The idempotency key of a request (None without request_id); ``parts``
    are what makes two requests the same one."""
    validate_request_id(request_id)
    if not request_id:
        return None
    fingerprint = hashlib.sha256(repr((scope, *parts)).encode()).hexdigest()
    return RequestKey(scope=scope, request_id=request_id, fingerprint=fingerprint)
