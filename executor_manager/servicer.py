"""ExecutorManagerService: thin gRPC layer over the fleet (validate, call, convert)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from opentelemetry import trace

from ccplane.v1 import executor_manager_pb2 as pb
from ccplane.v1 import executor_manager_pb2_grpc
from common import ids, tracing
from common.paging import page_size
from executor_manager import validation
from executor_manager.convert import duration, executor_to_proto, lease_event_to_proto, lease_to_proto
from executor_manager.feed import LeaseFeed
from executor_manager.fleet import ExecutorFleet


class ExecutorManagerServicer(executor_manager_pb2_grpc.ExecutorManagerServiceServicer):
    def __init__(self, fleet: ExecutorFleet, feed: LeaseFeed) -> None:
        self._fleet = fleet
        self._feed = feed

    async def AcquireExecutor(
        self, request: pb.AcquireExecutorRequest, context: grpc.aio.ServicerContext
    ) -> pb.AcquireExecutorResponse:
        # This call is part of the run's trace (the scheduling span's child).
        trace.get_current_span().set_attributes(tracing.run_attributes(request.run_id, request.tenant_id))
        lease = await self._fleet.acquire(validation.lease_request(request))
        return pb.AcquireExecutorResponse(lease=lease_to_proto(lease))

    async def ReleaseExecutor(
        self, request: pb.ReleaseExecutorRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReleaseExecutorResponse:
        await self._fleet.release(validation.require_id(ids.LEASE, "lease_id", request.lease_id))
        return pb.ReleaseExecutorResponse()

    async def RegisterExecutor(
        self, request: pb.RegisterExecutorRequest, context: grpc.aio.ServicerContext
    ) -> pb.RegisterExecutorResponse:
        record = await self._fleet.register(validation.announcement(request))
        return pb.RegisterExecutorResponse(
            executor=executor_to_proto(record), heartbeat_interval=duration(self._fleet.heartbeat_interval)
        )

    async def Heartbeat(
        self, request: pb.HeartbeatRequest, context: grpc.aio.ServicerContext
    ) -> pb.HeartbeatResponse:
        reply = await self._fleet.heartbeat(validation.heartbeat_report(request))
        return pb.HeartbeatResponse(known=reply.known, drain=reply.drain)

    async def ListExecutors(
        self, request: pb.ListExecutorsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListExecutorsResponse:
        size = page_size(request.page_size)
        records, token = await self._fleet.list_executors(page_size=size, page_token=request.page_token)
        return pb.ListExecutorsResponse(
            executors=[executor_to_proto(r) for r in records], next_page_token=token
        )

    async def DrainExecutor(
        self, request: pb.DrainExecutorRequest, context: grpc.aio.ServicerContext
    ) -> pb.DrainExecutorResponse:
        record = await self._fleet.drain(
            validation.require_id(ids.EXECUTOR, "executor_id", request.executor_id)
        )
        return pb.DrainExecutorResponse(executor=executor_to_proto(record))

    async def WatchLeases(
        self, request: pb.WatchLeasesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchLeasesResponse]:
        async with self._feed.subscribe() as events:
            async for event in events:
                yield lease_event_to_proto(event)
