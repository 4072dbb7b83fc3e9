"""WorkspaceService: thin gRPC layer over the workspace domain.

File content is stored as a blob before the transaction that records the
version (see :mod:`control_plane.workspaces.changes`); an upload that fails
or is interrupted leaves no version behind. Before accepting content, a
write or upload checks cheaply that it could succeed (workspace exists, no
run holds it, expected version current), so a 1 GB upload is not sent only
to be refused at the end; the transaction checks again.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import grpc

from ccplane.v1 import workspaces_pb2, workspaces_pb2_grpc
from common.db.engine import Database
from common.errors import ServiceError, invalid_argument, resource_exhausted
from common.objectstore import ObjectStore
from common.paging import page_size
from control_plane.auth import Caller, current_caller
from control_plane.workspaces import reads, store, validation
from control_plane.workspaces.archive import files_from_archive
from control_plane.workspaces.changes import (
    Change,
    DeletePath,
    PutFile,
    RenamePath,
    RequestKey,
    apply_change,
    create_workspace,
    ensure_expected_version,
    ensure_not_held,
)
from control_plane.workspaces.convert import audit_to_proto, file_to_proto, workspace_to_proto
from control_plane.workspaces.limits import WorkspaceLimits
from control_plane.workspaces.objects import put_blob, put_blob_stream
from control_plane.workspaces.records import AuditAction, ChangeResult

MAX_ACTOR_CHARS = 128


class WorkspaceServicer(workspaces_pb2_grpc.WorkspaceServiceServicer):
    def __init__(self, db: Database, objects: ObjectStore, limits: WorkspaceLimits | None = None) -> None:
        self._db = db
        self._objects = objects
        self._limits = limits or WorkspaceLimits()

    # -- workspaces ---------------------------------------------------------------

    async def CreateWorkspace(
        self, request: workspaces_pb2.CreateWorkspaceRequest, context: grpc.aio.ServicerContext
    ) -> workspaces_pb2.CreateWorkspaceResponse:
        name = validation.workspace_name(request.name)
        labels = validation.labels(dict(request.labels))
        key = validation.request_key(
            "CreateWorkspace",
            request.request_id,
            name,
            sorted(labels.items()),
            hashlib.sha256(request.archive).hexdigest(),
        )
        files = (
            await files_from_archive(self._objects, request.archive, self._limits) if request.archive else {}
        )
        async with self._db.session() as session, session.begin():
            workspace = await create_workspace(
                session, self._objects, current_caller(), name=name, labels=labels, files=files, request=key
            )
        return workspaces_pb2.CreateWorkspaceResponse(workspace=workspace_to_proto(workspace))

    async def GetWorkspace(
        self, request: workspaces_pb2.GetWorkspaceRequest, context: grpc.aio.ServicerContext
    ) -> workspaces_pb2.GetWorkspaceResponse:
        workspace_id = validation.require_workspace_id(request.workspace_id)
        async with self._db.session() as session:
            workspace = await store.get_workspace(session, current_caller().tenant_id, workspace_id)
        return workspaces_pb2.GetWorkspaceResponse(workspace=workspace_to_proto(workspace))

    async def ListWorkspaces(
        self, request: workspaces_pb2.ListWorkspacesRequest, context: grpc.aio.ServicerContext
    ) -> workspaces_pb2.ListWorkspacesResponse:
        size = page_size(request.page_size)
        async with self._db.session() as session:
            found, token = await store.list_workspaces(
                session, current_caller().tenant_id, page_size=size, page_token=request.page_token
            )
        return workspaces_pb2.ListWorkspacesResponse(
            workspaces=[workspace_to_proto(w) for w in found], next_page_token=token
        )

    # -- reading files --------------------------------------------------------------

    async def ListFiles(
        self, request: workspaces_pb2.ListFilesRequest, context: grpc.aio.ServicerContext
    ) -> workspaces_pb2.ListFilesResponse:
        workspace_id = validation.require_workspace_id(request.workspace_id)
        directory = validation.require_path("path", request.path, directory=True)
        version = validation.version("version", request.version)
        async with self._db.session() as session:
            entries, found_version = await reads.list_files(
                session, self._objects, current_caller(), workspace_id, directory=directory, version=version
            )
        return workspaces_pb2.ListFilesResponse(
            entries=[file_to_proto(e) for e in entries], version=found_version
        )

    async def ReadFile(
        self, request: workspaces_pb2.ReadFileRequest, context: grpc.aio.ServicerContext
    ) -> workspaces_pb2.ReadFileResponse:
        workspace_id = validation.require_workspace_id(request.workspace_id)
        path = validation.require_path("path", request.path)
        version = validation.version("version", request.version)
        async with self._db.session() as session:
            found = await reads.read_file(
                session,
                self._objects,
                current_caller(),
                workspace_id,
                path=path,
                version=version,
                limits=self._limits,
            )
        return workspaces_pb2.ReadFileResponse(
            content=found.content, version=found.version, file=file_to_proto(found.file)
        )

    # -- changing files ---------------------------------------------------------------

    async def WriteFile(
        self, request: workspaces_pb2.WriteFileRequest, context: grpc.aio.ServicerContext
    ) -> workspaces_pb2.WriteFileResponse:
        caller = current_caller()
        workspace_id = validation.require_workspace_id(request.workspace_id)
        path = validation.require_path("path", request.path)
        mode = validation.file_mode("mode", request.mode)
        expected = validation.version("expected_version", request.expected_version)
        if len(request.content) > self._limits.max_file_bytes:
            raise self._file_too_large()
        content_sha = hashlib.sha256(request.content).hexdigest()
        key = validation.request_key(
            "WriteFile", request.request_id, workspace_id, path, content_sha, mode, expected
        )
        await self._precheck(caller, workspace_id, expected, retry=key is not None)
        blob = await put_blob(self._objects, request.content)
        result = await self._apply(
            caller, workspace_id, PutFile(path, blob, mode, AuditAction.WRITE), expected, key
        )
        return workspaces_pb2.WriteFileResponse(
            workspace=workspace_to_proto(result.workspace),
            file=file_to_proto(result.file) if result.file else None,
            version=result.version,
        )

    async def _next_part(
        self, messages: AsyncIterator[workspaces_pb2.UploadFileRequest]
    ) -> workspaces_pb2.UploadFileRequest | None:
        """The upload's next message (None at its end), within the idle timeout."""
        idle = self._limits.upload_idle_timeout
        try:
            async with asyncio.timeout(idle):
                return await anext(messages)
        except StopAsyncIteration:
            return None
        except TimeoutError:
            raise ServiceError(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                "UPLOAD_STALLED",
                f"the upload sent nothing for {idle:g} s and was abandoned",
            ) from None

    async def UploadFile(
        self,
        request_iterator: AsyncIterator[workspaces_pb2.UploadFileRequest],
        context: grpc.aio.ServicerContext,
    ) -> workspaces_pb2.UploadFileResponse:
        caller = current_caller()
        messages = aiter(request_iterator)
        first = await self._next_part(messages)
        if first is None or first.WhichOneof("part") != "header":
            raise invalid_argument("header", "the first message must carry the upload header")
        header = first.header
        workspace_id = validation.require_workspace_id(header.workspace_id, "header.workspace_id")
        path = validation.require_path("header.path", header.path)
        mode = validation.file_mode("header.mode", header.mode)
        expected = validation.version("header.expected_version", header.expected_version)
        announced = validation.version("header.size", header.size)
        validation.validate_request_id(header.request_id)
        if announced > self._limits.max_file_bytes:
            raise self._file_too_large()
        await self._precheck(caller, workspace_id, expected, retry=bool(header.request_id))

        async def chunks() -> AsyncIterator[bytes]:
            while (message := await self._next_part(messages)) is not None:
                if message.WhichOneof("part") != "chunk":
                    raise invalid_argument("header", "only the first message may carry the header")
                yield message.chunk

        blob = await put_blob_stream(self._objects, chunks(), max_bytes=self._limits.max_file_bytes)
        if announced and blob.size != announced:
            raise invalid_argument("header.size", f"announced {announced} bytes but {blob.size} arrived")
        key = validation.request_key(
            "UploadFile", header.request_id, workspace_id, path, blob.sha256, mode, expected
        )
        result = await self._apply(
            caller, workspace_id, PutFile(path, blob, mode, AuditAction.UPLOAD), expected, key
        )
        return workspaces_pb2.UploadFileResponse(
            workspace=workspace_to_proto(result.workspace),
            file=file_to_proto(result.file) if result.file else None,
            version=result.version,
        )

    async def RenameFile(
        self, request: workspaces_pb2.RenameFileRequest, context: grpc.aio.ServicerContext
    ) -> workspaces_pb2.RenameFileResponse:
        workspace_id = validation.require_workspace_id(request.workspace_id)
        path = validation.require_path("path", request.path)
        new_path = validation.require_path("new_path", request.new_path)
        expected = validation.version("expected_version", request.expected_version)
        key = validation.request_key("RenameFile", request.request_id, workspace_id, path, new_path, expected)
        result = await self._apply(current_caller(), workspace_id, RenamePath(path, new_path), expected, key)
        return workspaces_pb2.RenameFileResponse(
            workspace=workspace_to_proto(result.workspace),
            file=file_to_proto(result.file) if result.file else None,
            version=result.version,
        )

    async def DeleteFile(
        self, request: workspaces_pb2.DeleteFileRequest, context: grpc.aio.ServicerContext
    ) -> workspaces_pb2.DeleteFileResponse:
        workspace_id = validation.require_workspace_id(request.workspace_id)
        path = validation.require_path("path", request.path)
        expected = validation.version("expected_version", request.expected_version)
        key = validation.request_key("DeleteFile", request.request_id, workspace_id, path, expected)
        result = await self._apply(current_caller(), workspace_id, DeletePath(path), expected, key)
        return workspaces_pb2.DeleteFileResponse(
            workspace=workspace_to_proto(result.workspace), version=result.version
        )

    # -- audit ----------------------------------------------------------------------------

    async def ListAuditEvents(
        self, request: workspaces_pb2.ListAuditEventsRequest, context: grpc.aio.ServicerContext
    ) -> workspaces_pb2.ListAuditEventsResponse:
        workspace_id = validation.require_workspace_id(request.workspace_id)
        size = page_size(request.page_size)
        path = validation.require_path("path", request.path) if request.path else ""
        if len(request.actor) > MAX_ACTOR_CHARS:
            raise invalid_argument("actor", f"must be at most {MAX_ACTOR_CHARS} characters")
        async with self._db.session() as session:
            events, token = await store.list_audit(
                session,
                current_caller().tenant_id,
                workspace_id,
                page_size=size,
                page_token=request.page_token,
                path=path,
                actor=request.actor,
            )
        return workspaces_pb2.ListAuditEventsResponse(
            events=[audit_to_proto(e) for e in events], next_page_token=token
        )

    # -- helpers ----------------------------------------------------------------------------

    async def _precheck(
        self, caller: Caller, workspace_id: str, expected_version: int, *, retry: bool
    ) -> None:
        """Fail early, before content is accepted. A request with a request
        id may be the retry of one that succeeded, so then only existence
        counts (the transaction answers a retry with the earlier result)."""
        async with self._db.session() as session:
            workspace = await store.get_workspace(session, caller.tenant_id, workspace_id)
        if not retry:
            ensure_not_held(workspace)
            ensure_expected_version(workspace, expected_version)

    async def _apply(
        self, caller: Caller, workspace_id: str, change: Change, expected: int, key: RequestKey | None
    ) -> ChangeResult:
        async with self._db.session() as session, session.begin():
            return await apply_change(
                session,
                self._objects,
                caller,
                workspace_id,
                change,
                expected_version=expected,
                request=key,
                limits=self._limits,
            )

    def _file_too_large(self) -> ServiceError:
        limit = self._limits.max_file_bytes
        return resource_exhausted("FILE_TOO_LARGE", f"a file has at most {limit} bytes", limit=str(limit))
