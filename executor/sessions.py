"""The sessions an executor hosts: slots, start, attach, drain, shutdown.

:class:`SessionHost` admits a session (tenant, slot, confinement box),
restores its workspace, starts its provider session and keeps it as a
:class:`~executor.hosted_session.HostedSession` until it has ended and
nobody needs its last outputs. Starts that cannot succeed are refused with
a reason (no space, object store unreachable, no free uid).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import grpc

from ccplane.v1 import executor_pb2
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
from common.objectstore.base import ObjectStoreError, ObjectStoreUnavailableError
from executor.confinement import Confiner, SessionBox
from executor.confinement.uids import NoFreeUidError
from executor.convert import service_error, spec_from_start
from executor.diskspace import (
    WORKSPACE_DISK_FULL,
    disk_full_error,
    where_space_ran_out,
)
from executor.host_config import HostConfig
from executor.hosted_session import HostedSession
from executor.metrics import ExecutorMetrics
from executor.providers.base import ProviderRegistry
from executor.providers.errors import ProviderError
from executor.spans import SessionSpans
from executor.workspace.restore import ManifestNotFoundError
from executor.workspace.session import (
    OBJECT_STORE_UNAVAILABLE,
    StoreRetryReport,
    WorkspaceSession,
    prepare_resume,
)

log = logging.getLogger(__name__)

# Why a run whose session was still live when its executor stopped failed.
EXECUTOR_SHUTDOWN = "EXECUTOR_SHUTDOWN"

# A start refused for these (a bad request, a thread not here) is not the provider failing.
_CALLER_ERRORS = ("INVALID_ARGUMENT", "FAILED_PRECONDITION")

__all__ = ["EXECUTOR_SHUTDOWN", "HostConfig", "HostedSession", "SessionHost"]


async def _no_space(what: str, exc: BaseException, *paths: Path) -> ServiceError:
    """The answer to a start that ran out of disk space. FAILED_PRECONDITION
    rather than RESOURCE_EXHAUSTED, which the control plane answers by
    queueing the run again, without end while the disk stays full (or the
    workspace does not fit): the run fails, saying which disk is full."""
    where = await asyncio.to_thread(where_space_ran_out, exc, paths)
    return failed_precondition(WORKSPACE_DISK_FULL, f"no space left {what}: {where}")


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


class SessionHost:
    """The sessions of this executor process."""

    def __init__(
        self,
        config: HostConfig,
        registry: ProviderRegistry,
        session_options: Mapping[str, Any] | None = None,
        confiner: Confiner | None = None,
        metrics: ExecutorMetrics | None = None,
    ) -> None:
        self.config = config
        self.registry = registry
        self.metrics = metrics or ExecutorMetrics()
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
        spans = SessionSpans(
            start.run_id,
            start.tenant_id,
            {"ccplane.executor": self.config.executor_id, "ccplane.provider": start.provider},
        )
        try:
            workspace_dir = box.workspace_dir if box is not None else self._workspace_dir(start)
            workspace = await self._restore(start, workspace_dir, spans)
            if box is not None:
                await asyncio.to_thread(box.hand_over, workspace_dir)
            spec = spec_from_start(start, workspace_dir, self.config.thread_state_dir, box)
            try:
                provider = self.registry.create_session(spec, **self._session_options)
                kind = self.registry.resolve(spec.provider).kind.name
                session = HostedSession(
                    start.run_id,
                    provider,
                    self.config,
                    current_trace_id(),
                    workspace,
                    box=box,
                    directories=[box.directory if box is not None else workspace_dir],
                    metrics=self.metrics,
                    kind=kind,
                    spans=spans,
                )
                self._sessions[start.run_id] = session
                try:
                    await provider.start()
                except BaseException as exc:
                    del self._sessions[start.run_id]
                    if isinstance(exc, ProviderError) and exc.status_code not in _CALLER_ERRORS:
                        self.metrics.provider_failed(kind)
                    raise
            except ProviderError as exc:
                raise service_error(exc) from exc
        except BaseException as exc:
            spans.end(failed=True, reason=str(exc) or type(exc).__name__)
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
        self, start: executor_pb2.StartSession, workspace_dir: Path, spans: SessionSpans
    ) -> WorkspaceSession | None:
        """Restore the run's workspace version (and the thread to resume) from
        the object store, when the session has no directory of its own."""
        objects = self.config.objects
        if objects is None or start.workspace_dir or not start.workspace_id:
            return None
        # Nothing reports events yet: retries are told once the session begins.
        report = StoreRetryReport(start.run_id, "restoring the workspace")
        try:
            with spans.restore(start.workspace_id, start.workspace_version), reporting_retries(report):
                if start.resume_thread_id:
                    await prepare_resume(objects, start.resume_thread_id, self.config.thread_state_dir)
                begun = time.perf_counter()
                workspace = await WorkspaceSession.open(
                    objects,
                    workspace_id=start.workspace_id,
                    version=start.workspace_version,
                    run_id=start.run_id,
                    workspace_dir=workspace_dir,
                    cache_dir=self.config.blob_cache_dir,
                )
                restored = workspace.restored
                self.metrics.workspace_restored(
                    time.perf_counter() - begun, restored.fetched_bytes if restored is not None else 0
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
