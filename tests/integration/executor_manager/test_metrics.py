"""The executor-manager's /metrics and /sd/executors, scraped over HTTP.

The manager here has a database of its own, so the fleet the gauges report
is exactly its pool's one real executor (plus the fake executor the last
test registers).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
import pytest_asyncio

from ccplane.v1 import executor_manager_pb2 as pb
from ccplane.v1 import executor_manager_pb2_grpc, executor_pb2, executor_pb2_grpc
from common import ids
from executor_manager.app import ExecutorManager
from executor_manager.records import ExecutorState
from tests.conftest import TEST_TENANT, create_database, drop_database
from tests.integration.executor_manager.conftest import (
    local_backend,
    manager_config,
    new_run_id,
    unique_provider,
    until,
    wait_state,
)
from tests.keys import internal_channel
from tests.metrics_scrape import Scrape, scrape

Stub = executor_manager_pb2_grpc.ExecutorManagerServiceStub
SLOTS = 3
SERVICE = "ccplane.v1.ExecutorManagerService"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def metered(
    postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ExecutorManager]:
    """A manager serving metrics on a free port, with one real executor of SLOTS slots."""
    name = f"ccplane_test_metrics_{secrets.token_hex(6)}"
    url = await asyncio.to_thread(create_database, postgres_server_url, name)
    data_dir = tmp_path_factory.mktemp("metered-manager")
    config = manager_config(
        data_dir, min_executors=1, max_executors=1, slots_per_executor=SLOTS, metrics_port=0
    )
    manager = ExecutorManager(config, url, backend=local_backend(data_dir))
    try:
        await manager.start("127.0.0.1", 0)

        async def ready() -> bool:
            assert manager.fleet is not None
            return any(e.state == ExecutorState.READY for e in await manager.fleet.census())

        await until(manager, ready)
        yield manager
    finally:
        await manager.stop()
        await asyncio.to_thread(drop_database, postgres_server_url, name)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stub(metered: ExecutorManager) -> AsyncIterator[Stub]:
    async with internal_channel(metered.address) as channel:
        yield executor_manager_pb2_grpc.ExecutorManagerServiceStub(channel)


def pool_executor(manager: ExecutorManager) -> str:
    assert manager.pool is not None
    (executor_id,) = manager.pool.executor_ids
    return executor_id


async def service_discovery(manager: ExecutorManager) -> list[dict[str, object]]:
    async with httpx.AsyncClient(timeout=10.0) as client:
        response = await client.get(f"{manager.metrics_url}/sd/executors")
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == "application/json"
    groups: list[dict[str, object]] = response.json()
    return groups


def leases(scraped: Scrape) -> tuple[float, float, float]:
    return (
        scraped.value("ccplane_leases_granted_total"),
        scraped.value("ccplane_leases_released_total"),
        scraped.value("ccplane_leases_expired_total"),
    )


async def test_the_fleet_gauges_match_the_fleet(metered: ExecutorManager) -> None:
    assert metered.metrics_url.startswith("http://127.0.0.1:")
    scraped = await scrape(metered.metrics_url)
    assert scraped.value("ccplane_executors", state="ready") == 1
    for state in ("starting", "draining", "unhealthy"):
        assert scraped.value("ccplane_executors", state=state) == 0, state
    assert scraped.value("ccplane_executor_slots", state="free") == SLOTS
    assert scraped.value("ccplane_executor_slots", state="used") == 0
    assert leases(scraped) == (0, 0, 0)


async def test_granting_and_releasing_a_lease_count_once_each(metered: ExecutorManager, stub: Stub) -> None:
    before = leases(await scrape(metered.metrics_url))
    request = pb.AcquireExecutorRequest(
        run_id=new_run_id(), tenant_id=TEST_TENANT, provider="codex-app-server"
    )
    lease = (await stub.AcquireExecutor(request)).lease
    # The same run asking again gets its lease back: nothing new is granted.
    assert (await stub.AcquireExecutor(request)).lease.lease_id == lease.lease_id

    held = await scrape(metered.metrics_url)
    assert leases(held) == (before[0] + 1, before[1], before[2])
    assert held.value("ccplane_executor_slots", state="used") == 1
    assert held.value("ccplane_executor_slots", state="free") == SLOTS - 1

    await stub.ReleaseExecutor(pb.ReleaseExecutorRequest(lease_id=lease.lease_id))
    await stub.ReleaseExecutor(pb.ReleaseExecutorRequest(lease_id=lease.lease_id))  # already released
    after = await scrape(metered.metrics_url)
    assert leases(after) == (before[0] + 1, before[1] + 1, before[2])
    assert after.value("ccplane_executor_slots", state="free") == SLOTS


async def test_service_discovery_lists_the_executors_metrics(metered: ExecutorManager, stub: Stub) -> None:
    executor_id = pool_executor(metered)
    listed = (await stub.ListExecutors(pb.ListExecutorsRequest())).executors
    (executor,) = [e for e in listed if e.id == executor_id]
    assert executor.metrics_address.startswith("127.0.0.1:")
    assert executor.metrics_address != executor.address

    assert await service_discovery(metered) == [
        {"targets": [executor.metrics_address], "labels": {"executor_id": executor_id, "backend": "local"}}
    ]
    async with internal_channel(executor.address) as channel:
        await executor_pb2_grpc.ExecutorServiceStub(channel).GetStatus(executor_pb2.GetStatusRequest())
    scraped = await scrape(f"http://{executor.metrics_address}")
    assert scraped.value("ccplane_executor_sessions") == 0
    assert scraped.value("ccplane_codex_processes") == 0
    assert scraped.value("ccplane_provider_errors_total", provider="codex-app-server") == 0
    status_calls = dict(grpc_service="ccplane.v1.ExecutorService", grpc_method="GetStatus", grpc_code="OK")
    assert scraped.value("ccplane_grpc_server_handled_total", **status_calls) == 1


async def test_grpc_calls_are_counted_by_status(metered: ExecutorManager, stub: Stub) -> None:
    def handled(scraped: Scrape, code: str) -> float:
        return scraped.get(
            "ccplane_grpc_server_handled_total",
            grpc_service=SERVICE,
            grpc_method="ListExecutors",
            grpc_code=code,
        )

    before = await scrape(metered.metrics_url)
    await stub.ListExecutors(pb.ListExecutorsRequest())
    async with grpc.aio.insecure_channel(metered.address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await executor_manager_pb2_grpc.ExecutorManagerServiceStub(channel).ListExecutors(
                pb.ListExecutorsRequest()
            )
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    after = await scrape(metered.metrics_url)
    assert handled(after, "OK") == handled(before, "OK") + 1
    assert handled(after, "UNAUTHENTICATED") == handled(before, "UNAUTHENTICATED") + 1
    latency = dict(grpc_service=SERVICE, grpc_method="ListExecutors")
    assert (
        after.value("ccplane_grpc_server_handling_seconds_count", **latency)
        == before.get("ccplane_grpc_server_handling_seconds_count", **latency) + 2
    )


async def test_an_executor_that_goes_silent_leaves_discovery_and_its_lease_expires(
    metered: ExecutorManager, stub: Stub
) -> None:
    """Runs last: it leaves an unhealthy executor in the fleet."""
    provider = unique_provider()
    executor_id = ids.new_id(ids.EXECUTOR)
    register = pb.RegisterExecutorRequest(
        executor_id=executor_id,
        address="127.0.0.1:1",
        slots_total=2,
        providers=[provider],
        backend="external",
        metrics_address="not an address",
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.RegisterExecutor(register)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "metrics_address" in (err.value.details() or "")

    register.metrics_address = "127.0.0.1:2"
    registered = await stub.RegisterExecutor(register)
    assert registered.executor.metrics_address == "127.0.0.1:2"
    targets = [group["targets"] for group in await service_discovery(metered)]
    assert ["127.0.0.1:2"] in targets

    before = leases(await scrape(metered.metrics_url))
    await stub.AcquireExecutor(
        pb.AcquireExecutorRequest(run_id=new_run_id(), tenant_id=TEST_TENANT, provider=provider)
    )
    # A draining executor is still scraped: its sessions run to their end.
    await stub.DrainExecutor(pb.DrainExecutorRequest(executor_id=executor_id))
    assert ["127.0.0.1:2"] in [group["targets"] for group in await service_discovery(metered)]
    draining = await scrape(metered.metrics_url)
    assert draining.value("ccplane_executors", state="draining") == 1
    # Slots count over ready executors only.
    assert draining.value("ccplane_executor_slots", state="free") == SLOTS

    # It never heartbeats: the manager declares it unhealthy and revokes its lease.
    await wait_state(metered, executor_id, ExecutorState.UNHEALTHY)

    async def counted() -> bool:
        value = metered.metrics.registry.get_sample_value("ccplane_leases_expired_total")
        return value is not None and value >= before[2] + 1

    await until(metered, counted)
    after = await scrape(metered.metrics_url)
    assert leases(after) == (before[0] + 1, before[1], before[2] + 1)
    assert after.value("ccplane_executors", state="unhealthy") == 1
    assert after.value("ccplane_executors", state="ready") == 1
    assert ["127.0.0.1:2"] not in [group["targets"] for group in await service_discovery(metered)]
