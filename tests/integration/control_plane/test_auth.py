"""Authentication, tenant isolation, admin-only reconcile and per-tenant limits,
over gRPC against the session's control plane."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from ccplane.v1 import (
    common_pb2,
    human_loop_pb2,
    human_loop_pb2_grpc,
    reconcile_pb2,
    reconcile_pb2_grpc,
    runs_pb2,
    runs_pb2_grpc,
    workspaces_pb2,
    workspaces_pb2_grpc,
)
from common.credentials import authorized_channel
from common.db.engine import Database
from control_plane import api_keys
from control_plane.app import ControlPlane
from tests.conftest import RunFactory
from tests.integration.human_loop.conftest import approval, ask
from tests.integration.workspaces.conftest import refused
from tests.keys import INTERNAL_TOKEN, create_key, set_limits
from tests.stack_fixtures import ChannelFactory

NOT_FOUND = grpc.StatusCode.NOT_FOUND
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED


def details(err: grpc.aio.AioRpcError) -> dict[str, object]:
    """The rich status's details by type: ErrorInfo, RetryInfo, QuotaFailure."""
    status = rpc_status.from_call(err)
    assert status is not None
    found: dict[str, object] = {}
    for any_ in status.details:
        for kind in (
            error_details_pb2.ErrorInfo,
            error_details_pb2.RetryInfo,
            error_details_pb2.QuotaFailure,
        ):
            if any_.Is(kind.DESCRIPTOR):
                message = kind()
                any_.Unpack(message)
                found[kind.DESCRIPTOR.name] = message
    return found


def reason(err: grpc.aio.AioRpcError) -> str:
    info = details(err)["ErrorInfo"]
    assert isinstance(info, error_details_pb2.ErrorInfo)
    return info.reason


async def first_event(call: grpc.aio.UnaryStreamCall) -> object:  # type: ignore[type-arg]
    async for item in call:
        return item
    return None


# --- authentication ----------------------------------------------------------


def _one_call_per_service(channel: grpc.aio.Channel) -> list[Awaitable[object]]:
    return [
        runs_pb2_grpc.RunServiceStub(channel).ListRuns(runs_pb2.ListRunsRequest()),
        first_event(
            runs_pb2_grpc.RunServiceStub(channel).StreamRunEvents(
                runs_pb2.StreamRunEventsRequest(run_id="run_01ABCDEFGHJKMNPQRSTVWXYZ01")
            )
        ),
        human_loop_pb2_grpc.HumanLoopServiceStub(channel).ListPendingRequests(
            human_loop_pb2.ListPendingRequestsRequest()
        ),
        workspaces_pb2_grpc.WorkspaceServiceStub(channel).ListWorkspaces(
            workspaces_pb2.ListWorkspacesRequest()
        ),
        reconcile_pb2_grpc.ReconcileServiceStub(channel).GetMetrics(reconcile_pb2.GetMetricsRequest()),
    ]


async def test_every_service_refuses_calls_without_a_key(control_plane: ControlPlane) -> None:
    async with grpc.aio.insecure_channel(control_plane.address) as channel:
        for call in _one_call_per_service(channel):
            err = await refused(call, UNAUTHENTICATED)
            assert reason(err) == "MISSING_CREDENTIALS"
            assert "authorization: Bearer" in (err.details() or "")


@pytest.mark.parametrize(
    "secret",
    ["ccp_" + "x" * 43, "not-even-shaped-like-a-key", INTERNAL_TOKEN],
    ids=["unknown", "malformed", "internal-token"],
)
async def test_unknown_keys_and_the_internal_token_are_refused(
    control_plane: ControlPlane, secret: str
) -> None:
    async with authorized_channel(control_plane.address, secret) as channel:
        for call in _one_call_per_service(channel):
            assert reason(await refused(call, UNAUTHENTICATED)) == "INVALID_API_KEY"


