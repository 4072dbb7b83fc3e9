"""Acquire, release, drain, heartbeat timeout and watch, against fake executors.

Each test registers its own fake executors with a provider name of its own,
so the manager's real executors and other tests' executors never compete.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import grpc
import pytest

from ccplane.v1 import executor_manager_pb2 as pb
from ccplane.v1 import executor_manager_pb2_grpc
from executor_manager.app import ExecutorManager
from executor_manager.records import ExecutorState
from tests.integration.executor_manager.conftest import (
    fake_fleet,
    new_run_id,
    wait_state,
    watching,
)

Stub = executor_manager_pb2_grpc.ExecutorManagerServiceStub


async def acquire(stub: Stub, provider: str, preferred: str = "", run_id: str = "") -> pb.ExecutorLease:
    response: pb.AcquireExecutorResponse = await stub.AcquireExecutor(
        pb.AcquireExecutorRequest(
            run_id=run_id or new_run_id(),
            tenant_id="ten_test",
            provider=provider,
            preferred_executor_id=preferred,
        )
    )
    return response.lease


async def test_acquire_picks_least_loaded_and_never_overcommits(stub: Stub) -> None:
    a, b = await fake_fleet(stub, 2, slots=2)
    first = await acquire(stub, a.provider)
    second = await acquire(stub, a.provider)
    # The second goes to the executor the first left empty.
    assert {first.executor_id, second.executor_id} == {a.id, b.id}
    assert second.address == a.ADDRESS

    # Four acquisitions at once for the two slots left: two win, none over-commits.
    results = await asyncio.gather(*(acquire(stub, a.provider) for _ in range(4)), return_exceptions=True)
    won = [r for r in results if isinstance(r, pb.ExecutorLease)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(won) == 2
    assert [e.code() for e in refused] == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 2
    assert Counter(lease.executor_id for lease in [first, second, *won]) == {a.id: 2, b.id: 2}

    # Releasing frees the slot, on that executor; releasing again changes nothing.
    await stub.ReleaseExecutor(pb.ReleaseExecutorRequest(lease_id=first.lease_id))
    await stub.ReleaseExecutor(pb.ReleaseExecutorRequest(lease_id=first.lease_id))
    again = await acquire(stub, a.provider)
    assert again.executor_id == first.executor_id
    with pytest.raises(grpc.aio.AioRpcError) as full:
        await acquire(stub, a.provider)
    assert full.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_heartbeat_load_preference_and_retries(stub: Stub) -> None:
    a, b = await fake_fleet(stub, 2, slots=2)
    # Sessions the manager leased nothing for still take slots.
    assert (await a.heartbeat(slots_used=2)).known
    assert (await acquire(stub, a.provider)).executor_id == b.id
    await a.heartbeat(slots_used=0)
    # A preferred executor with a free slot wins over a less loaded one.
    assert (await acquire(stub, a.provider, preferred=b.id)).executor_id == b.id
    # The same run asking again gets its lease back.
    run_id = new_run_id()
    lease = await acquire(stub, a.provider, run_id=run_id)
    assert lease.executor_id == a.id
    assert (await acquire(stub, a.provider, run_id=run_id)).lease_id == lease.lease_id
    # Legacy provider names lease the canonical provider's slots.
    with pytest.raises(grpc.aio.AioRpcError) as none:
        await acquire(stub, "codex-cli-" + a.provider)
    assert none.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_drained_executor_gets_no_new_leases(manager: ExecutorManager, stub: Stub) -> None:
    a, b = await fake_fleet(stub, 2, slots=2)
    response = await stub.DrainExecutor(pb.DrainExecutorRequest(executor_id=a.id))
    assert response.executor.state == pb.EXECUTOR_STATE_DRAINING
    # The executor hears of it at its next heartbeat.
    heartbeat = await a.heartbeat()
    assert heartbeat.known and heartbeat.drain
    assert {(await acquire(stub, a.provider)).executor_id for _ in range(2)} == {b.id}
    with pytest.raises(grpc.aio.AioRpcError) as full:
        await acquire(stub, a.provider)
    assert full.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # An executor that says it drains is draining too.
    await b.heartbeat(slots_used=2, draining=True)
    await wait_state(manager, b.id, ExecutorState.DRAINING)


async def test_silent_executor_turns_unhealthy_and_its_leases_expire(
    manager: ExecutorManager, stub: Stub
) -> None:
    (a,) = await fake_fleet(stub, 1, slots=2)
    await a.heartbeat()
    async with watching(manager, stub) as watch:
        kept = await acquire(stub, a.provider)
        assert (await watch.next_for(kept.lease_id)).change == pb.LEASE_CHANGE_ACQUIRED
        returned = await acquire(stub, a.provider)
        await stub.ReleaseExecutor(pb.ReleaseExecutorRequest(lease_id=returned.lease_id))
        assert (await watch.next_for(returned.lease_id)).change == pb.LEASE_CHANGE_ACQUIRED
        assert (await watch.next_for(returned.lease_id)).change == pb.LEASE_CHANGE_RELEASED

        # The fake stops heartbeating.
        expired = await watch.next_for(kept.lease_id)
        assert expired.change == pb.LEASE_CHANGE_EXPIRED
        assert (expired.lease.executor_id, expired.lease.run_id) == (a.id, kept.run_id)
    record = await wait_state(manager, a.id, ExecutorState.UNHEALTHY)
    assert record.slots_used == 0

    # Releasing an expired lease is a no-op; the executor must register again.
    await stub.ReleaseExecutor(pb.ReleaseExecutorRequest(lease_id=kept.lease_id))
    assert not (await a.heartbeat()).known
    registered = await a.register()
    assert registered.executor.state == pb.EXECUTOR_STATE_READY
    assert registered.heartbeat_interval.ToTimedelta().total_seconds() == pytest.approx(0.2)
    assert (await a.heartbeat()).known


async def test_list_executors_pages(stub: Stub) -> None:
    mine = sorted(fake.id for fake in await fake_fleet(stub, 3))
    seen: list[str] = []
    token = ""
    while True:
        page = await stub.ListExecutors(pb.ListExecutorsRequest(page_size=2, page_token=token))
        assert len(page.executors) <= 2
        seen.extend(e.id for e in page.executors)
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen))
    assert [i for i in seen if i in mine] == mine
    listed = {e.id: e for e in (await stub.ListExecutors(pb.ListExecutorsRequest(page_size=500))).executors}
    assert listed[mine[0]].providers and listed[mine[0]].slots_total == 2
    assert listed[mine[0]].state == pb.EXECUTOR_STATE_READY


def _register(**fields: object) -> pb.RegisterExecutorRequest:
    values: dict[str, object] = {
        "executor_id": "exe_01J00000000000000000000000",
        "address": "127.0.0.1:5000",
        "slots_total": 1,
        "providers": ["codex-app-server"],
        **fields,
    }
    return pb.RegisterExecutorRequest(**values)  # type: ignore[arg-type]


BAD_REQUESTS = [
    ("AcquireExecutor", pb.AcquireExecutorRequest(run_id=""), "run_id"),
    ("AcquireExecutor", pb.AcquireExecutorRequest(run_id="run_nope"), "run_id"),
    (
        "AcquireExecutor",
        pb.AcquireExecutorRequest(run_id="run_01J00000000000000000000000", preferred_executor_id="x"),
        "preferred_executor_id",
    ),
    (
        "AcquireExecutor",
        pb.AcquireExecutorRequest(run_id="run_01J00000000000000000000000", provider="a b"),
        "provider",
    ),
    ("ReleaseExecutor", pb.ReleaseExecutorRequest(lease_id=""), "lease_id"),
    ("ReleaseExecutor", pb.ReleaseExecutorRequest(lease_id="run_01J00000000000000000000000"), "lease_id"),
    ("RegisterExecutor", _register(executor_id="worker-1"), "executor_id"),
    ("RegisterExecutor", _register(address=""), "address"),
    ("RegisterExecutor", _register(address="localhost"), "address"),
    ("RegisterExecutor", _register(slots_total=-1), "slots_total"),
    ("RegisterExecutor", _register(providers=[]), "providers"),
    ("Heartbeat", pb.HeartbeatRequest(executor_id=""), "executor_id"),
    (
        "Heartbeat",
        pb.HeartbeatRequest(executor_id="exe_01J00000000000000000000000", slots_used=-1),
        "slots_used",
    ),
    (
        "Heartbeat",
        pb.HeartbeatRequest(executor_id="exe_01J00000000000000000000000", run_ids=["r"]),
        "run_ids[0]",
    ),
    ("ListExecutors", pb.ListExecutorsRequest(page_size=-1), "page_size"),
    ("ListExecutors", pb.ListExecutorsRequest(page_token="not a token"), "page_token"),
    ("DrainExecutor", pb.DrainExecutorRequest(executor_id="exe_short"), "executor_id"),
]


@pytest.mark.parametrize(("method", "request_message", "field"), BAD_REQUESTS)
async def test_bad_input_is_invalid_argument_naming_the_field(
    stub: Stub, method: str, request_message: object, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await getattr(stub, method)(request_message)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (error.value.details() or "").startswith(f"{field}: ")


async def test_unknown_lease_and_executor_are_not_found(stub: Stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as lease:
        await stub.ReleaseExecutor(pb.ReleaseExecutorRequest(lease_id="lease_01J00000000000000000000000"))
    assert lease.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as executor:
        await stub.DrainExecutor(pb.DrainExecutorRequest(executor_id="exe_01J00000000000000000000000"))
    assert executor.value.code() == grpc.StatusCode.NOT_FOUND
