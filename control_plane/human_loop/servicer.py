"""HumanLoopService: thin gRPC layer over the human-loop domain."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

import grpc
from opentelemetry import trace
from sqlalchemy.ext.asyncio import AsyncSession

from ccplane.v1 import human_loop_pb2, human_loop_pb2_grpc
from common import ids, tracing
from common.db.engine import Database
from common.errors import invalid_argument
from common.paging import page_size
from control_plane.auth import Caller, current_caller
from control_plane.events.feed import EventFeed
from control_plane.human_loop import queries, store
from control_plane.human_loop.convert import record_to_proto, status_from_proto
from control_plane.human_loop.feed import stream_requests
from control_plane.human_loop.records import HumanLoopRecord, RequestStatus
from control_plane.runs.validation import require_id, validate_request_id

_TRACER = trace.get_tracer("ccplane.control_plane")


def _optional_id(kind: str, field_name: str, value: str) -> str:
    return require_id(kind, field_name, value) if value else ""


def _statuses(values: list[int]) -> list[RequestStatus]:
    try:
        return [status_from_proto(v) for v in values]
    except ValueError as exc:
        raise invalid_argument("status", str(exc)) from None


# Told of each request a person resolved: ("answered", the request).
OnResolved = Callable[[str, HumanLoopRecord], None]


class HumanLoopServicer(human_loop_pb2_grpc.HumanLoopServiceServicer):
    def __init__(self, db: Database, feed: EventFeed, *, on_resolved: OnResolved | None = None) -> None:
        self._db = db
        self._feed = feed
        self._on_resolved = on_resolved

    async def ListPendingRequests(
        self, request: human_loop_pb2.ListPendingRequestsRequest, context: grpc.aio.ServicerContext
    ) -> human_loop_pb2.ListPendingRequestsResponse:
        size = page_size(request.page_size)
        run_id = _optional_id(ids.RUN, "run_id", request.run_id)
        workspace_id = _optional_id(ids.WORKSPACE, "workspace_id", request.workspace_id)
        async with self._db.session() as session:
            records, token = await queries.list_pending(
                session,
                current_caller(),
                run_id=run_id,
                workspace_id=workspace_id,
                page_size=size,
                page_token=request.page_token,
            )
        return human_loop_pb2.ListPendingRequestsResponse(
            requests=[record_to_proto(r) for r in records], next_page_token=token
        )

    async def GetRequest(
        self, request: human_loop_pb2.GetRequestRequest, context: grpc.aio.ServicerContext
    ) -> human_loop_pb2.GetRequestResponse:
        question_id = require_id(ids.QUESTION, "question_id", request.question_id)
        async with self._db.session() as session:
            record = await queries.get_request(session, current_caller(), question_id)
        return human_loop_pb2.GetRequestResponse(request=record_to_proto(record))

    async def ListRequests(
        self, request: human_loop_pb2.ListRequestsRequest, context: grpc.aio.ServicerContext
    ) -> human_loop_pb2.ListRequestsResponse:
        size = page_size(request.page_size)
        run_id = _optional_id(ids.RUN, "run_id", request.run_id)
        workspace_id = _optional_id(ids.WORKSPACE, "workspace_id", request.workspace_id)
        statuses = _statuses(list(request.status))
        async with self._db.session() as session:
            records, token = await queries.list_requests(
                session,
                current_caller(),
                run_id=run_id,
                workspace_id=workspace_id,
                statuses=statuses,
                page_size=size,
                page_token=request.page_token,
            )
        return human_loop_pb2.ListRequestsResponse(
            requests=[record_to_proto(r) for r in records], next_page_token=token
        )

    async def StreamRequests(
        self, request: human_loop_pb2.StreamRequestsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[human_loop_pb2.StreamRequestsResponse]:
        changes = stream_requests(
            self._db, self._feed, current_caller(), request.after_seq, pending_only=request.pending_only
        )
        async for change in changes:
            yield change

    async def Reply(
        self, request: human_loop_pb2.ReplyRequest, context: grpc.aio.ServicerContext
    ) -> human_loop_pb2.ReplyResponse:
        return await answer(self._db, current_caller(), request, on_resolved=self._on_resolved)


async def answer(
    db: Database,
    caller: Caller,
    request: human_loop_pb2.ReplyRequest,
    *,
    on_resolved: OnResolved | None = None,
) -> human_loop_pb2.ReplyResponse:
    """Validate and record an answer (also used by RunService.Connect);
    ``on_resolved`` hears of it once committed, unless it came too late."""
    require_id(ids.RUN, "run_id", request.run_id)
    require_id(ids.QUESTION, "question_id", request.question_id)
    validate_request_id(request.request_id)
    async with contextlib.AsyncExitStack() as traced, db.session() as session, session.begin():
        traced.enter_context(await _reply_span(session, caller, request))
        record, already = await store.reply(session, caller, request)
    if on_resolved is not None and not already:
        on_resolved("answered", record)
    return human_loop_pb2.ReplyResponse(request=record_to_proto(record), already_resolved=already)


async def _reply_span(
    session: AsyncSession, caller: Caller, request: human_loop_pb2.ReplyRequest
) -> contextlib.AbstractContextManager[object]:
    """The reply's ``ccplane.human_loop.reply`` span, in the run's trace and
    linked to the caller's, until the answer is committed."""
    found = await store.run_trace(session, caller.tenant_id, request.run_id)
    if found is None:
        return contextlib.nullcontext()  # refused as NOT_FOUND by the reply itself
    span = tracing.start_run_span(
        _TRACER,
        "ccplane.human_loop.reply",
        trace_id=found[0],
        span_id=found[1],
        run_id=request.run_id,
        tenant=caller.tenant_id,
        attributes={"ccplane.question_id": request.question_id},
        link_current=True,
    )
    return trace.use_span(span, end_on_exit=True)
