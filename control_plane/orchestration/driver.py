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
from sqlalchemy import select, update

from ccplane.v1 import executor_pb2, executor_pb2_grpc
from common import tracing
from common.db import models
from common.db.errors import is_unavailable
from common.logging import log_context
from control_plane.human_loop import store as human_loop
from control_plane.orchestration import commands
from control_plane.orchestration.ingest import BatchOutcome, LiveRun, ingest, recover_or_start
from control_plane.reconcile import settle
from control_plane.runs.state_machine import TERMINAL, RunStatus, transition

if TYPE_CHECKING:
    from control_plane.orchestration.orchestrator import Orchestrator

log = logging.getLogger(__name__)

MAX_BATCH = 500
# An executor the manager still hears from but this process cannot reach
# for this long makes the run lost (the reconciler fails it after the grace
# period unless it comes back). Re-attaching goes on meanwhile, backing off.
REATTACH_DEADLINE_S = 60.0
RETRY_INITIAL_S = 0.2
RETRY_MAX_S = 2.0
# How long a session whose run ended elsewhere may take to close.
DRAIN_S = 5.0
# An executor answers an attach with headers at once; one that does not
# within this long is hung or cut off (the attempt is retried).
ATTACH_ANSWER_S = 3.0

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
        # The run ended without this driver (reconciled, stopped while lost).
        self._over = False
        self._call: (
            grpc.aio.StreamStreamCall[executor_pb2.SessionRequest, executor_pb2.SessionResponse] | None
        ) = None
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
            tracing.remote_context(self.live.trace_id, self.live.trace_span_id),
        ):
            try:
                await self._drive()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if is_unavailable(exc):
                    # The session goes on and the executor keeps what it
                    # produces; once the database is back this process
                    # adopts the run again and stores it from where it left.
                    log.warning("database unavailable; the run is re-attached when it is back")
                    return
                log.exception("run driver failed")
                await self._settle_lost(f"control plane error: {exc}", "DRIVER_FAILED")

    async def _drive(self) -> None:
        channel = self._orch.manager.executor_channel(self.address)
        stub = executor_pb2_grpc.ExecutorServiceStub(channel)
        unreachable_since: float | None = None
        attach = self._attach
        backoff = RETRY_INITIAL_S
        try:
            while not self._over:
                first = await self._first_message(attach)
                try:
                    ended = await self._stream_once(stub, first)
                except (grpc.aio.AioRpcError, _NoAnswer) as exc:
                    code = exc.code()
                    if self._over:
                        return
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
                        await self._executor_lost(
                            f"executor {self.address} no longer has this run's session (it restarted)"
                        )
                        return
                    if attach and code == grpc.StatusCode.OUT_OF_RANGE:
                        # Away longer than the executor keeps outputs: what
                        # it dropped cannot be stored, so the run fails
                        # saying so (nothing is dropped silently).
                        await self._executor_lost(
                            "the control plane was away longer than the executor keeps outputs: "
                            + (exc.details() or "replay window exceeded"),
                            reason="REPLAY_WINDOW_EXCEEDED",
                        )
                        await self._close_abandoned(stub)
                        return
                    now = time.monotonic()
                    unreachable_since = unreachable_since or now
                    if now - unreachable_since > REATTACH_DEADLINE_S and self.live.status != RunStatus.LOST:
                        # Reachable by the manager but not by us: lost, and
                        # settled by the reconciler unless it comes back.
                        await self.lost(f"executor {self.address} unreachable", "EXECUTOR_UNREACHABLE")
                    log.warning("session stream dropped; re-attaching", extra={"code": code.name})
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, RETRY_MAX_S)
                    if await self._ended_elsewhere():
                        return
                    moved = await self._executor_address()
                    if moved and moved != self.address:
                        # Restarted elsewhere (a new port): ask it there; it
                        # says NOT_FOUND if the session died with the old one.
                        log.info("executor moved", extra={"address": moved, "previous": self.address})
                        async with self._orch.db.session() as session, session.begin():
                            await session.execute(
                                update(models.AgentRun)
                                .where(models.AgentRun.id == self.run_id)
                                .values(executor_address=moved)
                            )
                        await channel.close()
                        self.address = moved
                        channel = self._orch.manager.executor_channel(moved)
                        stub = executor_pb2_grpc.ExecutorServiceStub(channel)
                    attach = True
                    continue
                if ended is not None:
                    await self._finish(ended)
                    return
                unreachable_since = None
                backoff = RETRY_INITIAL_S
                attach = True  # the stream ended without `ended`: take it over again
        finally:
            await channel.close()

    async def _executor_address(self) -> str:
        """Where the run's executor is registered now ("" when unknown)."""
        async with self._orch.db.session() as session:
            address = await session.scalar(
                select(models.Executor.address)
                .join(models.AgentRun, models.AgentRun.executor_id == models.Executor.id)
                .where(models.AgentRun.id == self.run_id, models.Executor.state == "ready")
            )
        return address or ""

    async def _ended_elsewhere(self) -> bool:
        """True (and the driver is done) when the run ended without it:
        reconciled while its executor was away, or stopped while lost."""
        async with self._orch.db.session() as session:
            status = await session.scalar(
                select(models.AgentRun.status).where(models.AgentRun.id == self.run_id)
            )
        if status is None or RunStatus(status) in TERMINAL:
            self._over = True
        return self._over

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
        outputs: asyncio.Queue[executor_pb2.SessionOutput | _Over | None] = asyncio.Queue()

        async def request_stream() -> AsyncIterator[executor_pb2.SessionRequest]:
            while (item := await requests.get()) is not None:
                yield item

        call = stub.Session(request_stream())
        if first.HasField("attach") and not await self._attached(call):
            self._end_session(requests, outputs)
        self._call = call
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
            self._deliver_commands(requests, outputs), name=f"session-commands-{self.run_id}"
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
            self._call = None

    async def _attached(
        self, call: grpc.aio.StreamStreamCall[executor_pb2.SessionRequest, executor_pb2.SessionResponse]
    ) -> bool:
        """Wait for the executor to take the re-attach; a lost run whose
        executor answers is healed here, before any new output. False when
        the run ended meanwhile (its session is to be closed)."""
        try:
            await asyncio.wait_for(call.initial_metadata(), ATTACH_ANSWER_S)
        except TimeoutError:
            call.cancel()
            raise _NoAnswer(f"executor {self.address} did not answer within {ATTACH_ANSWER_S:g} s") from None
        if call.done() or self.live.status != RunStatus.LOST:
            # Refused or unreachable (the reader reports how), or not lost.
            return True
        async with self._orch.db.session() as session, session.begin():
            await recover_or_start(session, self.live)
        if self.live.status in TERMINAL:
            return False
        log.info("executor is back; the run heals", extra={"status": self.live.status.value})
        return True

    def _end_session(
        self,
        requests: asyncio.Queue[executor_pb2.SessionRequest | None],
        outputs: asyncio.Queue[executor_pb2.SessionOutput | _Over | None],
    ) -> None:
        """The run ended without this driver (reconciled while its executor
        was away, stopped while lost): ask the executor to end the session,
        and stop storing what it still sends (:meth:`_write` drains it)."""
        if self._over:
            return
        self._over = True
        log.info("the run already ended; closing its session")
        reason = "the run already ended"
        requests.put_nowait(executor_pb2.SessionRequest(interrupt=executor_pb2.InterruptTurn(reason=reason)))
        requests.put_nowait(executor_pb2.SessionRequest(close=executor_pb2.CloseSession(reason=reason)))
        outputs.put_nowait(_OVER)

    async def _write(
        self,
        outputs: asyncio.Queue[executor_pb2.SessionOutput | _Over | None],
        requests: asyncio.Queue[executor_pb2.SessionRequest | None],
    ) -> executor_pb2.SessionEnded | None:
        """Store outputs in batches until the stream ends; the session's end, if it came.

        Once the run is over without this driver, outputs are drained
        unstored until the executor ends the stream (or ``DRAIN_S`` passes)."""
        ended: executor_pb2.SessionEnded | None = None
        while True:
            if self._over:
                try:
                    batch = [await asyncio.wait_for(outputs.get(), DRAIN_S)]
                except TimeoutError:
                    return None
            else:
                batch = [await outputs.get()]
            while not outputs.empty() and len(batch) < MAX_BATCH:
                batch.append(outputs.get_nowait())
            items = [o for o in batch if isinstance(o, executor_pb2.SessionOutput)]
            if items and not self._over:
                outcome = await self._store(items)
                if outcome.over:
                    self._end_session(requests, outputs)
                    continue
                if outcome.ended is not None:
                    ended = outcome.ended
                elif outcome.turns_completed:
                    await self._close_if_idle(requests)
            if None in batch:
                return ended

    async def _store(self, items: list[executor_pb2.SessionOutput]) -> BatchOutcome:
        """Store one batch in one transaction, counted and timed."""
        metrics = self._orch.metrics
        begun = time.perf_counter()
        try:
            async with self._orch.db.session() as session, session.begin():
                outcome = await ingest(session, self.live, items, self._orch.objects)
        except Exception:
            if metrics is not None:
                metrics.ingest_errors.inc()
            raise
        if metrics is not None:
            metrics.ingest_duration.observe(time.perf_counter() - begun)
            metrics.ingest_batch_size.observe(len(items))
            metrics.events_ingested.inc(sum(1 for o in items if o.HasField("event")))
        return outcome

    async def _close_if_idle(self, requests: asyncio.Queue[executor_pb2.SessionRequest | None]) -> None:
        """After a turn: close the session unless a message waits to continue it."""
        async with self._orch.db.session() as session:
            waiting = [c for c in await commands.pending(session, self.run_id) if c.kind == "inject"]
        if not waiting:
            requests.put_nowait(
                executor_pb2.SessionRequest(close=executor_pb2.CloseSession(reason="turn completed"))
            )

    async def _deliver_commands(
        self,
        requests: asyncio.Queue[executor_pb2.SessionRequest | None],
        outputs: asyncio.Queue[executor_pb2.SessionOutput | _Over | None],
    ) -> None:
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
                status = await session.scalar(
                    select(models.AgentRun.status).where(models.AgentRun.id == self.run_id)
                )
                answers = await human_loop.pending_deliveries(session, self.run_id)
                pending = await commands.pending(session, self.run_id)
            if status is None or (RunStatus(status) in TERMINAL and self.live.status not in TERMINAL):
                self._end_session(requests, outputs)
                return
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
            result = await settle.fail_run(
                session, self.run_id, message=message, reason=reason, why="session could not start"
            )
            self.live.status = result.status
        await self._orch.release(self.lease_id)

    async def _close_abandoned(self, stub: executor_pb2_grpc.ExecutorServiceStub) -> None:
        """Ask the executor to end a session this driver cannot follow any
        more (attaching past every output: nothing is replayed)."""
        reason = "the run already ended"

        async def requests() -> AsyncIterator[executor_pb2.SessionRequest]:
            attach = executor_pb2.AttachSession(run_id=self.run_id, after_executor_seq=_PAST_EVERY_OUTPUT)
            yield executor_pb2.SessionRequest(attach=attach)
            yield executor_pb2.SessionRequest(interrupt=executor_pb2.InterruptTurn(reason=reason))
            yield executor_pb2.SessionRequest(close=executor_pb2.CloseSession(reason=reason))
            await asyncio.sleep(DRAIN_S)  # the stream stays open while the session closes

        call = stub.Session(requests())
        with contextlib.suppress(grpc.aio.AioRpcError, TimeoutError):
            async with asyncio.timeout(DRAIN_S):
                async for _ in call:
                    pass
        call.cancel()

    async def _executor_lost(self, message: str, *, reason: str = settle.EXECUTOR_LOST) -> None:
        """The session is gone for good with its executor: the run fails now
        (no grace to wait out) and an alert says so. A follow-up message
        continues its thread elsewhere, from the last saved turn."""
        async with self._orch.db.session() as session, session.begin():
            result = await settle.fail_run(
                session,
                self.run_id,
                message=message,
                reason=reason,
                why="executor lost",
                alert=reason.lower(),
                severity="critical",  # the session's work is lost
                details={"address": self.address},
            )
            self.live.status = result.status
        await self._orch.release(self.lease_id)

    async def _settle_lost(self, message: str, reason: str) -> None:
        async with self._orch.db.session() as session, session.begin():
            result = await transition(
                session, self.run_id, RunStatus.LOST, "session lost", error=message, error_reason=reason
            )
            self.live.status = result.status
        await self._orch.release(self.lease_id)

    async def lost(self, message: str, reason: str) -> None:
        """The executor stopped heartbeating (its lease expired) or cannot be
        reached: the run is ``lost``.

        The driver keeps its stream, or keeps re-attaching: an executor that
        was only slow or cut off comes back within the grace period, its
        outputs flow again and the run returns to running on its own.
        Otherwise the reconciler fails the run (``EXECUTOR_LOST``) and this
        driver hears of it and stops."""
        async with self._orch.db.session() as session, session.begin():
            result = await transition(
                session, self.run_id, RunStatus.LOST, message, error=message, error_reason=reason
            )
            self.live.status = result.status
        if result.accepted and self._call is not None:
            # Probe the executor with a fresh attach: whether it answers is
            # how a silent one is told from a dead one.
            self._call.cancel()


# An executor seq no session reaches: an attach from there replays nothing.
_PAST_EVERY_OUTPUT = 2**62


class _Over:
    """Wakes :meth:`RunDriver._write`: the run ended without the driver."""


_OVER = _Over()


class _NoAnswer(Exception):
    """An attach the executor did not answer (hung, or unreachable)."""

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE

    def details(self) -> str:
        return str(self)


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
