"""The streams behind real gRPC, as the control plane serves them.

These calls reach the session's real control plane (``tests/stack_fixtures.py``):
its ``RunServicer``, its event feed, its authentication and its shared error
interceptor. Events and todo versions written to the database reach a
subscriber live, the stream ends after the run's final status, and errors
raised on a stream's first iteration reach the client as rich statuses.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

import grpc
import pytest_asyncio
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from ccplane.v1 import common_pb2, runs_pb2, runs_pb2_grpc
from common import ids
from common.db.engine import Database
from control_plane.events.feed import DEFAULT_FALLBACK_INTERVAL
from control_plane.runs.state_machine import RunStatus
from tests.conftest import RunFactory
from tests.integration.streams.conftest import TIMEOUT, append, append_with_todos, move, todos
from tests.stack_fixtures import ChannelFactory

# The tenant whose user calls, and whose runs the tests make.
TENANT = "streams-wiring"


@pytest_asyncio.fixture(loop_scope="session")
async def stub(tenant_channel: ChannelFactory) -> runs_pb2_grpc.RunServiceStub:
    """RunService of the control plane, called by a user of ``TENANT``."""
    return runs_pb2_grpc.RunServiceStub(await tenant_channel(TENANT, role="user"))


Detail = TypeVar("Detail", bound=Message)


def _error_detail(err: grpc.aio.AioRpcError, kind: type[Detail]) -> Detail:
    status = rpc_status.from_call(err)
    assert status is not None, "the error carries no google.rpc.Status"
    for detail in status.details:
        if detail.Is(kind.DESCRIPTOR):
            found = kind()
            detail.Unpack(found)
            return found
    raise AssertionError(f"no {kind.__name__} detail")


def _violations(err: grpc.aio.AioRpcError) -> list[str]:
    return [v.field for v in _error_detail(err, error_details_pb2.BadRequest).field_violations]


async def test_stream_run_events_over_grpc(
    stub: runs_pb2_grpc.RunServiceStub, database: Database, make_run: RunFactory
) -> None:
    run_id = await make_run("running", tenant_id=TENANT)
    await append(database, run_id, 3)
    got: list[int] = []
    loop = asyncio.get_running_loop()
    live_since = live_until = 0.0
    async with asyncio.timeout(TIMEOUT):
        call = stub.StreamRunEvents(runs_pb2.StreamRunEventsRequest(run_id=run_id, after_seq=1))
        async for event in call:
            assert event.run_id == run_id
            got.append(event.seq)
            if event.seq == 3:
                live_since = loop.time()
                await append(database, run_id, 1)
                await move(database, run_id, RunStatus.SUCCEEDED)
            if event.seq == 5:
                live_until = loop.time()
                assert event.type == "run.status_changed"
                assert event.status_changed.status == common_pb2.RUN_STATUS_SUCCEEDED
    assert got == [2, 3, 4, 5], "after after_seq, in order, the live ones too, until the final status"
    assert await call.code() == grpc.StatusCode.OK
    assert live_until - live_since < DEFAULT_FALLBACK_INTERVAL / 2, (
        "the live events woke the stream (the feed's notification), not its fallback re-read"
    )


async def test_todos_over_grpc(
    stub: runs_pb2_grpc.RunServiceStub, database: Database, make_run: RunFactory
) -> None:
    run_id = await make_run("running", tenant_id=TENANT)
    assert (await stub.ListTodos(runs_pb2.ListTodosRequest(run_id=run_id))).version == 0
    await append_with_todos(
        database,
        run_id,
        [todos(("a", common_pb2.TODO_STATUS_PENDING)), todos(("a", common_pb2.TODO_STATUS_COMPLETED))],
    )
    await move(database, run_id, RunStatus.SUCCEEDED)
    listed = await stub.ListTodos(runs_pb2.ListTodosRequest(run_id=run_id))
    assert (listed.version, [(i.text, i.status) for i in listed.items]) == (
        2,
        [("a", common_pb2.TODO_STATUS_COMPLETED)],
    )
    async with asyncio.timeout(TIMEOUT):
        versions = [
            (v.version, [i.status for i in v.items])
            async for v in stub.StreamTodoEvents(
                runs_pb2.StreamTodoEventsRequest(run_id=run_id, after_version=0)
            )
        ]
    assert versions == [(1, [common_pb2.TODO_STATUS_PENDING]), (2, [common_pb2.TODO_STATUS_COMPLETED])]
    async with asyncio.timeout(TIMEOUT):
        resumed = [
            v.version
            async for v in stub.StreamTodoEvents(
                runs_pb2.StreamTodoEventsRequest(run_id=run_id, after_version=1)
            )
        ]
    assert resumed == [2]


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
                    assert _error_detail(err, error_details_pb2.ErrorInfo).reason == "RUN_NOT_FOUND"
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
        else:
            raise AssertionError("a negative after_version did not fail")
