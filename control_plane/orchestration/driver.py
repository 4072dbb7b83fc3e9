"""Driving one live run: its session stream to an executor, end to end.

The driver opens ``ExecutorService.Session`` (``start``, or ``attach`` after
the stream dropped or this process took the run over), writes every output
to the database in batches (:mod:`.ingest`), delivers stored commands down
the stream, closes the session when a turn completes and nothing else is
waiting, and settles the run's final status when the session ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

import grpc

from ccplane.v1 import executor_pb2, executor_pb2_grpc
from common import tracing
from common.logging import log_context
from control_plane.human_loop import store as human_loop
from control_plane.orchestration import commands
from control_plane.orchestration.ingest import LiveRun, ingest
from control_plane.runs.state_machine import RunStatus, transition

if TYPE_CHECKING:
    from control_plane.orchestration.orchestrator import Orchestrator

log = logging.getLogger(__name__)

MAX_BATCH = 500
# Give up re-attaching to an unreachable executor after this long; the run
# is then lost until reconciliation settles it.
REATTACH_DEADLINE_S = 60.0

_OUTCOME_STATUS = {
    executor_pb2.SESSION_OUTCOME_COMPLETED: RunStatus.SUCCEEDED,
    executor_pb2.SESSION_OUTCOME_FAILED: RunStatus.FAILED,
    executor_pb2.SESSION_OUTCOME_CANCELED: RunStatus.CANCELED,
}
_RETRY_ELSEWHERE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
}
# Wait this long before a run whose executor could not start it is queued
# again, so a vanished executor is not retried in a tight loop.
REQUEUE_DELAY_S = 1.0
_PERMANENT_START_ERRORS = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.UNIMPLEMENTED,
}


class RunDriver:
    def __init__(
        self,
        orchestrator: Orchestrator,
        live: LiveRun,
        *,
        address: str,
        lease_id: str,
        build_start: Callable[[], Awaitable[executor_pb2.StartSession]],
        attach: bool,
    ) -> None:
        self._orch = orchestrator
        self.live = live
        self.address = address
        self.lease_id = lease_id
        self._build_start = build_start
        self._attach = attach
        self._wake = asyncio.Event()
        self._stop_requested = False
        self.task: asyncio.Task[None] | None = None

    @property
    def run_id(self) -> str:
        return self.live.run_id

    def wake(self) -> None:
        """New commands may be waiting for this run."""
        self._wake.set()

    # -- the run ------------------------------------------------------------

    async def run(self) -> None:
        with (
            log_context(run_id=self.run_id, trace_id=self.live.trace_id),
            tracing.remote_context(self.live.trace_id),
        ):
            try:
                await self._drive()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("run driver failed")
                await self._settle_lost(f"control plane error: {exc}", "DRIVER_FAILED")

    async def _drive(self) -> None:
        channel = self._orch.manager.executor_channel(self.address)
        stub = executor_pb2_grpc.ExecutorServiceStub(channel)
        unreachable_since: float | None = None
        attach = self._attach
        try:
            while True:
                first = await self._first_message(attach)
                try:
                    ended = await self._stream_once(stub, first)
                except grpc.aio.AioRpcError as exc:
                    code = exc.code()
                    if not attach and code in _PERMANENT_START_ERRORS:
                        await self._settle_failed(exc.details() or code.name, _reason(exc))
                        return
                    if not attach and self.live.executor_seq == 0 and code in _RETRY_ELSEWHERE:
                        # The executor is gone or full before the session
                        # began: give the slot back and queue the run again.
                        await self._requeue(
                            f"executor {self.address} could not start the session: {code.name}"
                        )
                        return
                    if attach and code == grpc.StatusCode.NOT_FOUND:
                        if self.live.status == RunStatus.STARTING:
                            attach = False  # the session never started: start it now
                            continue
                        await self._settle_lost(
                            "the executor no longer has this run's session", "SESSION_LOST"
                        )
                        return
                    if attach and code == grpc.StatusCode.OUT_OF_RANGE:
                        await self._settle_lost(
                            exc.details() or "replay window exceeded", "REPLAY_WINDOW_EXCEEDED"
                        )
                        return
                    now = time.monotonic()
                    unreachable_since = unreachable_since or now
                    if now - unreachable_since > REATTACH_DEADLINE_S:
                        await self._settle_lost(
                            f"executor {self.address} unreachable", "EXECUTOR_UNREACHABLE"
                        )
                        return
                    log.warning("session stream dropped; re-attaching", extra={"code": code.name})
                    await asyncio.sleep(0.2)
                    attach = True
                    continue
                if ended is not None:
                    await self._finish(ended)
                    return
                unreachable_since = None
                attach = True  # the stream ended without `ended`: take it over again
        finally:
            await channel.close()

    async def _first_message(self, attach: bool) -> executor_pb2.SessionRequest:
        if attach:
            return executor_pb2.SessionRequest(
                attach=executor_pb2.AttachSession(
                    run_id=self.run_id, after_executor_seq=self.live.executor_seq
                )
            )
        return executor_pb2.SessionRequest(start=await self._build_start())

    async def _stream_once(
        self, stub: executor_pb2_grpc.ExecutorServiceStub, first: executor_pb2.SessionRequest
    ) -> executor_pb2.SessionEnded | None:
        requests: asyncio.Queue[executor_pb2.SessionRequest | None] = asyncio.Queue()
        requests.put_nowait(first)
        outputs: asyncio.Queue[executor_pb2.SessionOutput | None] = asyncio.Queue()

        async def request_stream() -> AsyncIterator[executor_pb2.SessionRequest]:
            while (item := await requests.get()) is not None:
                yield item

        call = stub.Session(request_stream())
        failure: list[BaseException] = []

        async def read() -> None:
            try:
                async for response in call:
                    outputs.put_nowait(response.output)
            except Exception as exc:
                failure.append(exc)
            finally:
                outputs.put_nowait(None)  # the stream ended (or broke)

        reader = asyncio.create_task(read(), name=f"session-read-{self.run_id}")
        deliverer = asyncio.create_task(
            self._deliver_commands(requests), name=f"session-commands-{self.run_id}"
        )
        self.wake()
        try:
            ended = await self._write(outputs, requests)
            if failure:
                raise failure[0]
            return ended
        finally:
            requests.put_nowait(None)
            for task in (deliverer, reader):
                task.cancel()
            for task in (deliverer, reader):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            call.cancel()

    async def _write(
        self,
        outputs: asyncio.Queue[executor_pb2.SessionOutput | None],
        requests: asyncio.Queue[executor_pb2.SessionRequest | None],
    ) -> executor_pb2.SessionEnded | None:
        """Store outputs in batches until the stream ends; the session's end, if it came."""
        ended: executor_pb2.SessionEnded | None = None
        while True:
            batch = [await outputs.get()]
            while not outputs.empty() and len(batch) < MAX_BATCH:
                batch.append(outputs.get_nowait())
            items = [o for o in batch if o is not None]
            if items:
                async with self._orch.db.session() as session, session.begin():
                    outcome = await ingest(session, self.live, items, self._orch.objects)
                if outcome.ended is not None:
                    ended = outcome.ended
                elif outcome.turns_completed:
                    await self._close_if_idle(requests)
            if None in batch:
                return ended

    async def _close_if_idle(self, requests: asyncio.Queue[executor_pb2.SessionRequest | None]) -> None:
        """After a turn: close the session unless a message waits to continue it."""
        async with self._orch.db.session() as session:
            waiting = [c for c in await commands.pending(session, self.run_id) if c.kind == "inject"]
        if not waiting:
            requests.put_nowait(
                executor_pb2.SessionRequest(close=executor_pb2.CloseSession(reason="turn completed"))
            )

    async def _deliver_commands(self, requests: asyncio.Queue[executor_pb2.SessionRequest | None]) -> None:
        """Send stored answers and commands down this stream, each once.

        After a re-attach the stream is new and everything still undelivered
        is sent again; the executor answers each question and each command's
        request id once, so nothing happens twice."""
        sent: set[int] = set()
        answered: set[str] = set()
        while True:
            await self._wake.wait()
            self._wake.clear()
            async with self._orch.db.session() as session:
                answers = await human_loop.pending_deliveries(session, self.run_id)
                pending = await commands.pending(session, self.run_id)
            for delivery in answers:
                if delivery.question_id not in answered:
                    answered.add(delivery.question_id)
                    reply = executor_pb2.DeliverReply(
                        question_id=delivery.question_id, answer=delivery.answer
                    )
                    requests.put_nowait(executor_pb2.SessionRequest(reply=reply))
            for command in pending:
                if command.id in sent:
                    continue
                sent.add(command.id)
                for request in self._requests_for(command):
                    requests.put_nowait(request)

    def _requests_for(self, command: commands.Command) -> list[executor_pb2.SessionRequest]:
        if command.kind == "inject":
            return [
                executor_pb2.SessionRequest(
                    inject=executor_pb2.InjectInput(text=command.body, request_id=command.ref)
                )
            ]
        if command.kind == "interrupt":
            return [executor_pb2.SessionRequest(interrupt=executor_pb2.InterruptTurn(reason=command.body))]
        self._stop_requested = True
        return [
            executor_pb2.SessionRequest(
                interrupt=executor_pb2.InterruptTurn(reason=command.body or "stopped")
            ),
            executor_pb2.SessionRequest(close=executor_pb2.CloseSession(reason=command.body or "stopped")),
        ]

    # -- the end ------------------------------------------------------------

    async def _finish(self, ended: executor_pb2.SessionEnded) -> None:
        async with self._orch.db.session() as session, session.begin():
            stop = self._stop_requested or any(
                c.kind == "stop" for c in await commands.pending(session, self.run_id)
            )
            status = RunStatus.CANCELED if stop else _OUTCOME_STATUS.get(ended.outcome, RunStatus.FAILED)
            failed = status == RunStatus.FAILED
            await human_loop.cancel_pending(session, self.run_id, "the session ended")
            result = await transition(
                session,
                self.run_id,
                status,
                "stopped by request" if stop else f"session ended ({status})",
                error=(ended.error or "the session failed") if failed else None,
                error_reason=(ended.error_reason or "SESSION_FAILED") if failed else None,
            )
            self.live.status = result.status
            waiting = [c for c in await commands.pending(session, self.run_id) if c.kind == "inject"]
            if status == RunStatus.SUCCEEDED and waiting and self._orch.follow_ups_allowed(self.live):
                await transition(session, self.run_id, RunStatus.QUEUED, "follow-up message")
                await commands.notify_queued(session)
            else:
                await commands.mark_all_delivered(session, self.run_id, f"the run ended ({self.live.status})")
        await self._orch.release(self.lease_id)

    async def _requeue(self, reason: str) -> None:
        log.warning("session could not start; queueing the run again", extra={"reason": reason})
        await self._orch.release(self.lease_id)
        await asyncio.sleep(REQUEUE_DELAY_S)
        async with self._orch.db.session() as session, session.begin():
            result = await transition(session, self.run_id, RunStatus.QUEUED, reason)
            self.live.status = result.status
            await commands.notify_queued(session)

    async def _settle_failed(self, message: str, reason: str) -> None:
        async with self._orch.db.session() as session, session.begin():
            await human_loop.cancel_pending(session, self.run_id, "the session failed")
            result = await transition(
                session,
                self.run_id,
                RunStatus.FAILED,
                "session could not start",
                error=message,
                error_reason=reason,
            )
            self.live.status = result.status
            await commands.mark_all_delivered(session, self.run_id, "the run failed")
        await self._orch.release(self.lease_id)

    async def _settle_lost(self, message: str, reason: str) -> None:
        async with self._orch.db.session() as session, session.begin():
            result = await transition(
                session, self.run_id, RunStatus.LOST, "session lost", error=message, error_reason=reason
            )
            self.live.status = result.status
        await self._orch.release(self.lease_id)

    async def lost(self, message: str, reason: str) -> None:
        """The executor stopped heartbeating: the run is ``lost``.

        The driver keeps its stream (or keeps trying to re-attach until
        REATTACH_DEADLINE_S): an executor that was only slow comes back, its
        outputs flow again and the run returns to running on its own."""
        async with self._orch.db.session() as session, session.begin():
            result = await transition(
                session,
                self.run_id,
                RunStatus.LOST,
                "executor lease expired",
                error=message,
                error_reason=reason,
            )
            self.live.status = result.status


def _reason(exc: grpc.aio.AioRpcError) -> str:
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    status = rpc_status.from_call(exc)
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                return str(info.reason)
    return str(exc.code().name)
