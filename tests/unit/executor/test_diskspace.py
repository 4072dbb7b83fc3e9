"""A full disk under a session: telling it, saying which, and what the session does.

The disk is real: a 1 MiB tmpfs (mounting needs root; skipped otherwise).
Restore and sync run against a local object store; the session tests drive
:class:`HostedSession` with a provider that plays a given list of events
(no agent process), so that each path is exercised on its own.
"""

from __future__ import annotations

import asyncio
import errno
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest

from ccplane.v1 import events_pb2, executor_pb2, human_loop_pb2
from common.errors import ServiceError
from common.objectstore import ObjectStoreError
from common.objectstore.layout import manifest_key
from common.objectstore.local import LocalObjectStore
from common.objectstore.manifest import Manifest
from executor.diskspace import (
    WORKSPACE_DISK_FULL,
    disk_full_error,
    full_filesystem,
    human_size,
    mentions_disk_full,
    reports_disk_full,
    space_of,
)
from executor.providers.base import (
    Delivery,
    Outcome,
    ProviderRegistry,
    ProviderSession,
    SessionOutcome,
)
from executor.providers.errors import SessionStateError
from executor.sessions import HostConfig, HostedSession, SessionHost
from executor.workspace import fs
from executor.workspace.restore import restore
from executor.workspace.session import WorkspaceSession
from executor.workspace.sync import sync

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small filesystem needs root")

ENOSPC_OUTPUT = "head: error writing 'standard output': No space left on device\n"
CODEX_WARNING = (
    "Failed to save the conversation transcript; Codex will continue retrying. "
    "Error: thread-store internal error: No space left on device (os error 28)"
)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, unmounted afterwards."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def fill(disk: Path) -> None:
    # head fails once the disk is full: that is the point
    subprocess.run(
        ["sh", "-c", f"head -c 2M /dev/zero > {disk / 'ballast'}"], check=False, capture_output=True
    )
    assert os.statvfs(disk).f_bavail == 0


def event(type_: str, **fields: object) -> events_pb2.RunEvent:
    return events_pb2.RunEvent(run_id="run_1", type=type_, turn_id="turn_1", **fields)  # type: ignore[arg-type]


def command_completed(output: str) -> events_pb2.RunEvent:
    return event(
        "command.completed",
        command_completed=events_pb2.CommandCompleted(
            command="head -c 100M /dev/zero > big.bin", output=output
        ),
    )


# -- telling and describing a full disk ---------------------------------------


@needs_root
def test_space_of_names_the_filesystem_and_its_free_space(tiny_disk: Path) -> None:
    space = space_of(tiny_disk / "not" / "there" / "yet")
    assert space.mount_point == tiny_disk and space.fs_type == "tmpfs"
    assert space.total_bytes == 1024 * 1024 and not space.full
    fill(tiny_disk)
    space = space_of(tiny_disk)
    assert space.full and space.free_bytes == 0
    assert space.describe() == (
        f"the tmpfs filesystem mounted on {tiny_disk} (holding {tiny_disk}) has 0 B free of 1.0 MiB"
    )
    assert full_filesystem([Path("/"), tiny_disk]) == space or full_filesystem([tiny_disk]) == space


@needs_root
def test_full_filesystem_is_the_first_full_one(tiny_disk: Path, tmp_path: Path) -> None:
    assert full_filesystem([tmp_path, tiny_disk]) is None
    fill(tiny_disk)
    found = full_filesystem([tmp_path, tiny_disk / "workspace"])
    assert found is not None and found.mount_point == tiny_disk


def test_the_errno_is_found_behind_wrappers() -> None:
    enospc = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert disk_full_error(enospc) is enospc
    quota = OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))
    assert disk_full_error(quota) is quota
    try:
        try:
            raise enospc
        except OSError as exc:
            raise ObjectStoreError("download failed") from exc
    except ObjectStoreError as wrapped:
        assert disk_full_error(wrapped) is enospc
    assert disk_full_error(OSError(errno.EACCES, "denied")) is None
    assert disk_full_error(ValueError("no")) is None


def test_which_events_report_a_write_without_space() -> None:
    assert mentions_disk_full("cp: error writing 'x': No space left on device")
    assert mentions_disk_full("write failed: Disk quota exceeded")
    assert not mentions_disk_full("all good")
    assert reports_disk_full(command_completed(ENOSPC_OUTPUT))
    assert not reports_disk_full(command_completed("hello\n"))
    assert reports_disk_full(event("warning", warning=events_pb2.RunWarning(message=CODEX_WARNING)))
    assert reports_disk_full(event("error", error=events_pb2.RunError(message=f"failed: {CODEX_WARNING}")))
    ours = events_pb2.RunError(message="No space left on device", reason=WORKSPACE_DISK_FULL)
    assert not reports_disk_full(event("error", error=ours)), "our own report is no new evidence"
    failed = events_pb2.FileChangeCompleted(status=events_pb2.PATCH_STATUS_FAILED)
    assert reports_disk_full(event("file_change.completed", file_change_completed=failed))
    message = events_pb2.MessageCompleted(text="No space left on device, said the agent")
    assert not reports_disk_full(event("message.completed", message_completed=message))


