"""Sessions hosted by this executor: slots, start, actions, attach, drain.

A :class:`HostedSession` wraps one provider session. Its pump task copies
provider events into the session's :class:`OutputLog` and, when the provider
ends, appends ``ended``. The session outlives the gRPC stream that started
it: when the caller's stream drops, the session keeps running and buffering
so a caller can take it over again (``attach``). A session nobody attaches
to for ``detached_timeout`` seconds is closed, so a vanished control plane
cannot leak agent processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
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
from common.objectstore.base import ObjectStore, ObjectStoreError
from executor.confinement import Confiner, SessionBox
from executor.confinement.uids import NoFreeUidError
from executor.convert import outcome_to_proto, service_error, spec_from_start
from executor.outputs import DEFAULT_CAPACITY, OutputLog
from executor.providers.base import Delivery, ProviderRegistry, ProviderSession
from executor.providers.errors import ProviderError
from executor.workspace.restore import ManifestNotFoundError
from executor.workspace.session import WorkspaceSession, prepare_resume

log = logging.getLogger(__name__)

_DELIVERY = {
    Delivery.STEER: runs_pb2.MESSAGE_DELIVERY_STEER,
    Delivery.FOLLOW_UP: runs_pb2.MESSAGE_DELIVERY_FOLLOW_UP,
}


@dataclass(frozen=True)
class HostConfig:
    executor_id: str
    data_dir: Path
    slots: int = 4
    replay_capacity: int = DEFAULT_CAPACITY
    detached_timeout: float = 600.0
    close_timeout: float = 30.0
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
    ) -> None:
        self.run_id = run_id
        # The session's confinement (None: unconfined); closed once it ended.
        self.box = box
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
        self._pump = asyncio.create_task(self._copy_events(), name=f"session-pump-{self.run_id}")

    async def _copy_events(self) -> None:
        try:
            async for event in self.provider.events():
                self._emit(event)
                if event.type == "turn.completed":
                    await self._sync(event.turn_id)
        except Exception:
            log.exception("provider event stream failed", extra={"run_id": self.run_id})
        finally:
            await self._sync("")
            if self._reaper is not None:
                self._reaper.cancel()
            if self.box is not None:
                await asyncio.to_thread(self.box.close)
            self.outputs.end(outcome_to_proto(self.provider.outcome))
            self.ended_at = time.monotonic()

    def _emit(self, event: events_pb2.RunEvent) -> None:
        if not event.trace_id:
            event.trace_id = self.trace_id
        self.outputs.event(event)

    async def _sync(self, turn_id: str) -> None:
        """Save the workspace's changes and the agent thread's state."""
        if self.workspace is None:
            return
        try:
            _, events = await self.workspace.sync(turn_id)
            for event in events:
                self._emit(event)
            if self.provider.thread_id:
                await self.workspace.save_thread(self._config.thread_state_dir, self.provider.thread_id)
        except Exception as exc:
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

    async def close(self, reason: str) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.provider.close(reason), self._config.close_timeout)
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
                    start.run_id, provider, self.config, current_trace_id(), workspace, box=box
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
        try:
            if start.resume_thread_id:
                await prepare_resume(objects, start.resume_thread_id, self.config.thread_state_dir)
            return await WorkspaceSession.open(
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
        except ObjectStoreError as exc:
            raise unavailable("OBJECT_STORE_UNAVAILABLE", f"cannot restore the workspace: {exc}") from exc

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

    async def shutdown(self, reason: str = "executor stopping") -> None:
        """Stop accepting sessions, close the live ones, wait for their ends."""
        self._draining = True
        await asyncio.gather(*(s.close(reason) for s in self._sessions.values()), return_exceptions=True)
