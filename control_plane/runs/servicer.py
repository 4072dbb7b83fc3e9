"""RunService: thin gRPC layer over the run domain."""

from __future__ import annotations

import grpc

from ccplane.v1 import runs_pb2, runs_pb2_grpc
from common import ids
from common.db.engine import Database
from common.errors import invalid_argument
from common.logging import current_trace_id
from common.paging import page_size
from common.settings import Settings
from control_plane.auth import current_caller
from control_plane.runs import store
from control_plane.runs.convert import run_to_proto
from control_plane.runs.state_machine import status_from_proto
from control_plane.runs.validation import require_id, validate_create_run


class RunServicer(runs_pb2_grpc.RunServiceServicer):
    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings

    async def CreateRun(
        self, request: runs_pb2.CreateRunRequest, context: grpc.aio.ServicerContext
    ) -> runs_pb2.CreateRunResponse:
        new = validate_create_run(
            request, default_model=self._settings.default_model, trace_id=current_trace_id()
        )
        async with self._db.session() as session, session.begin():
            run, _ = await store.create_run(session, current_caller(), new)
        return runs_pb2.CreateRunResponse(run=run_to_proto(run))

    async def GetRun(
        self, request: runs_pb2.GetRunRequest, context: grpc.aio.ServicerContext
    ) -> runs_pb2.GetRunResponse:
        run_id = require_id(ids.RUN, "run_id", request.run_id)
        async with self._db.session() as session:
            run = await store.get_run(session, current_caller(), run_id)
        return runs_pb2.GetRunResponse(run=run_to_proto(run))

    async def ListRuns(
        self, request: runs_pb2.ListRunsRequest, context: grpc.aio.ServicerContext
    ) -> runs_pb2.ListRunsResponse:
        size = page_size(request.page_size)
        try:
            statuses = sorted({status_from_proto(s).value for s in request.status})
        except ValueError as exc:
            raise invalid_argument("status", str(exc)) from None
        if request.workspace_id:
            require_id(ids.WORKSPACE, "workspace_id", request.workspace_id)
        async with self._db.session() as session:
            runs, token = await store.list_runs(
                session,
                current_caller(),
                page_size=size,
                page_token=request.page_token,
                statuses=statuses,
                workspace_id=request.workspace_id,
                thread_id=request.thread_id,
            )
        return runs_pb2.ListRunsResponse(runs=[run_to_proto(r) for r in runs], next_page_token=token)
