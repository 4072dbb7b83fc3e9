"""The control plane's client of the executor-manager."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc

from ccplane.v1 import executor_manager_pb2, executor_manager_pb2_grpc
from common.credentials import authorized_channel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lease:
    lease_id: str
    executor_id: str
    address: str


class ExecutorManagerClient:
    def __init__(self, address: str, internal_token: str) -> None:
        self.address = address
        self._token = internal_token
        self._channel = authorized_channel(address, internal_token, traced=True)
        self._stub = executor_manager_pb2_grpc.ExecutorManagerServiceStub(self._channel)

    async def close(self) -> None:
        await self._channel.close()

    def executor_channel(self, address: str) -> grpc.aio.Channel:
        """A channel to an executor, with the same internal credential."""
        return authorized_channel(address, self._token, traced=True)

    async def acquire(self, run_id: str, tenant_id: str, provider: str, preferred: str = "") -> Lease | None:
        """A lease on a free slot, or None when every slot is busy."""
        try:
            response = await self._stub.AcquireExecutor(
                executor_manager_pb2.AcquireExecutorRequest(
                    run_id=run_id, tenant_id=tenant_id, provider=provider, preferred_executor_id=preferred
                ),
                timeout=10,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE):
                return None
            raise
        lease = response.lease
        return Lease(lease.lease_id, lease.executor_id, lease.address)

    async def release(self, lease_id: str) -> None:
        try:
            await self._stub.ReleaseExecutor(
                executor_manager_pb2.ReleaseExecutorRequest(lease_id=lease_id), timeout=10
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                log.warning("releasing lease failed", extra={"lease_id": lease_id, "error": exc.details()})

    async def watch_leases(self) -> AsyncIterator[executor_manager_pb2.WatchLeasesResponse]:
        call = self._stub.WatchLeases(executor_manager_pb2.WatchLeasesRequest())
        async for change in call:
            yield change
