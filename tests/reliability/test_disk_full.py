"""A session fills its disk: the run fails saying so, and the executor keeps serving.

A 32 MiB tmpfs holds every session directory of the stack's one executor
(``workspace/``, ``codex-home/``, ``home/``), in two layouts:

- ``session-root``: only the session root is on it (``CCPLANE_SESSION_ROOT``);
  the executor's own data (blob cache, thread state) is elsewhere;
- ``data-dir``: the executor's whole data directory is on it, sessions in
  their default place below it, as a deployment with one volume per
  executor has it.

A run's command writes 100 MB of zeros into its workspace. The command fails
with ENOSPC (the agent sees it) and the executor, measuring the session's
filesystem full, reports an ``error`` with reason ``WORKSPACE_DISK_FULL``
naming the filesystem and its free space, interrupts the turn, syncs what
the workspace holds (``session-root``: a complete new version) or, when the
sync itself finds no space (``data-dir``), records nothing and says so, and
ends the session failed with that reason; the run fails with it, its log
gap-free. Removing the session's directory gives the space back: a run of
the same executor that waited for a person meanwhile (its session on the
same disk) then finishes, and a new run succeeds.

A run that starts while the disk is full (filled from outside, as another
executor sharing the disk would) fails at once with the same reason, and
runs succeed again once the space is back.

Needs root (mount). Sessions are confined (``CCPLANE_SESSION_ISOLATION=required``):
only then do session directories live below the session root.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from ccplane.v1 import (
    common_pb2,
    events_pb2,
    human_loop_pb2,
    human_loop_pb2_grpc,
    runs_pb2,
    runs_pb2_grpc,
    workspaces_pb2,
    workspaces_pb2_grpc,
)
from common.cli.stack import Stack
from common.objectstore.layout import blob_key
from executor.confinement.settings import ISOLATION_ENV, ROOT_ENV
from executor.diskspace import WORKSPACE_DISK_FULL
from executor.workspace.restore import load_manifest
from tests.platform import own_database, scenario_library
from tests.reliability.conftest import QUESTION, all_events, assert_gap_free, fault_platform, wait_for_status

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="mounting the small filesystem needs root"),
]

DISK_SIZE = "32m"
DISK_TOTAL = "32.0 MiB"
FINAL: set[int] = {
    common_pb2.RUN_STATUS_SUCCEEDED,
    common_pb2.RUN_STATUS_FAILED,
    common_pb2.RUN_STATUS_CANCELED,
}
# The command fills 32 MiB in well under a second; then the interrupt, the
# sync of what it wrote and the session's end. Seen: about 1 s.
FILL_BOUND_S = 20.0
START_BOUND_S = 20.0

LIBRARY: dict[str, Any] = {
    "fill": {
        "steps": [
            {"output": [{"exec": "echo before > before.txt && head -c 100M /dev/zero > big.bin"}]},
            {"when_contains": "function_call_output", "output": [{"message": "The disk is full."}]},
        ]
    },
    # Waits for a person while the disk fills, then writes a file.
    "wait": {
        "steps": [
            {"output": [QUESTION]},
            {"when_contains": "Yes", "output": [{"exec": "echo after-the-fault > after.txt"}]},
            {"when_contains": "function_call_output", "output": [{"message": "Wrote after.txt."}]},
        ]
    },
}


@dataclass(frozen=True)
class Layout:
    name: str
    data_dir: Path  # the platform's
    small_disk: Path  # the mount point of the small filesystem
    session_root: Path


@pytest.fixture(scope="module", params=["session-root", "data-dir"])
def layout(request: pytest.FixtureRequest) -> Iterator[Layout]:
    """The small filesystem in its place. Outside /tmp: sessions get a
    private /tmp of their own, so no session root can be there."""
    base = Path(tempfile.mkdtemp(prefix="ccplane-disk-full-", dir="/var/lib"))
    base.chmod(0o755)  # session users pass through to their directories
    data_dir = base / "data"
    if request.param == "session-root":
        small_disk = session_root = base / "sessions"
    else:
        # The executors' data directories (<data>/executors/<id>: blob cache)
        # and their sessions on one filesystem.
        small_disk = data_dir / "executors"
        session_root = small_disk / "sessions"
    small_disk.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE}", "tmpfs", str(small_disk)], check=True)
    try:
        yield Layout(str(request.param), data_dir, small_disk, session_root)
    finally:
        if subprocess.run(["umount", str(small_disk)], check=False).returncode != 0:
            subprocess.run(["umount", "--lazy", str(small_disk)], check=False)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def disk_full_db_url(postgres_server_url: str) -> Iterator[str]:
    with own_database(postgres_server_url, "ccplane_disk_full") as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(layout: Layout, disk_full_db_url: str) -> AsyncIterator[Stack]:
    env = {ROOT_ENV: str(layout.session_root), ISOLATION_ENV: "required"}
    # One executor: every run below shares it (two slots) and its disk.
    async with fault_platform(
        disk_full_db_url,
        layout.data_dir,
        scenario_library("disk-full", LIBRARY),
        executors=1,
        extra_manager_config={"executor_env": env},
    ) as stack:
        yield stack


@pytest_asyncio.fixture(loop_scope="session")
async def runs(stack: Stack) -> AsyncIterator[runs_pb2_grpc.RunServiceStub]:
    async with stack.channel() as channel:
        yield runs_pb2_grpc.RunServiceStub(channel)


@pytest_asyncio.fixture(loop_scope="session")
async def workspaces(stack: Stack) -> AsyncIterator[workspaces_pb2_grpc.WorkspaceServiceStub]:
    async with stack.channel() as channel:
        yield workspaces_pb2_grpc.WorkspaceServiceStub(channel)


def explain(events: list[events_pb2.RunEvent]) -> str:
    lines = []
    for e in events:
        detail = ""
        if e.type == "run.status_changed":
            status = common_pb2.RunStatus.Name(e.status_changed.status)
            detail = f"{status} {e.status_changed.error_reason} {e.status_changed.error}"
        elif e.type == "error":
            detail = f"{e.error.reason}: {e.error.message}"
        elif e.type == "command.completed":
            detail = repr(e.command_completed.output[:200])
        elif e.type == "turn.completed":
            detail = events_pb2.TurnStatus.Name(e.turn_completed.status)
        elif e.type == "workspace.synced":
            detail = f"version {e.workspace_synced.version}"
        lines.append(f"{e.seq} {e.type} {detail}")
    return "\n".join(lines)


async def leftovers(disk: Path, run_id: str) -> list[Path]:
    """What is left on ``disk`` of the session of ``run_id``."""
    return await asyncio.to_thread(lambda: list(disk.glob(f"**/{run_id}")))


def used_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


async def new_workspace(
    workspaces: workspaces_pb2_grpc.WorkspaceServiceStub, files: dict[str, bytes]
) -> workspaces_pb2.Workspace:
    created: workspaces_pb2.CreateWorkspaceResponse = await workspaces.CreateWorkspace(
        workspaces_pb2.CreateWorkspaceRequest(name="disk")
    )
    for path, content in files.items():
        await workspaces.WriteFile(
            workspaces_pb2.WriteFileRequest(workspace_id=created.workspace.id, path=path, content=content)
        )
    answer: workspaces_pb2.GetWorkspaceResponse = await workspaces.GetWorkspace(
        workspaces_pb2.GetWorkspaceRequest(workspace_id=created.workspace.id)
    )
    return answer.workspace


async def current_version(workspaces: workspaces_pb2_grpc.WorkspaceServiceStub, workspace_id: str) -> int:
    answer: workspaces_pb2.GetWorkspaceResponse = await workspaces.GetWorkspace(
        workspaces_pb2.GetWorkspaceRequest(workspace_id=workspace_id)
    )
    return answer.workspace.current_version


async def assert_complete(stack: Stack, workspace_id: str, version: int) -> dict[str, int]:
    """Every file of the recorded version has its blob, with its size and hash."""
    objects = stack.control_plane.objects if stack.control_plane else None
    assert objects is not None
    manifest = await load_manifest(objects, workspace_id, version)
    for path, meta in manifest.files.items():
        digest, size = hashlib.sha256(), 0
        async for chunk in objects.get_stream(blob_key(meta.sha256)):
            digest.update(chunk)
            size += len(chunk)
        assert (digest.hexdigest(), size) == (meta.sha256, meta.size), f"{path} does not read back"
    return {path: meta.size for path, meta in manifest.files.items()}


async def read_file(
    workspaces: workspaces_pb2_grpc.WorkspaceServiceStub, workspace_id: str, path: str
) -> bytes:
    answer: workspaces_pb2.ReadFileResponse = await workspaces.ReadFile(
        workspaces_pb2.ReadFileRequest(workspace_id=workspace_id, path=path)
    )
    return answer.content


async def wait_for_question(stack: Stack, run_id: str) -> str:
    async with stack.channel() as channel, asyncio.timeout(30):
        stub = human_loop_pb2_grpc.HumanLoopServiceStub(channel)
        while True:
            pending = await stub.ListPendingRequests(human_loop_pb2.ListPendingRequestsRequest(run_id=run_id))
            if pending.requests:
                return str(pending.requests[0].question_id)
            await asyncio.sleep(0.1)


async def answer_yes(stack: Stack, run_id: str, question_id: str) -> None:
    async with stack.channel() as channel:
        await human_loop_pb2_grpc.HumanLoopServiceStub(channel).Reply(
            human_loop_pb2.ReplyRequest(
                run_id=run_id,
                question_id=question_id,
                questions=human_loop_pb2.QuestionAnswers(
                    answers={"go": human_loop_pb2.QuestionAnswer(answers=["Yes"])}
                ),
            )
        )


async def assert_a_new_run_succeeds(runs: runs_pb2_grpc.RunServiceStub, executor_id: str) -> None:
    created = (await runs.CreateRun(runs_pb2.CreateRunRequest(prompt="[scenario:quick] write hello.txt"))).run
    run = await wait_for_status(runs, created.id, FINAL, START_BOUND_S)
    events = await all_events(runs, run.id)
    assert run.status == common_pb2.RUN_STATUS_SUCCEEDED, explain(events)
    assert run.executor_id == executor_id, "the same executor serves it"
    assert_gap_free(events)


async def test_a_run_that_fills_its_disk_fails_saying_so_and_the_executor_keeps_serving(
    stack: Stack,
    runs: runs_pb2_grpc.RunServiceStub,
    workspaces: workspaces_pb2_grpc.WorkspaceServiceStub,
    layout: Layout,
    prove: Callable[..., None],
) -> None:
    small_disk = layout.small_disk
    workspace = await new_workspace(workspaces, {"notes.txt": b"kept\n"})
    assert workspace.current_version == 1

    # A run whose session shares the disk waits for a person meanwhile.
    waiting = (await runs.CreateRun(runs_pb2.CreateRunRequest(prompt="[scenario:wait] wait for me"))).run
    question_id = await wait_for_question(stack, waiting.id)
    waiting = (await runs.GetRun(runs_pb2.GetRunRequest(run_id=waiting.id))).run
    used_before = used_bytes(small_disk)

    started = time.monotonic()
    created = (
        await runs.CreateRun(
            runs_pb2.CreateRunRequest(prompt="[scenario:fill] fill the disk", workspace_id=workspace.id)
        )
    ).run
    run = await wait_for_status(runs, created.id, FINAL, FILL_BOUND_S)
    took = time.monotonic() - started
    events = await all_events(runs, run.id)
    print(f"disk full: the run failed {took:.1f}s after it was created\n{explain(events)}")
    assert took < FILL_BOUND_S

    # The run fails with the reason, naming the filesystem and its free space.
    assert run.status == common_pb2.RUN_STATUS_FAILED, explain(events)
    assert run.error_reason == WORKSPACE_DISK_FULL, run.error
    assert str(small_disk) in run.error and f"free of {DISK_TOTAL}" in run.error, run.error
    assert run.executor_id == waiting.executor_id
    assert_gap_free(events)
    assert run.last_seq == events[-1].seq
    final = events[-1]
    assert final.type == "run.status_changed", explain(events)
    assert final.status_changed.status == common_pb2.RUN_STATUS_FAILED
    assert final.status_changed.error_reason == WORKSPACE_DISK_FULL
    # The agent saw its command fail; then the executor said why the run ends.
    (command,) = [e for e in events if e.type == "command.completed"]
    assert "No space left on device" in command.command_completed.output, explain(events)
    errors = [e for e in events if e.type == "error" and e.error.reason == WORKSPACE_DISK_FULL]
    assert errors, explain(events)
    (command_started,) = [e for e in events if e.type == "command.started"]
    assert errors[0].seq > command_started.seq
    assert str(small_disk) in errors[0].error.message and "free of" in errors[0].error.message
    (turn,) = [e for e in events if e.type == "turn.completed"]
    assert turn.seq > errors[0].seq, "the turn was ended, not left running"

    # Nothing half-synced: the workspace is at a complete new version (every
    # blob there, reading back what was recorded), or, when the sync found
    # no space for its own copies, still at the previous one, and it says so.
    version = await current_version(workspaces, workspace.id)
    synced = [e.workspace_synced.version for e in events if e.type == "workspace.synced"]
    files = await assert_complete(stack, workspace.id, version)
    assert await read_file(workspaces, workspace.id, "notes.txt") == b"kept\n"
    if layout.name == "session-root":
        assert synced == [2] and version == 2, explain(events)
        assert await read_file(workspaces, workspace.id, "before.txt") == b"before\n"
        assert 0 < files["big.bin"] < 32 * 1024 * 1024, "what the command wrote before the disk was full"
        kept = f"workspace synced to complete version 2 (big.bin {files['big.bin'] / 2**20:.1f} MiB)"
    else:
        assert synced == [] and version == 1, explain(events)
        (unsaved,) = [e for e in errors if "could not be saved" in e.error.message]
        assert "changes since version 1 are not saved" in unsaved.error.message
        assert "changes since version 1 are not saved" in run.error
        kept = "no space to sync: workspace left at version 1, the error says the changes are not saved"

    # The space came back with the session's directory.
    assert not await leftovers(small_disk, run.id), "the session's directory is removed"
    assert used_bytes(small_disk) <= used_before + 1024 * 1024

    # The run that waited on the same disk finishes; so does a new one.
    await answer_yes(stack, waiting.id, question_id)
    done = await wait_for_status(runs, waiting.id, FINAL, START_BOUND_S)
    done_events = await all_events(runs, waiting.id)
    assert done.status == common_pb2.RUN_STATUS_SUCCEEDED, explain(done_events)
    assert_gap_free(done_events)
    assert await read_file(workspaces, done.workspace_id, "after.txt") == b"after-the-fault\n"
    await assert_a_new_run_succeeds(runs, run.executor_id)
    prove(
        fault=f"a run's command fills its session's disk ({layout.name} on a {DISK_TOTAL} tmpfs)",
        injected="the run's command writes 100 MB of zeros into its workspace",
        outcome=f"command failed ENOSPC; run failed {run.error_reason} naming the filesystem; {kept}; "
        "the session's space given back; a run waiting on the same disk and a new run succeeded",
        bound_s=FILL_BOUND_S,
        measured_s=round(took, 2),
    )


async def test_a_run_that_starts_on_a_full_disk_fails_saying_so(
    stack: Stack,
    runs: runs_pb2_grpc.RunServiceStub,
    workspaces: workspaces_pb2_grpc.WorkspaceServiceStub,
    layout: Layout,
    prove: Callable[..., None],
) -> None:
    small_disk = layout.small_disk
    workspace = await new_workspace(workspaces, {"notes.txt": b"kept\n"})
    # Filled from outside, as another executor's session on the same disk would.
    ballast = small_disk / "ballast"
    await asyncio.to_thread(
        subprocess.run, ["sh", "-c", f"head -c 100M /dev/zero > {ballast}"], check=False, capture_output=True
    )
    try:
        assert os.statvfs(small_disk).f_bavail == 0
        # Restoring a workspace with files fails; so does starting Codex on an empty one.
        took: list[float] = []
        for workspace_id in (workspace.id, ""):
            started = time.monotonic()
            created = (
                await runs.CreateRun(
                    runs_pb2.CreateRunRequest(prompt="[scenario:quick] hello", workspace_id=workspace_id)
                )
            ).run
            run = await wait_for_status(runs, created.id, FINAL, START_BOUND_S)
            took.append(time.monotonic() - started)
            assert took[-1] < START_BOUND_S
            events = await all_events(runs, run.id)
            assert run.status == common_pb2.RUN_STATUS_FAILED, explain(events)
            assert run.error_reason == WORKSPACE_DISK_FULL, run.error
            assert str(small_disk) in run.error and "0 B free" in run.error, run.error
            assert_gap_free(events)
            assert events[-1].status_changed.error_reason == WORKSPACE_DISK_FULL, explain(events)
            if not workspace_id:  # refused by Codex, not by the start: the session reports it
                assert [e for e in events if e.error.reason == WORKSPACE_DISK_FULL], explain(events)
            assert not await leftovers(small_disk, run.id), "the session's directory is removed"
        assert await current_version(workspaces, workspace.id) == 1
        executor_id = run.executor_id
    finally:
        ballast.unlink()
    await assert_a_new_run_succeeds(runs, executor_id)
    restoring, empty = took
    prove(
        fault=f"a run starts on a full disk ({layout.name} on a {DISK_TOTAL} tmpfs)",
        injected="the small filesystem filled from outside (100 MB of ballast) before the runs start",
        outcome=f"a run restoring a workspace failed {WORKSPACE_DISK_FULL} in {restoring:.1f} s, one on "
        f"an empty workspace in {empty:.1f} s, both saying 0 B free; the workspace stayed at "
        "version 1, no session left behind; a new run succeeded once the space was back",
        bound_s=START_BOUND_S,
        measured_s=round(max(took), 2),
    )
