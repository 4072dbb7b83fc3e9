"""The streams behind real gRPC, wired the way RunService wires them.

``StreamingRunService`` is the servicer code the streams need (handlers are
async generators); errors raised on the first iteration must reach the
client as rich statuses through the shared error interceptor.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest_asyncio
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from ccplane.v1 import common_pb2, events_pb2, runs_pb2, runs_pb2_grpc
from common import ids
from common.db.engine import Database
from common.grpc_server import GrpcServer, ServiceRegistration
from control_plane.events.feed import EventFeed
from control_plane.events.stream import stream_run_events
from control_plane.runs.state_machine import RunStatus
from control_plane.todos.convert import todo_list_to_proto, todo_version_to_proto
from control_plane.todos.store import current_todos
from control_plane.todos.stream import stream_todo_events
from tests.conftest import RunFactory
from tests.integration.streams.conftest import CALLER, TIMEOUT, append, append_with_todos, move, todos


class StreamingRunService(runs_pb2_grpc.RunServiceServicer):
    def __init__(self, db: Database, feed: EventFeed) -> None:
        self._db = db
        self._feed = feed

    async def StreamRunEvents(
        self, request: runs_pb2.StreamRunEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[events_pb2.RunEvent]:
        async for event in stream_run_events(self._db, self._feed, CALLER, request.run_id, request.after_seq):
            yield event

    async def ListTodos(
        self, request: runs_pb2.ListTodosRequest, context: grpc.aio.ServicerContext
    ) -> runs_pb2.ListTodosResponse:
        async with self._db.session() as session:
            return todo_list_to_proto(await current_todos(session, CALLER, request.run_id))

    async def StreamTodoEvents(
        self, request: runs_pb2.StreamTodoEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[runs_pb2.StreamTodoEventsResponse]:
        async for version in stream_todo_events(
            self._db, self._feed, CALLER, request.run_id, request.after_version
        ):
            yield todo_version_to_proto(version)


@pytest_asyncio.fixture(loop_scope="session")
async def stub(database: Database, feed: EventFeed) -> AsyncIterator[runs_pb2_grpc.RunServiceStub]:
    server = GrpcServer(
        [
            ServiceRegistration(
                "ccplane.v1.RunService",
                StreamingRunService(database, feed),
                runs_pb2_grpc.add_RunServiceServicer_to_server,
            )
        ]
    )
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            yield runs_pb2_grpc.RunServiceStub(channel)
    finally:
        await server.stop(grace=0)


def _violations(err: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(err)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            return [v.field for v in bad.field_violations]
    raise AssertionError("no BadRequest detail")


async def test_stream_run_events_over_grpc(
    stub: runs_pb2_grpc.RunServiceStub, database: Database, make_run: RunFactory
) -> None:
    run_id = await make_run("running")
    await append(database, run_id, 3)
    got: list[int] = []
    async with asyncio.timeout(TIMEOUT):
        call = stub.StreamRunEvents(runs_pb2.StreamRunEventsRequest(run_id=run_id, after_seq=1))
        async for event in call:
            got.append(event.seq)
            if event.seq == 3:
                await append(database, run_id, 1)
                await move(database, run_id, RunStatus.SUCCEEDED)
    assert got == [2, 3, 4, 5]
    assert await call.code() == grpc.StatusCode.OK


async def test_todos_over_grpc(
    stub: runs_pb2_grpc.RunServiceStub, database: Database, make_run: RunFactory
) -> None:
    run_id = await make_run("running")
    assert (await stub.ListTodos(runs_pb2.ListTodosRequest(run_id=run_id))).version == 0
    await append_with_todos(
        database,
        run_id,
        [todos(("a", common_pb2.TODO_STATUS_PENDING)), todos(("a", common_pb2.TODO_STATUS_COMPLETED))],
    )
    await move(database, run_id, RunStatus.SUCCEEDED)
    listed = await stub.ListTodos(runs_pb2.ListTodosRequest(run_id=run_id))
    assert (listed.version, [i.text for i in listed.items]) == (2, ["a"])
    async with asyncio.timeout(TIMEOUT):
        versions = [
            v.version
            async for v in stub.StreamTodoEvents(
                runs_pb2.StreamTodoEventsRequest(run_id=run_id, after_version=0)
            )
        ]
    assert versions == [1, 2]


async def test_stream_errors_reach_the_client(
    stub: runs_pb2_grpc.RunServiceStub, make_run: RunFactory
) -> None:
    theirs = await make_run("running", tenant_id="ten_someone_else")
    cases = [
        (runs_pb2.StreamRunEventsRequest(run_id="nope"), grpc.StatusCode.INVALID_ARGUMENT, ["run_id"]),
        (
            runs_pb2.StreamRunEventsRequest(run_id=theirs, after_seq=-5),
            grpc.StatusCode.INVALID_ARGUMENT,
            ["after_seq"],
        ),
        (runs_pb2.StreamRunEventsRequest(run_id=theirs), grpc.StatusCode.NOT_FOUND, None),
        (runs_pb2.StreamRunEventsRequest(run_id=ids.new_id(ids.RUN)), grpc.StatusCode.NOT_FOUND, None),
    ]
    for request, code, fields in cases:
        async with asyncio.timeout(TIMEOUT):
            call = stub.StreamRunEvents(request)
            try:
                async for _ in call:
                    raise AssertionError("no event expected")
            except grpc.aio.AioRpcError as err:
                assert err.code() == code, request
                if fields is not None:
                    assert _violations(err) == fields
            else:
                raise AssertionError(f"{request} did not fail")
    async with asyncio.timeout(TIMEOUT):
        call = stub.StreamTodoEvents(runs_pb2.StreamTodoEventsRequest(run_id=theirs, after_version=-1))
        try:
            async for _ in call:
                raise AssertionError("no version expected")
        except grpc.aio.AioRpcError as err:
            assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert _violations(err) == ["after_version"]
