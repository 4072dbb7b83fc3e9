"""WorkspaceService over real gRPC against real PostgreSQL and a real object store."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator

import grpc
import pytest
from sqlalchemy import select, update

from ccplane.v1 import workspaces_pb2 as pb
from ccplane.v1 import workspaces_pb2_grpc
from common import ids
from common.db import models
from common.db.engine import Database
from common.objectstore import LocalObjectStore, ObjectStore
from tests.conftest import RunFactory
from tests.integration.workspaces.conftest import (
    TIGHT,
    error_info,
    eventually,
    new_workspace,
    refused,
    violated_fields,
)
from tests.unit.workspaces.archives import Entry, tar_gz, zip_bytes

Stub = workspaces_pb2_grpc.WorkspaceServiceStub
INVALID = grpc.StatusCode.INVALID_ARGUMENT


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def write(stub: Stub, ws: str, path: str, content: bytes, **fields: object) -> pb.WriteFileResponse:
    request = pb.WriteFileRequest(workspace_id=ws, path=path, content=content, **fields)  # type: ignore[arg-type]
    return await stub.WriteFile(request)


async def upload_parts(header: pb.UploadFileHeader, *chunks: bytes) -> AsyncIterator[pb.UploadFileRequest]:
    yield pb.UploadFileRequest(header=header)
    for chunk in chunks:
        yield pb.UploadFileRequest(chunk=chunk)


async def test_create_get_list(workspaces: Stub) -> None:
    first = await new_workspace(workspaces, name="alpha", labels={"team": "infra"})
    second = await new_workspace(workspaces, name="beta")
    assert ids.is_valid(ids.WORKSPACE, first.id)
    assert (first.name, first.current_version, first.file_count, first.size_bytes) == ("alpha", 0, 0, 0)
    assert dict(first.labels) == {"team": "infra"}
    assert first.locked_by_run_id == ""

    got = (await workspaces.GetWorkspace(pb.GetWorkspaceRequest(workspace_id=first.id))).workspace
    assert got == first

    page = await workspaces.ListWorkspaces(pb.ListWorkspacesRequest(page_size=1))
    assert [w.id for w in page.workspaces] == [second.id], "newest first"
    following = await workspaces.ListWorkspaces(
        pb.ListWorkspacesRequest(page_size=1, page_token=page.next_page_token)
    )
    assert [w.id for w in following.workspaces] == [first.id]

    unnamed = await new_workspace(workspaces)
    assert unnamed.name == unnamed.id


async def test_write_read_and_list_versions(workspaces: Stub) -> None:
    ws = (await new_workspace(workspaces, name="rw")).id
    first = await write(workspaces, ws, "src/app/main.py", b"print('hi')\n", mode=0o755)
    assert first.version == 1
    assert (first.file.path, first.file.name, first.file.size, first.file.mode) == (
        "src/app/main.py",
        "main.py",
        12,
        0o755,
    )
    assert first.file.sha256 == sha(b"print('hi')\n")
    assert first.file.type == pb.FILE_TYPE_FILE
    second = await write(workspaces, ws, "README.md", b"# rw\n")
    assert (second.version, second.workspace.current_version, second.workspace.file_count) == (2, 2, 2)
    assert second.workspace.size_bytes == 12 + 5
    assert second.file.mode == 0o644, "mode 0 means 0644"

    read = await workspaces.ReadFile(pb.ReadFileRequest(workspace_id=ws, path="src/app/main.py"))
    assert (read.content, read.version, read.file.sha256) == (b"print('hi')\n", 2, sha(b"print('hi')\n"))

    root = await workspaces.ListFiles(pb.ListFilesRequest(workspace_id=ws))
    assert root.version == 2
    assert [(e.name, e.path, e.type, e.size) for e in root.entries] == [
        ("README.md", "README.md", pb.FILE_TYPE_FILE, 5),
        ("src", "src", pb.FILE_TYPE_DIRECTORY, 12),
    ]
    inner = await workspaces.ListFiles(pb.ListFilesRequest(workspace_id=ws, path="src/app"))
    assert [e.path for e in inner.entries] == ["src/app/main.py"]

    # Older versions stay readable.
    old = await workspaces.ListFiles(pb.ListFilesRequest(workspace_id=ws, version=1))
    assert (old.version, [e.name for e in old.entries]) == (1, ["src"])
    await refused(
        workspaces.ReadFile(pb.ReadFileRequest(workspace_id=ws, path="README.md", version=1)),
        grpc.StatusCode.NOT_FOUND,
    )
    await refused(
        workspaces.ListFiles(pb.ListFilesRequest(workspace_id=ws, version=3)), grpc.StatusCode.NOT_FOUND
    )
    await refused(
        workspaces.ListFiles(pb.ListFilesRequest(workspace_id=ws, path="nope")), grpc.StatusCode.NOT_FOUND
    )
    await refused(
        workspaces.ListFiles(pb.ListFilesRequest(workspace_id=ws, path="README.md")),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    await refused(
        workspaces.ReadFile(pb.ReadFileRequest(workspace_id=ws, path="src")),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    empty = await workspaces.ListFiles(pb.ListFilesRequest(workspace_id=(await new_workspace(workspaces)).id))
    assert (empty.version, list(empty.entries)) == (0, [])


async def test_rename_and_delete(workspaces: Stub) -> None:
    ws = (await new_workspace(workspaces)).id
    for path in ("docs/a.md", "docs/sub/b.md", "top.txt"):
        await write(workspaces, ws, path, path.encode())

    renamed = await workspaces.RenameFile(
        pb.RenameFileRequest(workspace_id=ws, path="top.txt", new_path="docs/top.txt")
    )
    assert (renamed.version, renamed.file.path, renamed.file.sha256) == (4, "docs/top.txt", sha(b"top.txt"))
    moved_dir = await workspaces.RenameFile(
        pb.RenameFileRequest(workspace_id=ws, path="docs", new_path="manual")
    )
    assert moved_dir.version == 5
    listing = await workspaces.ListFiles(pb.ListFilesRequest(workspace_id=ws, path="manual"))
    assert [e.name for e in listing.entries] == ["a.md", "sub", "top.txt"]
    read = await workspaces.ReadFile(pb.ReadFileRequest(workspace_id=ws, path="manual/sub/b.md"))
    assert read.content == b"docs/sub/b.md"

    await refused(
        workspaces.RenameFile(
            pb.RenameFileRequest(workspace_id=ws, path="manual/a.md", new_path="manual/top.txt")
        ),
        grpc.StatusCode.ALREADY_EXISTS,
    )
    await refused(
        workspaces.RenameFile(pb.RenameFileRequest(workspace_id=ws, path="manual", new_path="manual/inner")),
        INVALID,
    )
    await refused(
        workspaces.RenameFile(pb.RenameFileRequest(workspace_id=ws, path="ghost", new_path="x")),
        grpc.StatusCode.NOT_FOUND,
    )
    parent_is_file = await refused(
        write(workspaces, ws, "manual/a.md/child", b"x"), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert error_info(parent_is_file).reason == "PARENT_IS_FILE"
    is_dir = await refused(write(workspaces, ws, "manual", b"x"), grpc.StatusCode.FAILED_PRECONDITION)
    assert error_info(is_dir).reason == "PATH_IS_DIRECTORY"

    deleted = await workspaces.DeleteFile(pb.DeleteFileRequest(workspace_id=ws, path="manual/a.md"))
    assert (deleted.version, deleted.workspace.file_count) == (6, 2)
    deleted_dir = await workspaces.DeleteFile(pb.DeleteFileRequest(workspace_id=ws, path="manual"))
    assert (deleted_dir.version, deleted_dir.workspace.file_count, deleted_dir.workspace.size_bytes) == (
        7,
        0,
        0,
    )
    await refused(
        workspaces.DeleteFile(pb.DeleteFileRequest(workspace_id=ws, path="manual")), grpc.StatusCode.NOT_FOUND
    )


async def test_upload_streams_chunks(workspaces: Stub) -> None:
    ws = (await new_workspace(workspaces)).id
    chunks = [bytes([i]) * 100_000 for i in range(7)]
    data = b"".join(chunks)
    header = pb.UploadFileHeader(workspace_id=ws, path="data/blob.bin", size=len(data), mode=0o600)
    answer = await workspaces.UploadFile(upload_parts(header, *chunks))
    assert (answer.version, answer.file.size, answer.file.sha256, answer.file.mode) == (
        1,
        len(data),
        sha(data),
        0o600,
    )
    read = await workspaces.ReadFile(pb.ReadFileRequest(workspace_id=ws, path="data/blob.bin"))
    assert read.content == data

    empty = await workspaces.UploadFile(upload_parts(pb.UploadFileHeader(workspace_id=ws, path="empty")))
    assert (empty.version, empty.file.size, empty.file.sha256) == (2, 0, sha(b""))


async def test_audit_rows_for_every_operation(workspaces: Stub, database: Database) -> None:
    archive = tar_gz(Entry("seed/a.txt", b"alpha"), Entry("seed/b.txt", b"beta"))
    ws = (await new_workspace(workspaces, name="audited", archive=archive, request_id="create-1")).id
    await write(workspaces, ws, "w.txt", b"one", request_id="write-1")
    await write(workspaces, ws, "w.txt", b"two")
    await workspaces.UploadFile(
        upload_parts(
            pb.UploadFileHeader(workspace_id=ws, path="u.bin", request_id="upload-1"), b"up", b"loaded"
        )
    )
    await workspaces.RenameFile(
        pb.RenameFileRequest(workspace_id=ws, path="w.txt", new_path="r.txt", request_id="ren-1")
    )
    await workspaces.DeleteFile(pb.DeleteFileRequest(workspace_id=ws, path="seed/a.txt", request_id="del-1"))

    events = (await workspaces.ListAuditEvents(pb.ListAuditEventsRequest(workspace_id=ws))).events
    summary = [
        (e.version, e.action, e.path, e.new_path, e.old_sha256, e.new_sha256, e.size, e.request_id)
        for e in events
    ]
    assert summary[:5] == [
        (6, pb.AUDIT_ACTION_DELETE, "seed/a.txt", "", sha(b"alpha"), "", 5, "del-1"),
        (5, pb.AUDIT_ACTION_RENAME, "w.txt", "r.txt", sha(b"two"), sha(b"two"), 3, "ren-1"),
        (4, pb.AUDIT_ACTION_UPLOAD, "u.bin", "", "", sha(b"uploaded"), 8, "upload-1"),
        (3, pb.AUDIT_ACTION_WRITE, "w.txt", "", sha(b"one"), sha(b"two"), 3, ""),
        (2, pb.AUDIT_ACTION_WRITE, "w.txt", "", "", sha(b"one"), 3, "write-1"),
    ]
    # Rows of one version come in id order, which within a millisecond is random.
    assert sorted(summary[5:], key=lambda row: row[2]) == [
        (1, pb.AUDIT_ACTION_CREATE, "seed/a.txt", "", "", sha(b"alpha"), 5, "create-1"),
        (1, pb.AUDIT_ACTION_CREATE, "seed/b.txt", "", "", sha(b"beta"), 4, "create-1"),
    ]
    assert all(e.workspace_id == ws and e.tenant_id == "default" and e.time.seconds > 0 for e in events)
    assert all(ids.is_valid(ids.AUDIT, e.id) for e in events)

    by_path = await workspaces.ListAuditEvents(pb.ListAuditEventsRequest(workspace_id=ws, path="r.txt"))
    assert [e.action for e in by_path.events] == [pb.AUDIT_ACTION_RENAME]
    pages: list[str] = []
    token = ""
    while True:
        page = await workspaces.ListAuditEvents(
            pb.ListAuditEventsRequest(workspace_id=ws, page_size=2, page_token=token)
        )
        pages += [e.id for e in page.events]
        token = page.next_page_token
        if not token:
            break
    assert pages == [e.id for e in events]
    # A page token only continues the listing it came from.
    first_page = await workspaces.ListAuditEvents(pb.ListAuditEventsRequest(workspace_id=ws, page_size=2))
    other_filters = pb.ListAuditEventsRequest(
        workspace_id=ws, path="r.txt", page_token=first_page.next_page_token
    )
    bad_token = await refused(workspaces.ListAuditEvents(other_filters), INVALID)
    assert violated_fields(bad_token) == ["page_token"]

    # One version row per change, each pointing at its manifest.
    async with database.session() as session:
        versions = (
            await session.execute(
                select(models.WorkspaceVersion.version, models.WorkspaceVersion.manifest_key)
                .where(models.WorkspaceVersion.workspace_id == ws)
                .order_by(models.WorkspaceVersion.version)
            )
        ).all()
    assert [(v, k) for v, k in versions] == [(v, f"manifests/{ws}/{v}.json") for v in range(1, 7)]


async def test_stale_expected_version_is_aborted(workspaces: Stub) -> None:
    ws = (await new_workspace(workspaces)).id
    await write(workspaces, ws, "f.txt", b"1", expected_version=0)
    await write(workspaces, ws, "f.txt", b"2", expected_version=1)
    err = await refused(write(workspaces, ws, "f.txt", b"3", expected_version=1), grpc.StatusCode.ABORTED)
    info = error_info(err)
    assert info.reason == "WORKSPACE_VERSION_MISMATCH"
    assert info.metadata["current_version"] == "2"
    assert "version 2" in (err.details() or "")
    for call in (
        workspaces.RenameFile(
            pb.RenameFileRequest(workspace_id=ws, path="f.txt", new_path="g.txt", expected_version=1)
        ),
        workspaces.DeleteFile(pb.DeleteFileRequest(workspace_id=ws, path="f.txt", expected_version=1)),
        workspaces.UploadFile(
            upload_parts(pb.UploadFileHeader(workspace_id=ws, path="u", expected_version=1), b"x")
        ),
    ):
        await refused(call, grpc.StatusCode.ABORTED)
    current = (await workspaces.GetWorkspace(pb.GetWorkspaceRequest(workspace_id=ws))).workspace
    assert current.current_version == 2


@pytest.mark.parametrize("status", ["starting", "running", "waiting_human", "lost"])
async def test_a_live_run_holds_the_workspace(
    workspaces: Stub, make_run: RunFactory, database: Database, status: str
) -> None:
    ws = (await new_workspace(workspaces)).id
    await write(workspaces, ws, "kept.txt", b"kept")
    run_id = await make_run(status, workspace_id=ws)

    held = (await workspaces.GetWorkspace(pb.GetWorkspaceRequest(workspace_id=ws))).workspace
    assert held.locked_by_run_id == run_id
    for call in (
        write(workspaces, ws, "new.txt", b"x"),
        workspaces.UploadFile(upload_parts(pb.UploadFileHeader(workspace_id=ws, path="u"), b"x")),
        workspaces.RenameFile(pb.RenameFileRequest(workspace_id=ws, path="kept.txt", new_path="k.txt")),
        workspaces.DeleteFile(pb.DeleteFileRequest(workspace_id=ws, path="kept.txt")),
    ):
        err = await refused(call, grpc.StatusCode.FAILED_PRECONDITION)
        assert error_info(err).reason == "WORKSPACE_HELD_BY_RUN"
        assert error_info(err).metadata["run_id"] == run_id
        assert run_id in (err.details() or "")
    # Reading is fine meanwhile.
    read = await workspaces.ReadFile(pb.ReadFileRequest(workspace_id=ws, path="kept.txt"))
    assert read.content == b"kept"

    async with database.session() as session, session.begin():
        await session.execute(
            update(models.AgentRun).where(models.AgentRun.id == run_id).values(status="succeeded")
        )
    assert (await write(workspaces, ws, "new.txt", b"x")).version == 2


async def test_a_queued_run_does_not_hold_the_workspace(workspaces: Stub, make_run: RunFactory) -> None:
    ws = (await new_workspace(workspaces)).id
    await make_run("queued", workspace_id=ws)
    assert (await write(workspaces, ws, "f", b"x")).version == 1


async def test_other_tenants_workspaces_are_not_found(workspaces: Stub, database: Database) -> None:
    foreign = ids.new_id(ids.WORKSPACE)
    async with database.session() as session, session.begin():
        session.add(models.Workspace(id=foreign, tenant_id="ten_other", name="theirs"))
    not_found = grpc.StatusCode.NOT_FOUND
    for call in (
        workspaces.GetWorkspace(pb.GetWorkspaceRequest(workspace_id=foreign)),
        workspaces.ListFiles(pb.ListFilesRequest(workspace_id=foreign)),
        workspaces.ReadFile(pb.ReadFileRequest(workspace_id=foreign, path="a")),
        write(workspaces, foreign, "a", b"x"),
        workspaces.UploadFile(upload_parts(pb.UploadFileHeader(workspace_id=foreign, path="a"), b"x")),
        workspaces.RenameFile(pb.RenameFileRequest(workspace_id=foreign, path="a", new_path="b")),
        workspaces.DeleteFile(pb.DeleteFileRequest(workspace_id=foreign, path="a")),
        workspaces.ListAuditEvents(pb.ListAuditEventsRequest(workspace_id=foreign)),
    ):
        err = await refused(call, not_found)
        assert error_info(err).reason == "WORKSPACE_NOT_FOUND"
    listed: list[str] = []
    token = ""
    while True:
        page = await workspaces.ListWorkspaces(pb.ListWorkspacesRequest(page_size=500, page_token=token))
        listed += [w.id for w in page.workspaces]
        token = page.next_page_token
        if not token:
            break
    assert foreign not in listed
    async with database.session() as session:
        row = await session.get_one(models.Workspace, foreign)
    assert row.current_version == 0


async def test_request_ids_make_changes_idempotent(workspaces: Stub) -> None:
    created = await new_workspace(workspaces, name="idem", request_id="ws-req-1")
    again = await new_workspace(workspaces, name="idem", request_id="ws-req-1")
    assert again.id == created.id
    await refused(
        new_workspace(workspaces, name="other", request_id="ws-req-1"), grpc.StatusCode.ALREADY_EXISTS
    )

    ws = created.id
    first = await write(workspaces, ws, "f.txt", b"v1", expected_version=0, request_id="w-1")
    await write(workspaces, ws, "g.txt", b"moves the version on")
    retry = await write(workspaces, ws, "f.txt", b"v1", expected_version=0, request_id="w-1")
    assert (retry.version, retry.file.sha256) == (first.version, first.file.sha256)
    assert retry.workspace.current_version == 2
    reused = await refused(
        write(workspaces, ws, "f.txt", b"different", request_id="w-1"), grpc.StatusCode.ALREADY_EXISTS
    )
    assert error_info(reused).reason == "REQUEST_ID_REUSED"
    events = (
        await workspaces.ListAuditEvents(pb.ListAuditEventsRequest(workspace_id=ws, path="f.txt"))
    ).events
    assert len(events) == 1

    header = pb.UploadFileHeader(workspace_id=ws, path="u.bin", request_id="up-1", expected_version=2)
    uploaded = await workspaces.UploadFile(upload_parts(header, b"abc"))
    replayed = await workspaces.UploadFile(upload_parts(header, b"abc"))
    assert (
        (replayed.version, replayed.file.sha256)
        == (uploaded.version, uploaded.file.sha256)
        == (3, sha(b"abc"))
    )


async def test_invalid_requests_name_their_field(workspaces: Stub) -> None:
    ws = (await new_workspace(workspaces)).id
    cases = [
        (workspaces.GetWorkspace(pb.GetWorkspaceRequest(workspace_id="")), "workspace_id"),
        (workspaces.GetWorkspace(pb.GetWorkspaceRequest(workspace_id="ws_nope")), "workspace_id"),
        (
            workspaces.GetWorkspace(pb.GetWorkspaceRequest(workspace_id="run_01J9Z3Y4Q5W6E7R8T9Y0U1I2O3")),
            "workspace_id",
        ),
        (write(workspaces, ws, "f", b"x", mode=0o4755), "mode"),
        (write(workspaces, ws, "f", b"x", expected_version=-1), "expected_version"),
        (write(workspaces, ws, "f", b"x", request_id="bad id"), "request_id"),
        (workspaces.ReadFile(pb.ReadFileRequest(workspace_id=ws, path="f", version=-2)), "version"),
        (workspaces.ReadFile(pb.ReadFileRequest(workspace_id=ws)), "path"),
        (workspaces.ListWorkspaces(pb.ListWorkspacesRequest(page_size=-1)), "page_size"),
        (workspaces.ListWorkspaces(pb.ListWorkspacesRequest(page_token="garbage!")), "page_token"),
        (new_workspace(workspaces, name="x" * 201), "name"),
        (new_workspace(workspaces, labels={"Bad Key": "v"}), "labels['Bad Key']"),
        (new_workspace(workspaces, archive=b"not an archive"), "archive"),
        (
            workspaces.UploadFile(upload_parts(pb.UploadFileHeader(workspace_id=ws, path="u", size=-1))),
            "header.size",
        ),
        (workspaces.UploadFile(upload_parts(pb.UploadFileHeader(workspace_id=ws, path="/u"))), "header.path"),
        (workspaces.UploadFile(upload_parts(pb.UploadFileHeader(path="u"))), "header.workspace_id"),
        (workspaces.ListAuditEvents(pb.ListAuditEventsRequest(workspace_id=ws, actor="a" * 200)), "actor"),
    ]
    for call, field in cases:
        err = await refused(call, INVALID)
        assert violated_fields(err) == [field], err.details()
        assert field.split("[")[0] in (err.details() or "")


async def test_upload_framing_errors(workspaces: Stub) -> None:
    ws = (await new_workspace(workspaces)).id

    async def chunk_first() -> AsyncIterator[pb.UploadFileRequest]:
        yield pb.UploadFileRequest(chunk=b"x")

    async def two_headers() -> AsyncIterator[pb.UploadFileRequest]:
        yield pb.UploadFileRequest(header=pb.UploadFileHeader(workspace_id=ws, path="a"))
        yield pb.UploadFileRequest(header=pb.UploadFileHeader(workspace_id=ws, path="b"))

    async def nothing() -> AsyncIterator[pb.UploadFileRequest]:
        return
        yield pb.UploadFileRequest()

    for stream in (chunk_first(), two_headers(), nothing()):
        err = await refused(workspaces.UploadFile(stream), INVALID)
        assert violated_fields(err) == ["header"]
    short = pb.UploadFileHeader(workspace_id=ws, path="a", size=10)
    err = await refused(workspaces.UploadFile(upload_parts(short, b"12345")), INVALID)
    assert violated_fields(err) == ["header.size"]
    assert (
        await workspaces.GetWorkspace(pb.GetWorkspaceRequest(workspace_id=ws))
    ).workspace.current_version == 0


async def test_interrupted_upload_leaves_no_version(tight_workspaces: Stub, objects: ObjectStore) -> None:
    """A client that cancels mid-upload leaves no version and no staged data.

    The server learns of it from the cancellation or, when that does not
    arrive (grpc.aio does not always deliver a client's cancel to a handler
    blocked reading the request stream), from the upload's idle timeout."""
    workspaces = tight_workspaces
    ws = (await new_workspace(workspaces)).id
    assert isinstance(objects, LocalObjectStore)
    sent_some = asyncio.Event()

    async def stalls() -> AsyncIterator[pb.UploadFileRequest]:
        yield pb.UploadFileRequest(header=pb.UploadFileHeader(workspace_id=ws, path="big.bin", size=60_000))
        for _ in range(5):
            yield pb.UploadFileRequest(chunk=b"z" * 10_000)
        sent_some.set()
        await asyncio.Event().wait()

    call = workspaces.UploadFile(stalls())
    await asyncio.wait_for(sent_some.wait(), 10)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call

    async def staging_gone() -> bool:
        return [i async for i in objects.list("uploads/")] == [] and not any(
            (objects.root / ".tmp").iterdir()
        )

    try:
        await eventually(staging_gone, "the interrupted upload's staging object is removed")
    except AssertionError:
        left = [i.key async for i in objects.list("uploads/")], list((objects.root / ".tmp").iterdir())
        raise AssertionError(f"left: {left}") from None
    workspace = (await workspaces.GetWorkspace(pb.GetWorkspaceRequest(workspace_id=ws))).workspace
    assert workspace.current_version == 0
    audit = (await workspaces.ListAuditEvents(pb.ListAuditEventsRequest(workspace_id=ws))).events
    assert [e.action for e in audit] == [pb.AUDIT_ACTION_CREATE], "nothing but the creation"


