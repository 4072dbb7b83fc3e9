"""Sessions hosted by this executor: slots, start, actions, attach, drain.

A :class:`HostedSession` wraps one provider session. Its pump task copies
provider events into the session's :class:`OutputLog` and, when the provider
ends, appends ``ended``. The session outlives the gRPC stream that started
it: when the caller's stream drops, the session keeps running and buffering
so a caller can take it over again (``attach``). A session nobody attaches
to for ``detached_timeout`` seconds is closed, so a vanished control plane
cannot leak agent processes. A session whose disk fills up is ended failed
with ``WORKSPACE_DISK_FULL`` (see :mod:`executor.diskspace`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from ccplane.v1 import events_pb2, executor_pb2, runs_pb2
from common.errors import (
    ServiceError,
    failed_precondition,
    invalid_argument,
    not_found,
    resource_exhausted,
    unavailable,
)
from common.logging import current_trace_id
from common.objectstore import reporting_retries
from common.objectstore.base import ObjectStore, ObjectStoreError, ObjectStoreUnavailableError
from executor.confinement import Confiner, SessionBox
from executor.confinement.uids import NoFreeUidError
from executor.convert import outcome_to_proto, service_error, spec_from_start
from executor.diskspace import (
    WORKSPACE_DISK_FULL,
    disk_full_error,
    full_filesystem,
    reports_disk_full,
    where_space_ran_out,
)
from executor.outputs import DEFAULT_CAPACITY, OutputLog
from executor.providers.base import Delivery, ProviderRegistry, ProviderSession
from executor.providers.errors import ProviderError
from executor.workspace.restore import ManifestNotFoundError
from executor.workspace.session import (
    OBJECT_STORE_UNAVAILABLE,
    WORKSPACE_SYNC_FAILED,
    StoreRetryReport,
    WorkspaceSession,
    prepare_resume,
)

log = logging.getLogger(__name__)

_DELIVERY = {
    Delivery.STEER: runs_pb2.MESSAGE_DELIVERY_STEER,
    Delivery.FOLLOW_UP: runs_pb2.MESSAGE_DELIVERY_FOLLOW_UP,
}


# Why a run whose session was still live when its executor stopped failed.
EXECUTOR_SHUTDOWN = "EXECUTOR_SHUTDOWN"


@dataclass(frozen=True)
class HostConfig:
    executor_id: str
    data_dir: Path
    slots: int = 4
    replay_capacity: int = DEFAULT_CAPACITY
    detached_timeout: float = 600.0
    close_timeout: float = 30.0
    # On SIGTERM, how long live sessions may take to end on their own.
    shutdown_grace: float = 30.0
    # Where agent thread state is saved after each turn and found for resume;
    # shared by the executors of one host (default: <data_dir>/threads).
    threads_dir: Path | None = None
    # Where workspaces and thread state live; None: sessions work in local
    # directories only (no restore, no sync).
    objects: ObjectStore | None = None

    @property
    def thread_state_dir(self) -> Path:
        return self.threads_dir or self.data_dir / "threads"

    @property
    def blob_cache_dir(self) -> Path:
        return self.data_dir / "blob-cache"


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
    ) -> None:
        self.run_id = run_id
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
            self.outputs.end(self._ended())
            self.ended_at = time.monotonic()

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
        self.outputs.event(event)

    async def _sync(self, turn_id: str) -> None:
        """Save the workspace's changes and the agent thread's state.

        While the object store's requests are retried, a ``warning`` says
        so; a store that stays unreachable past its retries (or refuses)
        fails the run (:meth:`_fail_sync`)."""
        if self.workspace is None or self.sync_failed is not None:
            return
        report = StoreRetryReport(self.run_id, "saving the workspace", self._emit, turn_id)
        saved = False
        try:
            with reporting_retries(report):
                _, events = await self.workspace.sync(turn_id)
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
            self._emit(
                events_pb2.RunEvent(
                    run_id=self.run_id,
                    type="warning",
                    turn_id=turn_id,
                    warning=events_pb2.RunWarning(
                        message=f"the agent thread's state was not saved (the workspace was): {exc}; "
                        "only this host can continue the thread",
                        reason="THREAD_STATE_NOT_SAVED",
                    ),
                )
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
            self._emit(
                events_pb2.RunEvent(
                    run_id=self.run_id,
                    type="warning",
                    turn_id=turn_id,
                    warning=events_pb2.RunWarning(
                        message=f"workspace sync failed: {exc}", reason="WORKSPACE_SYNC_FAILED"
                    ),
                )
            )

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
        self._emit(
            events_pb2.RunEvent(
                run_id=self.run_id,
                type="error",
                turn_id=turn_id,
                error=events_pb2.RunError(message=message, reason=WORKSPACE_SYNC_FAILED),
            )
        )
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
        self._emit(
            events_pb2.RunEvent(
                run_id=self.run_id,
                type="error",
                turn_id=turn_id,
                error=events_pb2.RunError(message=message, reason=WORKSPACE_DISK_FULL),
            )
        )

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


async def _no_space(what: str, exc: BaseException, *paths: Path) -> ServiceError:
    """The answer to a start that ran out of disk space. FAILED_PRECONDITION
    rather than RESOURCE_EXHAUSTED, which the control plane answers by
    queueing the run again, without end while the disk stays full (or the
    workspace does not fit): the run fails, saying which disk is full."""
    where = await asyncio.to_thread(where_space_ran_out, exc, paths)
    return failed_precondition(WORKSPACE_DISK_FULL, f"no space left {what}: {where}")


def _what_failed(event: events_pb2.RunEvent) -> str:
    if event.type == "command.completed":
        command = event.command_completed.command
        return f"command `{command if len(command) <= 200 else command[:200] + '…'}` failed"
    if event.type == "error":
        return event.error.message
    if event.type == "warning":
        return event.warning.message
    return "a file change failed"


def _store_failed(start: executor_pb2.StartSession, exc: ObjectStoreError) -> ServiceError:
    """Why a session could not start: the object store failed its restore.

    FAILED_PRECONDITION rather than UNAVAILABLE: the store is shared, so
    another executor would fare no better, and the run is to fail with this
    reason rather than go back to the queue."""
    reason = (
        OBJECT_STORE_UNAVAILABLE if isinstance(exc, ObjectStoreUnavailableError) else "OBJECT_STORE_REFUSED"
    )
    return failed_precondition(
        reason,
        f"cannot restore version {start.workspace_version} of workspace {start.workspace_id}: {exc}",
        workspace_id=start.workspace_id,
    )


def _fill_error(result: executor_pb2.ActionResult, exc: ServiceError) -> None:
    result.code = exc.code.value[0]
    result.message = exc.message


class SessionHost:
    """The sessions of this executor process."""

    def __init__(
        self,
        config: HostConfig,
        registry: ProviderRegistry,
        session_options: Mapping[str, Any] | None = None,
        confiner: Confiner | None = None,
    ) -> None:
        self.config = config
        self.registry = registry
        # Extra keyword arguments for the provider's sessions (model config, limits).
        self._session_options = dict(session_options or {})
        self._sessions: dict[str, HostedSession] = {}
        self._draining = False
        # Confines each session when enabled; otherwise this host serves the
        # first tenant it sees and no other (nothing would keep tenants apart).
        self.confiner = confiner
        self._tenant: str | None = None

    @property
    def confined(self) -> bool:
        return self.confiner is not None and self.confiner.enabled

    @property
    def draining(self) -> bool:
        return self._draining

    @property
    def slots_used(self) -> int:
        return sum(1 for s in self._sessions.values() if not s.outputs.ended)

    def sessions(self) -> list[HostedSession]:
        return list(self._sessions.values())

    def get(self, run_id: str) -> HostedSession:
        session = self._sessions.get(run_id)
        if session is None:
            raise not_found("session", run_id)
        return session

    async def start(self, start: executor_pb2.StartSession) -> HostedSession:
        if not start.run_id:
            raise invalid_argument("start.run_id", "is required")
        if self._draining:
            raise unavailable("EXECUTOR_DRAINING", f"executor {self.config.executor_id} is draining")
        existing = self._sessions.get(start.run_id)
        if existing is not None and not existing.outputs.ended:
            raise ServiceError(
                grpc.StatusCode.ALREADY_EXISTS,
                "SESSION_EXISTS",
                f"run {start.run_id} already has a live session here; attach to it instead",
            )
        if self.slots_used >= self.config.slots:
            raise resource_exhausted(
                "NO_FREE_SLOT", f"all {self.config.slots} slots of this executor are busy"
            )
        self._admit_tenant(start)
        box = await self._open_box(start)
        try:
            workspace_dir = box.workspace_dir if box is not None else self._workspace_dir(start)
            workspace = await self._restore(start, workspace_dir)
            if box is not None:
                await asyncio.to_thread(box.hand_over, workspace_dir)
            spec = spec_from_start(start, workspace_dir, self.config.thread_state_dir, box)
            try:
                provider = self.registry.create_session(spec, **self._session_options)
                session = HostedSession(
                    start.run_id,
                    provider,
                    self.config,
                    current_trace_id(),
                    workspace,
                    box=box,
                    directories=[box.directory if box is not None else workspace_dir],
                )
                self._sessions[start.run_id] = session
                try:
                    await provider.start()
                except BaseException:
                    del self._sessions[start.run_id]
                    raise
            except ProviderError as exc:
                raise service_error(exc) from exc
        except BaseException:
            if box is not None:
                await asyncio.to_thread(box.close)
            raise
        session.begin()
        log.info("session started", extra={"run_id": start.run_id})
        return session

    def _admit_tenant(self, start: executor_pb2.StartSession) -> None:
        if self.confined or not start.tenant_id:
            return
        if self._tenant is None:
            self._tenant = start.tenant_id
            log.warning(
                "this executor now serves tenant %s only: its sessions are not confined", start.tenant_id
            )
        elif start.tenant_id != self._tenant:
            reason = self.confiner.reason if self.confiner is not None else "no confinement configured"
            raise failed_precondition(
                "EXECUTOR_SINGLE_TENANT",
                f"executor {self.config.executor_id} runs sessions unconfined ({reason}) and already "
                f"serves another tenant; it hosts no second one",
            )

    async def _open_box(self, start: executor_pb2.StartSession) -> SessionBox | None:
        if not self.confined:
            return None
        assert self.confiner is not None
        if start.workspace_dir:
            raise failed_precondition(
                "WORKSPACE_DIR_NOT_CONFINABLE",
                "confined sessions work in directories the executor prepares; start.workspace_dir is not "
                "accepted here",
                workspace_dir=start.workspace_dir,
            )
        try:
            return await asyncio.to_thread(self.confiner.open, start.run_id)
        except NoFreeUidError as exc:
            raise resource_exhausted("NO_FREE_SESSION_UID", str(exc)) from exc
        except OSError as exc:
            if disk_full_error(exc) is None:
                raise
            assert self.confiner.root is not None
            raise await _no_space("for the session's directory", exc, self.confiner.root) from exc

    def _workspace_dir(self, start: executor_pb2.StartSession) -> Path:
        if start.workspace_dir:
            path = Path(start.workspace_dir)
            if not path.is_dir():
                raise failed_precondition(
                    "WORKSPACE_MISSING",
                    f"workspace directory {path} does not exist on executor {self.config.executor_id}",
                    workspace_dir=str(path),
                )
            return path
        path = self.config.data_dir / "workspaces" / start.run_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    async def _restore(
        self, start: executor_pb2.StartSession, workspace_dir: Path
    ) -> WorkspaceSession | None:
        """Restore the run's workspace version (and the thread to resume) from
        the object store, when the session has no directory of its own."""
        objects = self.config.objects
        if objects is None or start.workspace_dir or not start.workspace_id:
            return None
        # Nothing reports events yet: retries are told once the session begins.
        report = StoreRetryReport(start.run_id, "restoring the workspace")
        try:
            with reporting_retries(report):
                if start.resume_thread_id:
                    await prepare_resume(objects, start.resume_thread_id, self.config.thread_state_dir)
                workspace = await WorkspaceSession.open(
                    objects,
                    workspace_id=start.workspace_id,
                    version=start.workspace_version,
                    run_id=start.run_id,
                    workspace_dir=workspace_dir,
                    cache_dir=self.config.blob_cache_dir,
                )
        except ManifestNotFoundError as exc:
            raise failed_precondition(
                "WORKSPACE_VERSION_MISSING",
                f"workspace {start.workspace_id} has no version {start.workspace_version}: {exc}",
            ) from exc
        except (ObjectStoreError, OSError) as exc:
            if disk_full_error(exc) is None:
                if isinstance(exc, ObjectStoreError):
                    raise _store_failed(start, exc) from exc
                raise
            if workspace_dir == self.config.data_dir / "workspaces" / start.run_id:
                # Ours, holding nothing but part of a restore (a box removes its own).
                await asyncio.to_thread(shutil.rmtree, workspace_dir, True)
            raise await _no_space(
                f"to restore workspace {start.workspace_id} version {start.workspace_version}",
                exc,
                workspace_dir,
                self.config.blob_cache_dir,
                self.config.thread_state_dir,
            ) from exc
        recovered = report.recovered()
        if recovered is not None:
            workspace.startup_events.append(recovered)
        return workspace

    def forget_ended(self, retention: float) -> None:
        """Drop sessions that ended more than ``retention`` seconds ago and
        that nobody follows. Until then a caller that lost its stream can
        still attach and collect the last outputs."""
        now = time.monotonic()
        for run_id, session in list(self._sessions.items()):
            if session.ended_at is not None and now - session.ended_at > retention and not session.attached:
                del self._sessions[run_id]

    def drain(self) -> int:
        self._draining = True
        return self.slots_used

    async def shutdown(self, reason: str = "the executor is shutting down", *, grace: float = 0.0) -> None:
        """Stop accepting sessions; give the live ones ``grace`` seconds to
        end on their own (a turn finishing, its run closing the session),
        then close what is left: a turn still running ends failed with
        ``EXECUTOR_SHUTDOWN`` (a follow-up message continues its thread)."""
        self._draining = True
        live = [s for s in self._sessions.values() if not s.outputs.ended]
        if live and grace > 0:
            log.info("draining sessions", extra={"sessions": len(live), "grace_s": grace})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*(s.wait_ended() for s in live)), grace)
        left = [s for s in self._sessions.values() if not s.outputs.ended]
        if left:
            log.warning("closing sessions still live at shutdown", extra={"sessions": len(left)})
        await asyncio.gather(
            *(s.close(reason, error_reason=EXECUTOR_SHUTDOWN) for s in self._sessions.values()),
            return_exceptions=True,
        )
