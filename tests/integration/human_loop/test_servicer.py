"""HumanLoopService through a real grpc.aio server: the four RPCs, paging, rich errors.

Calls act as the local administrator of the ``default`` tenant (API keys are
not enforced yet), so the runs here belong to that tenant; lists are filtered
by a workspace of their own, since other suites share the database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest_asyncio
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from ccplane.v1 import human_loop_pb2, human_loop_pb2_grpc
from common import ids
from common.credentials import authorized_channel
from common.db.engine import Database
from common.grpc_server import GrpcServer, ServiceRegistration
from control_plane.auth import DEFAULT_TENANT
from control_plane.events.feed import EventFeed
from control_plane.human_loop.servicer import HumanLoopServicer
from tests.conftest import RunFactory
from tests.integration.human_loop.conftest import (
    ACCEPT,
    DECLINE,
    TIMEOUT,
    approval,
    ask,
    question,
    user_input,
)
from tests.keys import auth_interceptor, create_key

Stub = human_loop_pb2_grpc.HumanLoopServiceStub
PENDING = human_loop_pb2.HUMAN_LOOP_STATUS_PENDING
RESOLVED = human_loop_pb2.HUMAN_LOOP_STATUS_RESOLVED


@pytest_asyncio.fixture(loop_scope="session")
async def stub(database: Database) -> AsyncIterator[Stub]:
    feed = EventFeed(database.url, application_name="ccplane-test-feed")
    await feed.start()
    server = GrpcServer(
        [
            ServiceRegistration(
                "ccplane.v1.HumanLoopService",
                HumanLoopServicer(database, feed),
                human_loop_pb2_grpc.add_HumanLoopServiceServicer_to_server,
            )
        ],
        port=0,
        interceptors=[auth_interceptor(database)],
    )
    await server.start()
    try:
        async with authorized_channel(server.address, await create_key(database)) as channel:
            yield Stub(channel)
    finally:
        await server.stop(grace=0)
        await feed.stop()


async def _own_run(make_run: RunFactory) -> tuple[str, str]:
    workspace_id = ids.new_id(ids.WORKSPACE)
    return await make_run("running", tenant_id=DEFAULT_TENANT, workspace_id=workspace_id), workspace_id


def _details(err: grpc.aio.AioRpcError) -> tuple[str, dict[str, str], list[str]]:
    """(ErrorInfo reason, its metadata, BadRequest fields) of a rich status."""
    status = rpc_status.from_call(err)
    assert status is not None
    reason, metadata, fields = "", {}, []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, metadata = info.reason, dict(info.metadata)
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields = [v.field for v in bad.field_violations]
    return reason, metadata, fields


async def _fails(call: object) -> grpc.aio.AioRpcError:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as err:
        return err
    raise AssertionError("the call succeeded")


async def test_reply_and_read_back(stub: Stub, database: Database, make_run: RunFactory) -> None:
    run_id, workspace_id = await _own_run(make_run)
    question_id = await ask(database, run_id)

    got = await stub.GetRequest(human_loop_pb2.GetRequestRequest(question_id=question_id), timeout=TIMEOUT)
    request = got.request
    assert (request.question_id, request.run_id, request.workspace_id) == (question_id, run_id, workspace_id)
    assert (request.kind, request.status) == (human_loop_pb2.HUMAN_LOOP_KIND_COMMAND_APPROVAL, PENDING)
    assert request.details.command_approval.command == "rm -rf build"
    assert request.turn_id == "turn-1"
    assert request.expires_at.seconds > request.created_at.seconds
    assert not request.HasField("answer") and not request.HasField("resolved_at")

    replied = await stub.Reply(approval(run_id, question_id, ACCEPT), timeout=TIMEOUT)
    assert not replied.already_resolved
    assert replied.request.status == RESOLVED
    assert replied.request.answer.approval.decision == ACCEPT
    assert replied.request.HasField("resolved_at")

    again = await stub.Reply(approval(run_id, question_id, ACCEPT), timeout=TIMEOUT)
    assert again.already_resolved and again.request == replied.request

    err = await _fails(stub.Reply(approval(run_id, question_id, DECLINE), timeout=TIMEOUT))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    reason, metadata, _ = _details(err)
    assert reason == "REQUEST_ALREADY_RESOLVED"
    assert "APPROVAL_DECISION_ACCEPT" in metadata["answer"]


async def test_lists_page_in_order(stub: Stub, database: Database, make_run: RunFactory) -> None:
    run_id, workspace_id = await _own_run(make_run)
    asked = [await ask(database, run_id) for _ in range(5)]
    await stub.Reply(approval(run_id, asked[1]), timeout=TIMEOUT)
    pending = [asked[0], *asked[2:]]

    seen: list[str] = []
    token = ""
    while True:
        page = await stub.ListPendingRequests(
            human_loop_pb2.ListPendingRequestsRequest(
                workspace_id=workspace_id, page_size=2, page_token=token
            ),
            timeout=TIMEOUT,
        )
        assert len(page.requests) <= 2
        seen += [r.question_id for r in page.requests]
        token = page.next_page_token
        if not token:
            break
    assert seen == pending  # oldest first

    by_run = await stub.ListPendingRequests(
        human_loop_pb2.ListPendingRequestsRequest(run_id=run_id), timeout=TIMEOUT
    )
    assert [r.question_id for r in by_run.requests] == pending

    everything: list[str] = []
    token = ""
    while True:
        page = await stub.ListRequests(
            human_loop_pb2.ListRequestsRequest(run_id=run_id, page_size=3, page_token=token), timeout=TIMEOUT
        )
        everything += [r.question_id for r in page.requests]
        token = page.next_page_token
        if not token:
            break
    assert everything == asked[::-1]  # newest first

    resolved = await stub.ListRequests(
        human_loop_pb2.ListRequestsRequest(workspace_id=workspace_id, status=[RESOLVED]), timeout=TIMEOUT
    )
    assert [r.question_id for r in resolved.requests] == [asked[1]]

    first = await stub.ListRequests(
        human_loop_pb2.ListRequestsRequest(run_id=run_id, page_size=1), timeout=TIMEOUT
    )
    err = await _fails(
        stub.ListRequests(
            human_loop_pb2.ListRequestsRequest(
                run_id=run_id, status=[PENDING], page_token=first.next_page_token
            ),
            timeout=TIMEOUT,
        )
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _details(err)[2] == ["page_token"]


async def test_secret_answers_are_redacted_in_responses(
    stub: Stub, database: Database, make_run: RunFactory
) -> None:
    run_id, _ = await _own_run(make_run)
    question_id = await ask(database, run_id, user_input(question("pin", secret=True)))
    replied = await stub.Reply(
        human_loop_pb2.ReplyRequest(run_id=run_id, question_id=question_id, text="1234"), timeout=TIMEOUT
    )
    assert replied.request.answer.text == "[redacted]"


async def test_errors_are_rich_statuses(stub: Stub, database: Database, make_run: RunFactory) -> None:
    run_id, _ = await _own_run(make_run)
    question_id = await ask(database, run_id)
    theirs = await make_run("running")  # the test tenant, not the caller's
    their_question = await ask(database, theirs)

    cases: list[tuple[object, grpc.StatusCode, str, list[str]]] = [
        (
            stub.GetRequest(human_loop_pb2.GetRequestRequest(question_id="nope")),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
            ["question_id"],
        ),
        (
            stub.GetRequest(human_loop_pb2.GetRequestRequest(question_id=their_question)),
            grpc.StatusCode.NOT_FOUND,
            "HUMAN_LOOP_REQUEST_NOT_FOUND",
            [],
        ),
        (
            stub.Reply(approval(theirs, their_question)),
            grpc.StatusCode.NOT_FOUND,
            "HUMAN_LOOP_REQUEST_NOT_FOUND",
            [],
        ),
        (
            stub.Reply(approval("run_x", question_id)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
            ["run_id"],
        ),
        (
            stub.Reply(human_loop_pb2.ReplyRequest(run_id=run_id, question_id=question_id)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
            ["answer"],
        ),
        (
            stub.Reply(approval(run_id, question_id, 0)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
            ["approval.decision"],
        ),
        (
            stub.Reply(
                human_loop_pb2.ReplyRequest(
                    run_id=run_id,
                    question_id=question_id,
                    approval=human_loop_pb2.ApprovalAnswer(decision=ACCEPT),
                    request_id="not ok!",
                )
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
            ["request_id"],
        ),
        (
            stub.ListPendingRequests(human_loop_pb2.ListPendingRequestsRequest(page_size=-1)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
            ["page_size"],
        ),
        (
            stub.ListPendingRequests(human_loop_pb2.ListPendingRequestsRequest(workspace_id="ws_bad")),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
            ["workspace_id"],
        ),
        (
            stub.ListRequests(human_loop_pb2.ListRequestsRequest(status=[0])),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
            ["status"],
        ),
        (
            stub.ListRequests(human_loop_pb2.ListRequestsRequest(page_token="garbage")),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
            ["page_token"],
        ),
    ]
    for call, code, reason, fields in cases:
        err = await _fails(call)
        assert err.code() == code, err
        got_reason, _, got_fields = _details(err)
        assert (got_reason, got_fields) == (reason, fields), err

    listed = await stub.ListPendingRequests(
        human_loop_pb2.ListPendingRequestsRequest(run_id=theirs), timeout=TIMEOUT
    )
    assert list(listed.requests) == []