def test_human_sizes() -> None:
    assert [human_size(n) for n in (0, 1023, 1024, 32 * 1024**2, 5 * 1024**3)] == [
        "0 B",
        "1023 B",
        "1.0 KiB",
        "32.0 MiB",
        "5.0 GiB",
    ]


# -- restore and sync: all or nothing ------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects", fsync=False)


async def a_version_too_big_for(
    store: LocalObjectStore, tmp_path: Path, workspace_id: str = "ws_1"
) -> Manifest:
    """Version 1 of ``workspace_id``: a small file and a 2 MiB one, recorded."""
    source = tmp_path / "source"
    source.mkdir()
    (source / "small.txt").write_text("small\n")
    (source / "big.bin").write_bytes(os.urandom(2 * 1024 * 1024))
    result = await sync(
        store, source, Manifest.empty(workspace_id), run_id="run_0", cache_dir=tmp_path / "c0"
    )
    await store.put_bytes(manifest_key(workspace_id, 1), result.manifest.to_json())
    return result.manifest


@needs_root
async def test_a_sync_without_space_for_its_copies_stages_nothing(
    tiny_disk: Path, tmp_path: Path, store: LocalObjectStore
) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "big.bin").write_bytes(os.urandom(2 * 1024 * 1024))
    with pytest.raises(OSError) as raised:
        await sync(store, workspace, Manifest.empty("ws_1"), run_id="run_1", cache_dir=tiny_disk / "cache")
    assert disk_full_error(raised.value) is not None
    assert [info.key async for info in store.list("")] == [], "no blob, no staged manifest"
    assert list((tiny_disk / "cache").rglob("*")) == [tiny_disk / "cache" / "tmp"], "no copy left behind"
    assert space_of(tiny_disk).free_bytes == 1024 * 1024


@needs_root
async def test_a_restore_without_space_leaves_no_partial_file(
    tiny_disk: Path, tmp_path: Path, store: LocalObjectStore
) -> None:
    manifest = await a_version_too_big_for(store, tmp_path)
    with pytest.raises(OSError) as raised:
        await restore(store, manifest, tiny_disk / "workspace", tmp_path / "cache")
    assert disk_full_error(raised.value) is not None
    left = [p.name for p in (tiny_disk / "workspace").rglob("*")]
    assert not [name for name in left if name.startswith(fs.TEMP_PREFIX) or name == "big.bin"], left


# -- the session --------------------------------------------------------------


class PlayedSession(ProviderSession):
    """Plays ``events``, then stays idle until closed. ``interrupt`` ends the
    running turn (turn.completed, interrupted), as an agent does."""

    def __init__(self, events: list[events_pb2.RunEvent]) -> None:
        self._queue: asyncio.Queue[events_pb2.RunEvent | None] = asyncio.Queue()
        for each in events:
            self._queue.put_nowait(each)
        self._turn_active = any(e.type == "turn.started" for e in events) and not any(
            e.type == "turn.completed" for e in events
        )
        self._outcome: SessionOutcome | None = None
        self.calls: list[str] = []

    async def start(self) -> None:
        self.calls.append("start")

    async def events(self) -> AsyncIterator[events_pb2.RunEvent]:
        while (each := await self._queue.get()) is not None:
            yield each

    async def inject(self, text: str) -> Delivery:
        raise SessionStateError("not here")

    async def reply(self, question_id: str, answer: human_loop_pb2.HumanLoopAnswer) -> None:
        raise SessionStateError("not here")

    async def interrupt(self) -> None:
        self.calls.append("interrupt")
        if not self._turn_active:
            raise SessionStateError("no turn is running")
        self._turn_active = False
        done = event("turn.completed")
        done.turn_completed.status = events_pb2.TURN_STATUS_INTERRUPTED
        self._queue.put_nowait(done)

    async def close(self, reason: str = "", *, error_reason: str = "") -> None:
        self.calls.append("close")
        if self._outcome is None:
            self._outcome = SessionOutcome(Outcome.COMPLETED)
            self._queue.put_nowait(None)

    @property
    def thread_id(self) -> str | None:
        return None

    @property
    def turn_active(self) -> bool:
        return self._turn_active

    @property
    def pending_question_ids(self) -> list[str]:
        return []

    @property
    def outcome(self) -> SessionOutcome | None:
        return self._outcome


async def play(
    provider: PlayedSession,
    config: HostConfig,
    directory: Path,
    workspace: WorkspaceSession | None = None,
    *,
    close_after_s: float | None = None,
) -> tuple[list[events_pb2.RunEvent], executor_pb2.SessionEnded]:
    """Host the played session until it ends (closed by the host, or by the
    caller after ``close_after_s``, as the control plane closes an idle one)."""
    session = HostedSession("run_1", provider, config, workspace=workspace, directories=[directory])
    session.begin()
    if close_after_s is not None:
        await asyncio.sleep(close_after_s)
        await session.close("turn completed")
    async with asyncio.timeout(10):
        await session.wait_ended()
    outputs = [o async for o in session.outputs.follow(0)]
    *events, ended = outputs
    return [o.event for o in events], ended.ended


