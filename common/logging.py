"""Structured logging: JSON lines carrying run_id, trace_id and span_id.

``log_context(run_id=...)`` binds fields for the current asyncio task (and the
tasks it creates); every record logged meanwhile carries them. The trace and
span ids of the active OpenTelemetry span are added automatically. On a
terminal the default format (``auto``) is readable text instead.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

from opentelemetry import trace

_EMPTY: dict[str, str] = {}
# Never mutated in place: every change sets a new dict.
_fields: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("ccplane_log_fields", default=_EMPTY)


@contextlib.contextmanager
def log_context(**fields: str) -> Iterator[None]:
    token = _fields.set({**_fields.get(), **{k: v for k, v in fields.items() if v}})
    try:
        yield
    finally:
        _fields.reset(token)


def bind(**fields: str) -> None:
    """Bind fields for the rest of the current task."""
    _fields.set({**_fields.get(), **{k: v for k, v in fields.items() if v}})


def current_trace_id() -> str:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else ""


def current_span_id() -> str:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.span_id, "016x") if ctx.is_valid else ""


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _fields.get().items():
            setattr(record, key, value)
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            trace_id = format(ctx.trace_id, "032x")
            named = getattr(record, "trace_id", "")
            if not named:
                record.trace_id = named = trace_id
            # The span only when it belongs to the trace the record names.
            if named == trace_id and not getattr(record, "span_id", ""):
                record.span_id = format(ctx.span_id, "016x")
        return True


_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = (
                    value if isinstance(value, str | int | float | bool) or value is None else str(value)
                )
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


# Left out of text lines, which a person reads: the JSON lines carry them
# (uvicorn's color_message repeats its message).
_NOT_IN_TEXT = frozenset({"trace_id", "span_id", "color_message"})


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(
            f"{k}={v}"
            for k, v in record.__dict__.items()
            if k not in _STANDARD and k not in _NOT_IN_TEXT and not k.startswith("_")
        )
        clock = time.strftime("%H:%M:%S", time.localtime(record.created))
        text = (
            f"{clock} {record.levelname:<7} {record.name}: "
            + record.getMessage()
            + (f" [{extras}]" if extras else "")
        )
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def resolve_format(fmt: str) -> str:
    """``json`` or ``text``: ``auto`` (and anything unknown) is text when
    stderr is a terminal, JSON otherwise (a file, a pipe, a log collector)."""
    fmt = fmt.strip().lower()
    if fmt in ("json", "text"):
        return fmt
    return "text" if sys.stderr.isatty() else "json"


def configure(level: str = "INFO", fmt: str = "auto", service: str = "") -> None:
    """Configure the root logger once for a process (``fmt``: json, text or auto)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if resolve_format(fmt) == "json" else TextFormatter())
    handler.addFilter(_ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    if service:
        bind(service=service)
    for noisy in ("sqlalchemy.engine", "alembic.runtime.migration", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