async def test_a_revoked_key_stops_working(control_plane: ControlPlane, database: Database) -> None:
    secret = await create_key(database, "revoking", "user")
    async with authorized_channel(control_plane.address, secret) as channel:
        runs = runs_pb2_grpc.RunServiceStub(channel)
        await runs.ListRuns(runs_pb2.ListRunsRequest())
        async with database.session() as session, session.begin():
            key = (await api_keys.list_keys(session, "revoking"))[0]
            assert key.last_used_at is not None, "a key's use is recorded"
            await api_keys.revoke(session, key.key_id)
        assert reason(await refused(runs.ListRuns(runs_pb2.ListRunsRequest()), UNAUTHENTICATED)) == (
            "INVALID_API_KEY"
        )


async def test_health_needs_no_key(control_plane: ControlPlane) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    async with grpc.aio.insecure_channel(control_plane.address) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


# --- tenant isolation ----------------------------------------------------------


async def test_another_tenants_resources_are_not_found(
    tenant_channel: ChannelFactory, database: Database, make_run: RunFactory
) -> None:
    owner = await tenant_channel("isolation-owner")
    intruder = await tenant_channel("isolation-intruder", role="admin")  # admin of its own tenant only
    own_workspaces = workspaces_pb2_grpc.WorkspaceServiceStub(owner)
    workspace = (
        await own_workspaces.CreateWorkspace(workspaces_pb2.CreateWorkspaceRequest(name="private"))
    ).workspace
    await own_workspaces.WriteFile(
        workspaces_pb2.WriteFileRequest(workspace_id=workspace.id, path="secret.txt", content=b"s3cret")
    )
    run = (
        await runs_pb2_grpc.RunServiceStub(owner).CreateRun(
            runs_pb2.CreateRunRequest(prompt="private work", workspace_id=workspace.id)
        )
    ).run
    waiting = await make_run("waiting_human", tenant_id="isolation-owner", workspace_id=workspace.id)
    question_id = await ask(database, waiting)

    runs = runs_pb2_grpc.RunServiceStub(intruder)
    for call in (
        runs.GetRun(runs_pb2.GetRunRequest(run_id=run.id)),
        runs.StopRun(runs_pb2.StopRunRequest(run_id=run.id)),
        runs.SendMessage(runs_pb2.SendMessageRequest(run_id=run.id, text="hi")),
        runs.ListTodos(runs_pb2.ListTodosRequest(run_id=run.id)),
        first_event(runs.StreamRunEvents(runs_pb2.StreamRunEventsRequest(run_id=run.id))),
        first_event(runs.StreamTodoEvents(runs_pb2.StreamTodoEventsRequest(run_id=run.id))),
        runs.CreateRun(runs_pb2.CreateRunRequest(prompt="borrow it", workspace_id=workspace.id)),
    ):
        assert reason(await refused(call, NOT_FOUND)).endswith("_NOT_FOUND")
    connect = runs.Connect()
    await connect.write(runs_pb2.ConnectRequest(subscribe=runs_pb2.ConnectSubscribe(run_id=run.id)))
    await refused(first_event(connect), NOT_FOUND)
    assert run.id not in [r.id for r in (await runs.ListRuns(runs_pb2.ListRunsRequest(page_size=500))).runs]

    human_loop = human_loop_pb2_grpc.HumanLoopServiceStub(intruder)
    for call in (
        human_loop.GetRequest(human_loop_pb2.GetRequestRequest(question_id=question_id)),
        human_loop.Reply(approval(waiting, question_id)),
    ):
        await refused(call, NOT_FOUND)
    pending = await human_loop.ListPendingRequests(human_loop_pb2.ListPendingRequestsRequest(page_size=500))
    assert question_id not in [r.question_id for r in pending.requests]

    workspaces = workspaces_pb2_grpc.WorkspaceServiceStub(intruder)
    for call in (
        workspaces.GetWorkspace(workspaces_pb2.GetWorkspaceRequest(workspace_id=workspace.id)),
        workspaces.ListFiles(workspaces_pb2.ListFilesRequest(workspace_id=workspace.id)),
        workspaces.ReadFile(workspaces_pb2.ReadFileRequest(workspace_id=workspace.id, path="secret.txt")),
        workspaces.DeleteFile(workspaces_pb2.DeleteFileRequest(workspace_id=workspace.id, path="secret.txt")),
        workspaces.ListAuditEvents(workspaces_pb2.ListAuditEventsRequest(workspace_id=workspace.id)),
    ):
        assert reason(await refused(call, NOT_FOUND)) == "WORKSPACE_NOT_FOUND"

    # The owner still sees everything, untouched.
    mine = human_loop_pb2_grpc.HumanLoopServiceStub(owner)
    got = await mine.GetRequest(human_loop_pb2.GetRequestRequest(question_id=question_id))
    assert got.request.status == human_loop_pb2.HUMAN_LOOP_STATUS_PENDING
    read = await own_workspaces.ReadFile(
        workspaces_pb2.ReadFileRequest(workspace_id=workspace.id, path="secret.txt")
    )
    assert read.content == b"s3cret"
    fetched = await runs_pb2_grpc.RunServiceStub(owner).GetRun(runs_pb2.GetRunRequest(run_id=run.id))
    assert fetched.run.status == common_pb2.RUN_STATUS_QUEUED