def errors_of(events: list[events_pb2.RunEvent]) -> list[str]:
    return [e.error.message for e in events if e.type == "error" and e.error.reason == WORKSPACE_DISK_FULL]


@needs_root
async def test_a_command_without_space_on_a_full_disk_ends_the_session_failed(
    tiny_disk: Path, tmp_path: Path
) -> None:
    fill(tiny_disk)
    provider = PlayedSession([event("turn.started"), command_completed(ENOSPC_OUTPUT)])
    events, ended = await play(provider, HostConfig("exe_1", tmp_path / "data"), tiny_disk)
    assert provider.calls == ["interrupt", "close"], "the turn is ended, then the session"
    assert [e.type for e in events] == ["turn.started", "command.completed", "error", "turn.completed"]
    (message,) = errors_of(events)
    assert f"tmpfs filesystem mounted on {tiny_disk}" in message and "0 B free of 1.0 MiB" in message
    assert "command `head -c 100M /dev/zero > big.bin` failed" in message
    assert ended.outcome == executor_pb2.SESSION_OUTCOME_FAILED
    assert (ended.error_reason, ended.error) == (WORKSPACE_DISK_FULL, message)


@needs_root
async def test_codex_failing_to_save_its_transcript_between_turns_ends_the_session(
    tiny_disk: Path, tmp_path: Path
) -> None:
    fill(tiny_disk)
    warning = event("warning", warning=events_pb2.RunWarning(message=CODEX_WARNING, reason="CODEX_WARNING"))
    provider = PlayedSession([warning])
    events, ended = await play(provider, HostConfig("exe_1", tmp_path / "data"), tiny_disk)
    assert provider.calls == ["close"], "no turn to interrupt"
    (message,) = errors_of(events)
    assert "Failed to save the conversation transcript" in message
    assert ended.error_reason == WORKSPACE_DISK_FULL


@needs_root
async def test_a_command_without_space_elsewhere_is_the_agents_business(
    tiny_disk: Path, tmp_path: Path
) -> None:
    # The text, but the session's disk has room: a full /tmp of its own, an old log.
    provider = PlayedSession([event("turn.started"), command_completed(ENOSPC_OUTPUT)])
    events, ended = await play(provider, HostConfig("exe_1", tmp_path / "data"), tiny_disk, close_after_s=0.2)
    assert provider.calls == ["close"]
    assert not errors_of(events)
    assert ended.outcome == executor_pb2.SESSION_OUTCOME_COMPLETED


@needs_root
async def test_a_sync_without_space_saves_nothing_and_ends_the_session_failed(
    tiny_disk: Path, tmp_path: Path, store: LocalObjectStore
) -> None:
    # The executor's blob cache on the small disk, as beside its sessions.
    config = HostConfig("exe_1", tiny_disk / "data", threads_dir=tmp_path / "threads")
    directory = tmp_path / "workspace"
    workspace = await WorkspaceSession.open(
        store, workspace_id="ws_1", version=0, run_id="run_1", workspace_dir=directory,
        cache_dir=config.blob_cache_dir,
    )  # fmt: skip
    (directory / "big.bin").write_bytes(os.urandom(2 * 1024 * 1024))
    provider = PlayedSession([event("turn.started"), event("turn.completed")])
    events, ended = await play(provider, config, directory, workspace)
    assert provider.calls == ["close"], "closed once the turn's sync found no space"
    assert "workspace.synced" not in [e.type for e in events]
    (message,) = errors_of(events)  # reported once, though the final sync fails too
    assert message.startswith("the workspace could not be saved, the disk is full: ")
    assert f"the tmpfs filesystem mounted on {tiny_disk} (holding {config.blob_cache_dir})" in message
    assert message.endswith("the changes since version 0 are not saved")
    assert ended.outcome == executor_pb2.SESSION_OUTCOME_FAILED
    assert (ended.error_reason, ended.error) == (WORKSPACE_DISK_FULL, message)
    assert [info.key async for info in store.list("staged/")] == []


@needs_root
async def test_a_start_without_space_to_restore_fails_and_removes_what_it_wrote(
    tiny_disk: Path, tmp_path: Path, store: LocalObjectStore
) -> None:
    await a_version_too_big_for(store, tmp_path)
    config = HostConfig("exe_1", tiny_disk / "data", threads_dir=tmp_path / "threads", objects=store)
    host = SessionHost(config, ProviderRegistry())
    start = executor_pb2.StartSession(run_id="run_1", workspace_id="ws_1", workspace_version=1, prompt="hi")
    with pytest.raises(ServiceError) as raised:
        await host.start(start)
    assert raised.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert raised.value.reason == WORKSPACE_DISK_FULL
    assert raised.value.message.startswith("no space left to restore workspace ws_1 version 1: ")
    assert f"the tmpfs filesystem mounted on {tiny_disk}" in raised.value.message
    assert not (config.data_dir / "workspaces" / "run_1").exists(), "the partial restore is removed"
