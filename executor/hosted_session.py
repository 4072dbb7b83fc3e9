"""One session an executor hosts: its pump, its outputs, its attachments, its faults.

A :class:`HostedSession` wraps one provider session. Its pump task copies
provider events into the session's :class:`OutputLog` and, when the provider
ends, appends ``ended``. The session outlives the gRPC stream that started
it: when the caller's stream drops, the session keeps running and buffering
so a caller can take it over again (``attach``). A session nobody attaches
to for ``detached_timeout`` seconds is closed, so a vanished control plane
cannot leak agent processes. A session whose workspace cannot be saved ends
failed with ``WORKSPACE_SYNC_FAILED``; one whose disk fills up with
``WORKSPACE_DISK_FULL`` (see :mod:`executor.diskspace`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from pathlib import Path

from opentelemetry.trace import StatusCode

from ccplane.v1 import events_pb2, executor_pb2, runs_pb2
from common.errors import (
    ServiceError,
    failed_precondition,
)
from common.objectstore import reporting_retries
from common.objectstore.base import ObjectStoreError
from executor.confinement import SessionBox
from executor.convert import outcome_to_proto, service_error
from executor.diskspace import (
    WORKSPACE_DISK_FULL,
    disk_full_error,
    full_filesystem,
    reports_disk_full,
    where_space_ran_out,
)
from executor.host_config import HostConfig
from executor.metrics import ExecutorMetrics
from executor.outputs import OutputLog
from executor.providers.base import Delivery, Outcome, ProviderSession
from executor.providers.errors import ProviderError
from executor.spans import SessionSpans
from executor.workspace.session import (
    WORKSPACE_SYNC_FAILED,
    StoreRetryReport,
    WorkspaceSession,
)

log = logging.getLogger(__name__)

_DELIVERY = {
    Delivery.STEER: runs_pb2.MESSAGE_DELIVERY_STEER,
    Delivery.FOLLOW_UP: runs_pb2.MESSAGE_DELIVERY_FOLLOW_UP,
}


class HostedSession:
    def __init__(
        self,
        run_id: str,
        provider: ProviderSession,
        config: HostConfig,
        trace_id: str = "",
        workspace: WorkspaceSession | None = None,
        *,
        box: SessionBox | None = None,
        directories: Sequence[Path] = (),
        metrics: ExecutorMetrics | None = None,
        kind: str = "",
        spans: SessionSpans | None = None,
    ) -> None:
        self.run_id = run_id
        # The session's spans: ended with it.
        self.spans = spans if spans is not None else SessionSpans(run_id, "")
        # The provider kind (metrics label) and where the session's figures go.
        self.kind = kind
        self._metrics = metrics or ExecutorMetrics()
        # Set when the executor ends the session (shutdown): a failure then is not the provider's.
        self._closed_by_host = False
        # The session's confinement (None: unconfined); closed once it ended.
        self.box = box
        # Where the session writes (its box, or its workspace): the disk a
        # reported ENOSPC is checked on.
        self.directories = tuple(directories)
        # Why the session ends failed with WORKSPACE_DISK_FULL, once its disk filled up.
        self.disk_full: str | None = None
        # Why the session ends failed with WORKSPACE_SYNC_FAILED, once its
        # changes could not be saved (nothing is synced after that).
        self.sync_failed: str | None = None
        # What a sync that failed for lack of space did not save (reported once).
        self._unsaved = ""
        # The workspace restored from the object store, synced after each turn.
        self.workspace = workspace
        # The trace of the call that started the session; stamped on its events.
        self.trace_id = trace_id
        self.provider = provider
        self.outputs = OutputLog(config.replay_capacity)
        self.started_at = time.time()
        self._config = config
        self._pump: asyncio.Task[None] | None = None
        self._attached = 0
        self._detached_since: float | None = time.monotonic()
        self._reaper: asyncio.Task[None] | None = None
        self._actions = asyncio.Lock()
        self.ended_at: float | None = None

    @property
    def attached(self) -> bool:
        return self._attached > 0

    def begin(self) -> None:
        for event in self.workspace.startup_events if self.workspace is not None else []:
            self._emit(event)
        self._pump = asyncio.create_task(self._copy_events(), name=f"session-pump-{self.run_id}")

    async def _copy_events(self) -> None:
        try:
            async for event in self.provider.events():
                self._emit(event)
                if event.type == "turn.completed":
                    await self._sync(event.turn_id)
                    if self.disk_full is not None:
                        await self.provider.close(self.disk_full)
                elif self.disk_full is None and reports_disk_full(event):
                    await self._check_disk(event)
        except Exception:
            log.exception("provider event stream failed", extra={"run_id": self.run_id})
        finally:
            await self._sync("")
            if self._reaper is not None:
                self._reaper.cancel()
            if self.box is not None:
                await asyncio.to_thread(self.box.close)
            ended = self._ended()
            failed = ended.outcome == executor_pb2.SESSION_OUTCOME_FAILED
            self.spans.end(failed=failed, reason=ended.error_reason or ended.error)
            self.outputs.end(ended)
            self.ended_at = time.monotonic()
            outcome = self.provider.outcome
            if outcome is not None and outcome.outcome == Outcome.FAILED and not self._closed_by_host:
                self._metrics.provider_failed(self.kind)

    def _ended(self) -> executor_pb2.SessionEnded:
        ended = outcome_to_proto(self.provider.outcome)
        if self.disk_full is None and self.sync_failed is not None:
            if ended.outcome == executor_pb2.SESSION_OUTCOME_FAILED:
                return ended  # failed before, for its own reason
            return executor_pb2.SessionEnded(
                outcome=executor_pb2.SESSION_OUTCOME_FAILED,
                error=self.sync_failed,
                error_reason=WORKSPACE_SYNC_FAILED,
                thread_id=ended.thread_id,
            )
        if self.disk_full is None:
            return ended
        unsaved = f"; {self._unsaved}" if self._unsaved and self._unsaved not in self.disk_full else ""
        return executor_pb2.SessionEnded(
            outcome=executor_pb2.SESSION_OUTCOME_FAILED,
            error=self.disk_full + unsaved,
            error_reason=WORKSPACE_DISK_FULL,
            thread_id=ended.thread_id,
        )

    def _emit(self, event: events_pb2.RunEvent) -> None:
        if not event.trace_id:
            event.trace_id = self.trace_id
        self.spans.on_event(event)
        self.outputs.event(event)

    def _warn(self, turn_id: str, message: str, reason: str) -> None:
        warning = events_pb2.RunWarning(message=message, reason=reason)
        self._emit(events_pb2.RunEvent(run_id=self.run_id, type="warning", turn_id=turn_id, warning=warning))

    def _error(self, turn_id: str, message: str, reason: str) -> None:
        error = events_pb2.RunError(message=message, reason=reason)
        self._emit(events_pb2.RunEvent(run_id=self.run_id, type="error", turn_id=turn_id, error=error))

    async def _sync(self, turn_id: str) -> None:
        """Save the workspace's changes and the agent thread's state.

        While the object store's requests are retried, a ``warning`` says
        so; a store that stays unreachable past its retries (or refuses)
        fails the run (:meth:`_fail_sync`)."""
        if self.workspace is None or self.sync_failed is not None:
            return
        with self.spans.sync(turn_id) as span:
            await self._save(turn_id)
            if self.sync_failed is not None:
                span.set_status(StatusCode.ERROR, "the workspace could not be saved")

    async def _save(self, turn_id: str) -> None:
        assert self.workspace is not None
        report = StoreRetryReport(self.run_id, "saving the workspace", self._emit, turn_id)
        saved = False
        try:
            with reporting_retries(report):
                begun = time.perf_counter()
                synced, events = await self.workspace.sync(turn_id)
                self._metrics.workspace_synced(time.perf_counter() - begun, synced.uploaded_bytes)
                for event in events:
                    self._emit(event)
                saved = True
                if self.provider.thread_id:
                    await self.workspace.save_thread(self._config.thread_state_dir, self.provider.thread_id)
        except ObjectStoreError as exc:
            if not saved:
                await self._fail_sync(exc, turn_id)
                return
            log.warning("thread state not saved: %s", exc, extra={"run_id": self.run_id})
            self._warn(
                turn_id,
                f"the agent thread's state was not saved (the workspace was): {exc}; "
                "only this host can continue the thread",
                "THREAD_STATE_NOT_SAVED",
            )
        except Exception as exc:
            if disk_full_error(exc) is not None:
                # Nothing was staged (the manifest goes last): the workspace
                # stays at the version it had, and the run cannot go on.
                if not self._unsaved:
                    self._unsaved = (
                        f"the changes since version {self.workspace.manifest.version} are not saved"
                    )
                    where = await asyncio.to_thread(where_space_ran_out, exc, self._disk_paths())
                    self._disk_full_now(
                        f"the workspace could not be saved, the disk is full: {where}; {self._unsaved}",
                        turn_id,
                    )
                return
            log.exception("workspace sync failed", extra={"run_id": self.run_id})
            self._warn(turn_id, f"workspace sync failed: {exc}", WORKSPACE_SYNC_FAILED)

    async def _fail_sync(self, exc: ObjectStoreError, turn_id: str) -> None:
        """The workspace could not be saved: the run fails with
        WORKSPACE_SYNC_FAILED and its session closes. Nothing of this sync
        was recorded (its manifest goes last, after every blob), so the
        workspace stays at the version the run last saved."""
        assert self.workspace is not None
        version = self.workspace.manifest.version
        message = (
            f"the workspace could not be saved: {exc}; the run's changes since version {version} of "
            f"workspace {self.workspace.workspace_id} are not saved"
        )
        log.error("workspace sync failed: %s", message, extra={"run_id": self.run_id})
        self.sync_failed = message
        self._error(turn_id, message, WORKSPACE_SYNC_FAILED)
        with contextlib.suppress(Exception):
            await self.provider.close(message)

    # -- a full disk ----------------------------------------------------------

    async def _check_disk(self, event: events_pb2.RunEvent) -> None:
        """``event`` reports a write that failed for lack of space: when the
        session's disk is indeed full, the turn is interrupted and the
        session ends failed (after its turn's sync) with WORKSPACE_DISK_FULL.
        A full disk is not the agent's to fix: every later write fails,
        Codex's transcript among them, and other sessions on it starve
        until this one's directory is removed."""
        full = await asyncio.to_thread(full_filesystem, self.directories)
        if full is None:
            return  # a command's own business (its private /tmp, an old log it printed)
        self._disk_full_now(
            f"the session's disk is full: {full.describe()} ({_what_failed(event)})", event.turn_id
        )
        if self.provider.turn_active:
            try:
                await self.provider.interrupt()
            except ProviderError:
                pass  # the turn just ended, or the agent is gone: close now
            else:
                return  # closed once the turn has completed and been synced
        await self.provider.close(self.disk_full or "")

    def _disk_full_now(self, message: str, turn_id: str) -> None:
        log.warning("session disk full: %s", message, extra={"run_id": self.run_id})
        self.disk_full = self.disk_full or message  # the first says why
        self._error(turn_id, message, WORKSPACE_DISK_FULL)

    def _disk_paths(self) -> list[Path]:
        """Where the executor writes for this session: its copies first."""
        return [self._config.blob_cache_dir, self._config.thread_state_dir, *self.directories]

    # -- attachment ---------------------------------------------------------

    def attach(self) -> None:
        self._attached += 1
        self._detached_since = None
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None

    def detach(self) -> None:
        self._attached -= 1
        if self._attached == 0 and not self.outputs.ended:
            self._detached_since = time.monotonic()
            self._reaper = asyncio.create_task(
                self._close_when_abandoned(), name=f"session-reaper-{self.run_id}"
            )

    async def _close_when_abandoned(self) -> None:
        await asyncio.sleep(self._config.detached_timeout)
        log.warning("closing session nobody attached to", extra={"run_id": self.run_id})
        with contextlib.suppress(Exception):
            await self.provider.close("abandoned: no caller attached")

    # -- actions ------------------------------------------------------------

    async def act(self, request: executor_pb2.SessionRequest) -> None:
        """Perform one action; its outcome is appended to the outputs."""
        kind = request.WhichOneof("action")
        async with self._actions:
            result = executor_pb2.ActionResult(action=kind or "")
            try:
                if kind == "inject":
                    result.ref = request.inject.request_id
                    delivery = await self.provider.inject(request.inject.text)
                    result.delivery = _DELIVERY[delivery]
                elif kind == "reply":
                    result.ref = request.reply.question_id
                    await self.provider.reply(request.reply.question_id, request.reply.answer)
                elif kind == "interrupt":
                    await self.provider.interrupt()
                elif kind == "close":
                    await self.provider.close(request.close.reason)
                else:
                    raise failed_precondition(
                        "UNEXPECTED_ACTION", f"{kind!r} is only valid as the first message"
                    )
            except ProviderError as exc:
                _fill_error(result, service_error(exc))
            except ServiceError as exc:
                _fill_error(result, exc)
            if not self.outputs.ended:
                self.outputs.action_result(result)

    async def close(self, reason: str, *, error_reason: str = "") -> None:
        self._closed_by_host = self._closed_by_host or bool(error_reason)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                self.provider.close(reason, error_reason=error_reason), self._config.close_timeout
            )
        if self._pump is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(self._pump), self._config.close_timeout)

    async def wait_ended(self) -> None:
        if self._pump is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._pump)

    def status(self) -> executor_pb2.SessionStatus:
        status = executor_pb2.SessionStatus(
            run_id=self.run_id,
            thread_id=self.provider.thread_id or "",
            turn_active=self.provider.turn_active,
            pending_question_ids=self.provider.pending_question_ids,
            last_executor_seq=self.outputs.last_seq,
            attached=self.attached,
            trace_id=self.trace_id,
        )
        status.started_at.FromSeconds(int(self.started_at))
        return status


def _what_failed(event: events_pb2.RunEvent) -> str:
    if event.type == "command.completed":
        command = event.command_completed.command
        return f"command `{command if len(command) <= 200 else command[:200] + '…'}` failed"
    if event.type == "error":
        return event.error.message
    if event.type == "warning":
        return event.warning.message
    return "a file change failed"


def _fill_error(result: executor_pb2.ActionResult, exc: ServiceError) -> None:
    result.code = exc.code.value[0]
    result.message = exc.message
