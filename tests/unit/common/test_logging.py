"""Log lines: the trace and span they were logged in, their format, and the
embedded PostgreSQL's start-up chatter kept at debug level."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

from common import logging as ccplane_logging
from common.db import embedded


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, as it was again afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield root
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def _lines_of(root: logging.Logger) -> io.StringIO:
    out = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(out)
    return out


def test_json_lines_carry_the_run_trace_and_span(root_logger: logging.Logger) -> None:
    ccplane_logging.configure("INFO", "json")
    out = _lines_of(root_logger)
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("work") as span, ccplane_logging.log_context(run_id="run_1"):
        logging.getLogger("ccplane.test").info("inside")
    line = json.loads(out.getvalue())
    context = span.get_span_context()
    assert line["run_id"] == "run_1"
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")


def test_a_span_of_another_trace_is_not_named(root_logger: logging.Logger) -> None:
    ccplane_logging.configure("INFO", "json")
    out = _lines_of(root_logger)
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("work"), ccplane_logging.log_context(trace_id="ab" * 16):
        logging.getLogger("ccplane.test").info("for a run of another trace")
    line = json.loads(out.getvalue())
    assert line["trace_id"] == "ab" * 16 and "span_id" not in line


def test_auto_is_text_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    assert ccplane_logging.resolve_format("auto") == "text"
    assert ccplane_logging.resolve_format("json") == "json"
    monkeypatch.setattr("sys.stderr.isatty", lambda: False)
    assert ccplane_logging.resolve_format("auto") == "json"
    assert ccplane_logging.resolve_format("text") == "text"


def test_text_lines_leave_out_trace_ids(root_logger: logging.Logger) -> None:
    ccplane_logging.configure("INFO", "text")
    out = _lines_of(root_logger)
    with ccplane_logging.log_context(run_id="run_1", trace_id="ab" * 16):
        logging.getLogger("ccplane.test").info("readable")
    assert "readable [run_id=run_1]" in out.getvalue() and "trace_id" not in out.getvalue()


def test_pgserver_chatter_is_debug_level(caplog: pytest.LogCaptureFixture) -> None:
    chatter = logging.getLogger("pgserver")
    chatter.addFilter(embedded._PGSERVER_CHATTER)
    with caplog.at_level(logging.INFO):
        chatter.info("Successful postgres command initdb\nstdout:\n%s", "pages of it")
        chatter.error("Failed to start server")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [("ERROR", "Failed to start server")]
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        chatter.info("running pg_ctl")
    assert [r.levelname for r in caplog.records] == ["DEBUG"]
