"""RunService over real gRPC against real PostgreSQL: create, get, list, errors."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from sqlalchemy import select

from ccplane.v1 import common_pb2, runs_pb2, runs_pb2_grpc
from common import ids
from common.db import models
from common.db.engine import Database


@pytest.fixture
def runs(channel: grpc.aio.Channel) -> runs_pb2_grpc.RunServiceStub:
    return runs_pb2_grpc.RunServiceStub(channel)


def _status(err: grpc.aio.AioRpcError) -> status_pb2.Status:
    status = rpc_status.from_call(err)
    assert status is not None, "error carries no google.rpc.Status"
    return status


def _error_info(err: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    for detail in _status(err).details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    raise AssertionError("no ErrorInfo detail")


def _violated_fields(err: grpc.aio.AioRpcError) -> list[str]:
    for detail in _status(err).details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            return [v.field for v in bad.field_violations]
    raise AssertionError("no BadRequest detail")


async def test_create_get_and_rows(runs: runs_pb2_grpc.RunServiceStub, database: Database) -> None:
    created = (
        await runs.CreateRun(
            runs_pb2.CreateRunRequest(
                prompt="list the files",
                labels={"team": "infra"},
                settings=runs_pb2.RunSettings(approval_mode=runs_pb2.APPROVAL_MODE_UNTRUSTED),
            )
        )
    ).run
    assert ids.is_valid(ids.RUN, created.id)
    assert created.status == common_pb2.RUN_STATUS_QUEUED
    assert created.provider == "codex-app-server"
    assert created.settings.approval_mode == runs_pb2.APPROVAL_MODE_UNTRUSTED
    assert ids.is_valid(ids.WORKSPACE, created.workspace_id), "a run without workspace gets a new one"
    assert created.last_seq == 1
    assert len(created.trace_id) == 32

    fetched = (await runs.GetRun(runs_pb2.GetRunRequest(run_id=created.id))).run
    assert fetched == created

    async with database.session() as session:
        row = await session.get_one(models.AgentRun, created.id)
        events = (
            (await session.execute(select(models.RunEvent).where(models.RunEvent.run_id == created.id)))
            .scalars()
            .all()
        )
        workspace = await session.get(models.Workspace, created.workspace_id)
    assert row.status == "queued"
    assert row.labels == {"team": "infra"}
    assert [(e.seq, e.type) for e in events] == [(1, "run.status_changed")]
    assert events[0].payload["status"] == "RUN_STATUS_QUEUED"
    assert workspace is not None


async def test_same_request_id_returns_same_run(runs: runs_pb2_grpc.RunServiceStub) -> None:
    request = runs_pb2.CreateRunRequest(prompt="idempotent", request_id=f"req-{ids.new_ulid()}")
    first = (await runs.CreateRun(request)).run
    second = (await runs.CreateRun(request)).run
    assert first.id == second.id

    other = runs_pb2.CreateRunRequest(prompt="something else", request_id=request.request_id)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await runs.CreateRun(other)
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert _error_info(err.value).reason == "REQUEST_ID_REUSED"


async def test_list_pages_and_filters(runs: runs_pb2_grpc.RunServiceStub) -> None:
    workspace_run = (await runs.CreateRun(runs_pb2.CreateRunRequest(prompt="first"))).run
    workspace_id = workspace_run.workspace_id
    made = [workspace_run.id]
    for i in range(4):
        run = (
            await runs.CreateRun(runs_pb2.CreateRunRequest(prompt=f"run {i}", workspace_id=workspace_id))
        ).run
        made.append(run.id)

    seen: list[str] = []
    token = ""
    while True:
        page = await runs.ListRuns(
            runs_pb2.ListRunsRequest(workspace_id=workspace_id, page_size=2, page_token=token)
        )
        assert len(page.runs) <= 2
        seen += [r.id for r in page.runs]
        token = page.next_page_token
        if not token:
            break
    assert seen == list(reversed(made)), "newest first, every run exactly once"

    queued = await runs.ListRuns(
        runs_pb2.ListRunsRequest(workspace_id=workspace_id, status=[common_pb2.RUN_STATUS_QUEUED])
    )
    assert len(queued.runs) == 5
    done = await runs.ListRuns(
        runs_pb2.ListRunsRequest(workspace_id=workspace_id, status=[common_pb2.RUN_STATUS_SUCCEEDED])
    )
    assert list(done.runs) == []


async def test_page_token_of_other_filters_is_rejected(runs: runs_pb2_grpc.RunServiceStub) -> None:
    for _ in range(2):
        await runs.CreateRun(runs_pb2.CreateRunRequest(prompt="paging"))
    page = await runs.ListRuns(runs_pb2.ListRunsRequest(page_size=1))
    assert page.next_page_token
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await runs.ListRuns(
            runs_pb2.ListRunsRequest(
                page_size=1, page_token=page.next_page_token, status=[common_pb2.RUN_STATUS_RUNNING]
            )
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _violated_fields(err.value) == ["page_token"]


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (runs_pb2.CreateRunRequest(prompt=""), "prompt"),
        (runs_pb2.CreateRunRequest(prompt="   \n"), "prompt"),
        (runs_pb2.CreateRunRequest(prompt="x", provider="gpt-engineer"), "provider"),
        (runs_pb2.CreateRunRequest(prompt="x", workspace_id="not-an-id"), "workspace_id"),
        (runs_pb2.CreateRunRequest(prompt="x", labels={"Bad Key": "v"}), "labels['Bad Key']"),
        (runs_pb2.CreateRunRequest(prompt="x", request_id="has space"), "request_id"),
        (
            runs_pb2.CreateRunRequest(prompt="x", settings=runs_pb2.RunSettings(env={"1BAD": "v"})),
            "settings.env['1BAD']",
        ),
        (
            runs_pb2.CreateRunRequest(
                prompt="x", settings=runs_pb2.RunSettings(mcp_servers={"docs": runs_pb2.McpServer()})
            ),
            "settings.mcp_servers['docs']",
        ),
    ],
)
async def test_create_rejects_bad_input(
    runs: runs_pb2_grpc.RunServiceStub, request_: runs_pb2.CreateRunRequest, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await runs.CreateRun(request_)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in err.value.details()
    assert _violated_fields(err.value) == [field]
    info = _error_info(err.value)
    assert info.domain == "ccplane.dev"
    assert info.reason == "INVALID_ARGUMENT"


async def test_codex_cli_provider_is_accepted(runs: runs_pb2_grpc.RunServiceStub) -> None:
    run = (await runs.CreateRun(runs_pb2.CreateRunRequest(prompt="legacy", provider="codex-cli"))).run
    assert run.provider == "codex-cli"
    assert run.status == common_pb2.RUN_STATUS_QUEUED


async def test_unknown_workspace_is_not_found(runs: runs_pb2_grpc.RunServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await runs.CreateRun(runs_pb2.CreateRunRequest(prompt="x", workspace_id=ids.new_id(ids.WORKSPACE)))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_get_errors(runs: runs_pb2_grpc.RunServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await runs.GetRun(runs_pb2.GetRunRequest(run_id="run_123"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _violated_fields(err.value) == ["run_id"]

    missing = ids.new_id(ids.RUN)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await runs.GetRun(runs_pb2.GetRunRequest(run_id=missing))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert _error_info(err.value).reason == "RUN_NOT_FOUND"
    assert missing in err.value.details()


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (runs_pb2.ListRunsRequest(page_size=-1), "page_size"),
        (runs_pb2.ListRunsRequest(page_token="!!not-a-token!!"), "page_token"),
        (runs_pb2.ListRunsRequest(page_token="eyJrIjoxfQ"), "page_token"),
        (runs_pb2.ListRunsRequest(workspace_id="ws_bad"), "workspace_id"),
        (runs_pb2.ListRunsRequest(status=[99]), "status"),
    ],
)
async def test_list_rejects_bad_input(
    runs: runs_pb2_grpc.RunServiceStub, request_: runs_pb2.ListRunsRequest, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await runs.ListRuns(request_)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _violated_fields(err.value) == [field]


async def test_stop_a_queued_run_cancels_it(runs: runs_pb2_grpc.RunServiceStub) -> None:
    # This control plane has no executor-manager: runs stay queued.
    run = (await runs.CreateRun(runs_pb2.CreateRunRequest(prompt="never starts"))).run
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await runs.SendMessage(runs_pb2.SendMessageRequest(run_id=run.id, text="hello?"))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert _error_info(err.value).reason == "RUN_NOT_STARTED"

    stopped = (await runs.StopRun(runs_pb2.StopRunRequest(run_id=run.id, reason="changed my mind"))).run
    assert stopped.status == common_pb2.RUN_STATUS_CANCELED
    assert stopped.finished_at.seconds > 0
    again = (await runs.StopRun(runs_pb2.StopRunRequest(run_id=run.id))).run
    assert again.status == common_pb2.RUN_STATUS_CANCELED, "stopping twice is harmless"

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await runs.SendMessage(runs_pb2.SendMessageRequest(run_id=run.id, text="continue"))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert _error_info(err.value).reason == "NO_THREAD"


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (runs_pb2.SendMessageRequest(run_id="bad", text="x"), "run_id"),
        (runs_pb2.SendMessageRequest(run_id="run_01ABCDEFGHJKMNPQRSTVWXYZ01", text="  "), "text"),
    ],
)
async def test_send_message_rejects_bad_input(
    runs: runs_pb2_grpc.RunServiceStub, request_: runs_pb2.SendMessageRequest, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await runs.SendMessage(request_)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _violated_fields(err.value) == [field]


async def test_stop_unknown_run_is_not_found(runs: runs_pb2_grpc.RunServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await runs.StopRun(runs_pb2.StopRunRequest(run_id=ids.new_id(ids.RUN)))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