# --- roles ---------------------------------------------------------------------


async def test_reconcile_needs_an_admin_key(tenant_channel: ChannelFactory) -> None:
    user = reconcile_pb2_grpc.ReconcileServiceStub(await tenant_channel("reconcile-users"))
    for call in (
        user.ReconcileRuns(reconcile_pb2.ReconcileRunsRequest(dry_run=True)),
        user.ExpireHumanLoopRequests(reconcile_pb2.ExpireHumanLoopRequestsRequest()),
        user.GetMetrics(reconcile_pb2.GetMetricsRequest()),
    ):
        assert reason(await refused(call, grpc.StatusCode.PERMISSION_DENIED)) == "ADMIN_REQUIRED"
    admin = reconcile_pb2_grpc.ReconcileServiceStub(await tenant_channel("reconcile-users", role="admin"))
    await admin.ReconcileRuns(reconcile_pb2.ReconcileRunsRequest(dry_run=True))
    await admin.GetMetrics(reconcile_pb2.GetMetricsRequest())


# --- limits ----------------------------------------------------------------------


async def test_unfinished_runs_are_limited_per_tenant(
    tenant_channel: ChannelFactory, database: Database
) -> None:
    await set_limits(database, "quota-runs", max_runs=2)
    runs = runs_pb2_grpc.RunServiceStub(await tenant_channel("quota-runs"))
    first = (await runs.CreateRun(runs_pb2.CreateRunRequest(prompt="one", request_id="quota-1"))).run
    await runs.CreateRun(runs_pb2.CreateRunRequest(prompt="two"))

    err = await refused(
        runs.CreateRun(runs_pb2.CreateRunRequest(prompt="three")), grpc.StatusCode.RESOURCE_EXHAUSTED
    )
    found = details(err)
    assert reason(err) == "RUN_QUOTA_EXCEEDED"
    retry = found["RetryInfo"]
    assert isinstance(retry, error_details_pb2.RetryInfo) and retry.retry_delay.ToMilliseconds() > 0
    quota = found["QuotaFailure"]
    assert isinstance(quota, error_details_pb2.QuotaFailure)
    assert quota.violations[0].subject == "tenant:quota-runs"
    assert "2 unfinished runs" in quota.violations[0].description

    # Retrying a request that already made a run returns it, limit or not.
    again = await runs.CreateRun(runs_pb2.CreateRunRequest(prompt="one", request_id="quota-1"))
    assert again.run.id == first.id
    # Other tenants are not affected.
    other = runs_pb2_grpc.RunServiceStub(await tenant_channel("quota-neighbour"))
    await other.CreateRun(runs_pb2.CreateRunRequest(prompt="mine"))
    # A finished run frees its place.
    await runs.StopRun(runs_pb2.StopRunRequest(run_id=first.id))
    await runs.CreateRun(runs_pb2.CreateRunRequest(prompt="three, now"))


