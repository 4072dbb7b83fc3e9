"""Harness for sessions on the real ``codex`` binary and the scripted model.

``open_session(scenario, ...)`` starts a scripted model server and a started
``CodexSession`` against it, records every event, and closes both at the end
of the test. Tests wait on events (``await h.wait_for("turn.completed")``)
with short timeouts that fail loudly; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import psutil
import pytest
import pytest_asyncio

from ccplane.v1 import events_pb2
from common.scripted_model import ScriptedModelServer
from executor.providers import SessionSettings, SessionSpec, default_registry
from executor.providers.base import SessionOutcome
from executor.providers.codex import CodexSession, ModelConfig, SessionLimits

WAIT_S = 15.0
TEST_LIMITS = SessionLimits(request_timeout=15.0, max_reconnects=2, reconnect_deadline=20.0, stop_grace=0.5)


@dataclass
class Harness:
    server: ScriptedModelServer
    session: CodexSession
    events: list[events_pb2.RunEvent] = field(default_factory=list)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _done: bool = False

    async def collect(self) -> None:
        async for event in self.session.events():
            async with self._changed:
                self.events.append(event)
                self._changed.notify_all()
        async with self._changed:
            self._done = True
            self._changed.notify_all()

    def of_type(self, type_: str) -> list[events_pb2.RunEvent]:
        return [e for e in self.events if e.type == type_]

    def types(self) -> list[str]:
        return [e.type for e in self.events]

    async def wait_for(
        self,
        type_: str,
        predicate: Callable[[events_pb2.RunEvent], bool] | None = None,
        *,
        after: int = 0,
        timeout_s: float = WAIT_S,
    ) -> events_pb2.RunEvent:
        """The first event of ``type_`` (from index ``after``) that matches."""

        def find() -> events_pb2.RunEvent | None:
            for event in self.events[after:]:
                if event.type == type_ and (predicate is None or predicate(event)):
                    return event
            return None

        async def wait() -> events_pb2.RunEvent:
            async with self._changed:
                while (found := find()) is None:
                    if self._done:
                        raise AssertionError(f"session ended without {type_}; saw {self.types()}")
                    await self._changed.wait()
                return found

        try:
            return await asyncio.wait_for(wait(), timeout_s)
        except TimeoutError:
            raise AssertionError(f"no {type_} event within {timeout_s}s; saw {self.types()}") from None

    async def wait_turn_completed(self, *, after: int = 0) -> events_pb2.RunEvent:
        return await self.wait_for("turn.completed", after=after)

    async def wait_ended(self, timeout_s: float = WAIT_S) -> SessionOutcome:
        return await asyncio.wait_for(self.session.wait_ended(), timeout_s)


class OpenSession(Protocol):
    def __call__(
        self,
        scenario: Mapping[str, Any] | str,
        *,
        prompt: str = ...,
        settings: SessionSettings | None = ...,
        limits: SessionLimits = ...,
        base_url: str | None = ...,
        **spec_fields: Any,
    ) -> contextlib.AbstractAsyncContextManager[Harness]: ...


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    return path.resolve()


@pytest_asyncio.fixture
async def open_session(workspace: Path) -> AsyncIterator[OpenSession]:
    @contextlib.asynccontextmanager
    async def _open(
        scenario: Mapping[str, Any] | str,
        *,
        prompt: str = "do the thing",
        settings: SessionSettings | None = None,
        limits: SessionLimits = TEST_LIMITS,
        base_url: str | None = None,
        **spec_fields: Any,
    ) -> AsyncIterator[Harness]:
        async with ScriptedModelServer(scenario) as server:
            spec = SessionSpec(
                run_id="run_test",
                workspace_dir=spec_fields.pop("workspace_dir", workspace),
                prompt=prompt,
                model=server.model,
                settings=settings or SessionSettings(approval_mode="never"),
                **spec_fields,
            )
            model = ModelConfig.scripted(base_url or server.base_url)
            session = default_registry().create_session(spec, model=model, limits=limits)
            assert isinstance(session, CodexSession)
            harness = Harness(server, session)
            collector = asyncio.create_task(harness.collect())
            try:
                await session.start()
                yield harness
            finally:
                await session.close("test finished")
                await asyncio.wait_for(collector, WAIT_S)

    yield _open


def own_descendants() -> list[psutil.Process]:
    """Processes started (directly or not) by this test process."""
    return [p for p in psutil.Process().children(recursive=True) if p.is_running()]


def still_alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    """Those of ``procs`` still running. psutil handles stay bound to their
    process (a reused pid is not it), and keep it in sight once orphaned; a
    zombie counts as gone (a container's init may never reap it)."""
    alive = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
    return alive


def processes_running(fragment: str) -> list[psutil.Process]:
    """Live processes this test started (descendants of the test process)
    whose command line contains ``fragment``. Other processes on the host
    (another suite's codex, say) are not looked at. A process orphaned by a
    crash leaves this tree: keep the handles this returns and check them with
    :func:`still_alive`."""
    found = []
    for proc in still_alive(own_descendants()):
        with contextlib.suppress(psutil.Error):
            if fragment in " ".join(proc.cmdline()):
                found.append(proc)
    return found


async def started_processes(fragment: str, timeout_s: float = WAIT_S) -> list[psutil.Process]:
    """:func:`processes_running` once it finds any (Codex may report a command
    started a moment before the command has exec-ed); fails after ``timeout_s``."""
    try:
        async with asyncio.timeout(timeout_s):
            while not (found := processes_running(fragment)):  # noqa: ASYNC110 - no event tells when a process has exec-ed
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"no process of ours runs {fragment!r} within {timeout_s}s") from None
    return found