async def test_a_stalled_upload_is_abandoned(tight_workspaces: Stub, objects: ObjectStore) -> None:
    ws = (await new_workspace(tight_workspaces)).id
    assert isinstance(objects, LocalObjectStore)

    async def stalls() -> AsyncIterator[pb.UploadFileRequest]:
        yield pb.UploadFileRequest(header=pb.UploadFileHeader(workspace_id=ws, path="slow.bin"))
        yield pb.UploadFileRequest(chunk=b"z" * 1000)
        await asyncio.Event().wait()

    started = time.monotonic()
    err = await refused(tight_workspaces.UploadFile(stalls(), timeout=30), grpc.StatusCode.DEADLINE_EXCEEDED)
    assert error_info(err).reason == "UPLOAD_STALLED"
    assert time.monotonic() - started < 10, "abandoned after the idle timeout, not the call's deadline"
    workspace = (await tight_workspaces.GetWorkspace(pb.GetWorkspaceRequest(workspace_id=ws))).workspace
    assert workspace.current_version == 0
    assert [i async for i in objects.list("uploads/")] == []


async def test_size_limits_are_resource_exhausted(tight_workspaces: Stub) -> None:
    stub = tight_workspaces
    exhausted = grpc.StatusCode.RESOURCE_EXHAUSTED
    ws = (await new_workspace(stub)).id
    big = b"b" * (TIGHT.max_file_bytes + 1)
    assert error_info(await refused(write(stub, ws, "big", big), exhausted)).reason == "FILE_TOO_LARGE"
    announced = pb.UploadFileHeader(workspace_id=ws, path="big", size=len(big))
    assert (
        error_info(await refused(stub.UploadFile(upload_parts(announced)), exhausted)).reason
        == "FILE_TOO_LARGE"
    )
    unannounced = pb.UploadFileHeader(workspace_id=ws, path="big")
    chunks = [b"c" * 10_000] * 7
    err = await refused(stub.UploadFile(upload_parts(unannounced, *chunks)), exhausted)
    assert error_info(err).reason == "FILE_TOO_LARGE"

    for i in range(2):
        await write(stub, ws, f"part{i}", b"p" * 60_000)
    err = await refused(write(stub, ws, "part2", b"p" * 60_000), exhausted)
    assert error_info(err).reason == "WORKSPACE_TOO_LARGE"
    for i in range(6):
        await write(stub, ws, f"small{i}", b"s")
    assert (
        error_info(await refused(write(stub, ws, "one-too-many", b"s"), exhausted)).reason == "TOO_MANY_FILES"
    )

    err = await refused(
        stub.ReadFile(pb.ReadFileRequest(workspace_id=ws, path="part0")), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert error_info(err).reason == "FILE_TOO_LARGE_TO_READ"
    assert (await stub.GetWorkspace(pb.GetWorkspaceRequest(workspace_id=ws))).workspace.current_version == 8


async def test_create_from_archives(workspaces: Stub) -> None:
    entries = (
        Entry("./", kind=b"5"),
        Entry("./project/", kind=b"5"),
        Entry("./project/run.sh", b"#!/bin/sh\necho hi\n", mode=0o755),
        Entry("./project/lib/util.py", b"def f(): pass\n"),
        Entry("./empty-dir/", kind=b"5"),
    )
    for archive in (tar_gz(*entries), zip_bytes(*(e for e in entries if e.name != "./"))):
        created = await new_workspace(workspaces, name="from-archive", archive=archive)
        assert (created.current_version, created.file_count) == (1, 2)
        listing = await workspaces.ListFiles(pb.ListFilesRequest(workspace_id=created.id, path="project"))
        assert [(e.name, e.type) for e in listing.entries] == [
            ("lib", pb.FILE_TYPE_DIRECTORY),
            ("run.sh", pb.FILE_TYPE_FILE),
        ]
        script = await workspaces.ReadFile(pb.ReadFileRequest(workspace_id=created.id, path="project/run.sh"))
        assert (script.content, script.file.mode) == (b"#!/bin/sh\necho hi\n", 0o755)
