"""The path-traversal corpus through every RPC that takes a path: each case
is INVALID_ARGUMENT naming its field, and nothing changes."""

from __future__ import annotations

import tarfile
from collections.abc import AsyncIterator

import grpc

from ccplane.v1 import workspaces_pb2 as pb
from ccplane.v1 import workspaces_pb2_grpc
from tests.integration.workspaces.conftest import error_info, new_workspace, refused, violated_fields
from tests.unit.workspaces.archives import Entry, tar_gz, zip_bytes
from tests.unit.workspaces.corpus import TRAVERSAL

Stub = workspaces_pb2_grpc.WorkspaceServiceStub
INVALID = grpc.StatusCode.INVALID_ARGUMENT


async def one_upload(header: pb.UploadFileHeader) -> AsyncIterator[pb.UploadFileRequest]:
    yield pb.UploadFileRequest(header=header)
    yield pb.UploadFileRequest(chunk=b"payload")


def requests(ws: str, bad: str) -> list[tuple[object, str]]:
    """Each RPC with ``bad`` in one of its path fields, and that field's name."""
    return [
        (lambda s: s.WriteFile(pb.WriteFileRequest(workspace_id=ws, path=bad, content=b"x")), "path"),
        (lambda s: s.ReadFile(pb.ReadFileRequest(workspace_id=ws, path=bad)), "path"),
        (lambda s: s.DeleteFile(pb.DeleteFileRequest(workspace_id=ws, path=bad)), "path"),
        (lambda s: s.RenameFile(pb.RenameFileRequest(workspace_id=ws, path=bad, new_path="ok")), "path"),
        (lambda s: s.RenameFile(pb.RenameFileRequest(workspace_id=ws, path="ok", new_path=bad)), "new_path"),
        (lambda s: s.UploadFile(one_upload(pb.UploadFileHeader(workspace_id=ws, path=bad))), "header.path"),
    ]


async def test_every_corpus_path_is_refused_by_every_rpc(workspaces: Stub) -> None:
    ws = (await new_workspace(workspaces)).id
    await workspaces.WriteFile(pb.WriteFileRequest(workspace_id=ws, path="ok", content=b"ok"))
    checked = 0
    for bad in TRAVERSAL:
        if not utf8(bad):
            continue  # protobuf strings are UTF-8: such a path cannot be sent
        for call, field in requests(ws, bad):
            err = await refused(call(workspaces), INVALID)  # type: ignore[operator]
            assert violated_fields(err) == [field], (bad, err.details())
            checked += 1
        if bad:  # the empty path is the root directory, which ListFiles accepts
            err = await refused(workspaces.ListFiles(pb.ListFilesRequest(workspace_id=ws, path=bad)), INVALID)
            assert violated_fields(err) == ["path"]
            err = await refused(
                workspaces.ListAuditEvents(pb.ListAuditEventsRequest(workspace_id=ws, path=bad)), INVALID
            )
            assert violated_fields(err) == ["path"]
    assert checked >= 40 * 6, checked
    workspace = (await workspaces.GetWorkspace(pb.GetWorkspaceRequest(workspace_id=ws))).workspace
    assert (workspace.current_version, workspace.file_count) == (1, 1), "nothing was changed"


# Archive names that are fine: a leading "./" is dropped, a trailing "/" marks a
# directory ("/" alone is the root).
ARCHIVE_NORMALISED = {"./a", "a/", "a/b/", "/"}


def utf8(name: str) -> bool:
    try:
        name.encode()
    except UnicodeEncodeError:
        return False
    return True


def representable(name: str) -> bool:
    """Whether an archive can carry the name: tar and zip end names at NUL
    (a zip name with a NUL in it is checked in the unit tests)."""
    return utf8(name) and bool(name) and "\0" not in name


async def test_archives_with_traversal_or_links_are_refused(workspaces: Stub) -> None:
    hostile = [bad for bad in TRAVERSAL if bad not in ARCHIVE_NORMALISED and representable(bad)]
    assert len(hostile) >= 35
    for bad in hostile:
        for archive in (tar_gz(Entry(bad, b"x")), zip_bytes(Entry(bad, b"x"))):
            err = await refused(new_workspace(workspaces, archive=archive), INVALID)
            assert violated_fields(err) == ["archive"]
    for links in (
        tar_gz(Entry("escape", kind=tarfile.SYMTYPE, link="../../etc")),
        tar_gz(Entry("hard", kind=tarfile.LNKTYPE, link="/etc/passwd")),
        zip_bytes(Entry("escape", kind=tarfile.SYMTYPE, link="/etc/passwd")),
    ):
        err = await refused(new_workspace(workspaces, archive=links), INVALID)
        assert "links are not allowed" in (err.details() or "")
        assert error_info(err).metadata["field"] == "archive"
