"""ExecutorService: the gRPC face of the session host."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import grpc

from ccplane.v1 import executor_pb2, executor_pb2_grpc
from common.errors import failed_precondition, invalid_argument
from executor.hosted_session import HostedSession
from executor.sessions import SessionHost

log = logging.getLogger(__name__)


class ExecutorServicer(executor_pb2_grpc.ExecutorServiceServicer):
    def __init__(self, host: SessionHost) -> None:
        self._host = host

    async def Session(
        self, request_iterator: AsyncIterator[executor_pb2.SessionRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[executor_pb2.SessionResponse]:
        first = await anext(aiter(request_iterator), None)
        if first is None:
            return
        kind = first.WhichOneof("action")
        if kind == "start":
            session = await self._host.start(first.start)
            after = 0
        elif kind == "attach":
            if not first.attach.run_id:
                raise invalid_argument("attach.run_id", "is required")
            session = self._host.get(first.attach.run_id)
            after = first.attach.after_executor_seq
            session.outputs.check_replayable(after)
        else:
            raise failed_precondition("SESSION_NOT_STARTED", "the first message must be start or attach")

        session.attach()
        # Headers now, before any output: the caller knows at once that the
        # session is here and answering (a re-attach after a silence heals
        # its run even when nothing new has happened).
        await context.send_initial_metadata(())
        actions = asyncio.create_task(self._read_actions(session, request_iterator), name="session-actions")
        try:
            async for output in session.outputs.follow(after):
                yield executor_pb2.SessionResponse(output=output)
        finally:
            actions.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await actions
            session.detach()

    async def _read_actions(
        self, session: HostedSession, request_iterator: AsyncIterator[executor_pb2.SessionRequest]
    ) -> None:
        try:
            async for request in request_iterator:
                await session.act(request)
        except (grpc.aio.AioRpcError, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("reading session actions failed", extra={"run_id": session.run_id})

    async def Attach(
        self, request: executor_pb2.AttachRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[executor_pb2.AttachResponse]:
        if not request.run_id:
            raise invalid_argument("run_id", "is required")
        session = self._host.get(request.run_id)
        async for output in session.outputs.follow(request.after_executor_seq):
            yield executor_pb2.AttachResponse(output=output)

    async def GetStatus(
        self, request: executor_pb2.GetStatusRequest, context: grpc.aio.ServicerContext
    ) -> executor_pb2.GetStatusResponse:
        return executor_pb2.GetStatusResponse(
            executor_id=self._host.config.executor_id,
            slots_total=self._host.config.slots,
            slots_used=self._host.slots_used,
            draining=self._host.draining,
            sessions=[s.status() for s in self._host.sessions()],
            providers=self._host.registry.names(),
        )

    async def Drain(
        self, request: executor_pb2.DrainRequest, context: grpc.aio.ServicerContext
    ) -> executor_pb2.DrainResponse:
        return executor_pb2.DrainResponse(active_sessions=self._host.drain())
