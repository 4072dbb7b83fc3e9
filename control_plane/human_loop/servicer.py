"""HumanLoopService: thin gRPC layer over the human-loop domain."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from ccplane.v1 import human_loop_pb2, human_loop_pb2_grpc
from common import ids
from common.db.engine import Database
from common.errors import invalid_argument
from common.paging import page_size
from control_plane.auth import Caller, current_caller
from control_plane.events.feed import EventFeed
from control_plane.human_loop import queries, store
from control_plane.human_loop.convert import record_to_proto, status_from_proto
from control_plane.human_loop.feed import stream_requests
from control_plane.human_loop.records import RequestStatus
from control_plane.runs.validation import require_id, validate_request_id


def _optional_id(kind: str, field_name: str, value: str) -> str:
    return require_id(kind, field_name, value) if value else ""


def _statuses(values: list[int]) -> list[RequestStatus]:
    try:
        return [status_from_proto(v) for v in values]
    except ValueError as exc:
        raise invalid_argument("status", str(exc)) from None


class HumanLoopServicer(human_loop_pb2_grpc.HumanLoopServiceServicer):
    def __init__(self, db: Database, feed: EventFeed) -> None:
        self._db = db
        self._feed = feed

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
        return await answer(self._db, current_caller(), request)


async def answer(
    db: Database, caller: Caller, request: human_loop_pb2.ReplyRequest
) -> human_loop_pb2.ReplyResponse:
    """Validate and record an answer (also used by RunService.Connect)."""
    require_id(ids.RUN, "run_id", request.run_id)
    require_id(ids.QUESTION, "question_id", request.question_id)
    validate_request_id(request.request_id)
    async with db.session() as session, session.begin():
        record, already = await store.reply(session, caller, request)
    return human_loop_pb2.ReplyResponse(request=record_to_proto(record), already_resolved=already)