async def test_concurrent_creates_never_overshoot_the_limit(
    tenant_channel: ChannelFactory, database: Database
) -> None:
    await set_limits(database, "quota-race", max_runs=3)
    runs = runs_pb2_grpc.RunServiceStub(await tenant_channel("quota-race"))
    outcomes = await asyncio.gather(
        *(runs.CreateRun(runs_pb2.CreateRunRequest(prompt=f"racer {i}")) for i in range(12)),
        return_exceptions=True,
    )
    created = [o for o in outcomes if isinstance(o, runs_pb2.CreateRunResponse)]
    refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(created) == 3
    assert len(refused) == 9 and {e.code() for e in refused} == {grpc.StatusCode.RESOURCE_EXHAUSTED}


async def test_a_follow_up_counts_against_the_limit(
    tenant_channel: ChannelFactory, database: Database, make_run: RunFactory
) -> None:
    await set_limits(database, "quota-follow", max_runs=1)
    finished = await make_run("succeeded", tenant_id="quota-follow", thread_id="thread-quota")
    runs = runs_pb2_grpc.RunServiceStub(await tenant_channel("quota-follow"))
    busy = (await runs.CreateRun(runs_pb2.CreateRunRequest(prompt="busy"))).run
    err = await refused(
        runs.SendMessage(runs_pb2.SendMessageRequest(run_id=finished, text="and then?")),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    )
    assert reason(err) == "RUN_QUOTA_EXCEEDED"
    await runs.StopRun(runs_pb2.StopRunRequest(run_id=busy.id))
    sent = await runs.SendMessage(runs_pb2.SendMessageRequest(run_id=finished, text="and then?"))
    assert sent.delivery == runs_pb2.MESSAGE_DELIVERY_FOLLOW_UP


async def test_request_rate_is_limited_per_tenant(tenant_channel: ChannelFactory, database: Database) -> None:
    await set_limits(database, "quota-rate", rps=5)  # bursts of 10
    runs = runs_pb2_grpc.RunServiceStub(await tenant_channel("quota-rate"))
    outcomes = await asyncio.gather(
        *(runs.ListRuns(runs_pb2.ListRunsRequest(page_size=1)) for _ in range(30)), return_exceptions=True
    )
    refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert 0 < len(refused) <= 20, "the burst passes, the rest is refused"
    assert {e.code() for e in refused} == {grpc.StatusCode.RESOURCE_EXHAUSTED}
    err = refused[0]
    assert reason(err) == "RATE_LIMITED"
    retry = details(err)["RetryInfo"]
    assert isinstance(retry, error_details_pb2.RetryInfo)
    delay = retry.retry_delay.ToMilliseconds() / 1000
    assert 0 < delay <= 0.2 + 1e-3, "one token comes back every 1/5 s"

    # Another tenant's budget is its own.
    neighbour = runs_pb2_grpc.RunServiceStub(await tenant_channel("quota-rate-neighbour"))
    await neighbour.ListRuns(runs_pb2.ListRunsRequest(page_size=1))
    # After the hinted delay, the tenant may call again. The hint is taken
    # from a refusal of its own: the burst's calls were served in an order
    # of the server's, so refused[0]'s hint may predate later grants.
    for _ in range(20):
        try:
            await runs.ListRuns(runs_pb2.ListRunsRequest(page_size=1))
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            hint = details(exc)["RetryInfo"]
            assert isinstance(hint, error_details_pb2.RetryInfo)
            await asyncio.sleep(hint.retry_delay.ToMilliseconds() / 1000 + 0.05)
            break
    else:
        raise AssertionError("20 calls in a row passed a limit of 5 per second")
    await runs.ListRuns(runs_pb2.ListRunsRequest(page_size=1))
