"""WorkspaceService served over real gRPC (GrpcServer, port 0) against the
test database and a local object store; S3 on moto's server where a test
asks for it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest
import pytest_asyncio
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from ccplane.v1 import workspaces_pb2, workspaces_pb2_grpc
from common.credentials import authorized_channel
from common.db.engine import Database
from common.grpc_server import GrpcServer, ServiceRegistration
from common.objectstore import LocalObjectStore, ObjectStore, open_store
from control_plane.workspaces.limits import WorkspaceLimits
from control_plane.workspaces.servicer import WorkspaceServicer
from tests.integration.objectstore.moto_server import new_s3_store, s3_endpoint
from tests.keys import auth_interceptor, create_key

__all__ = ["s3_endpoint"]

KiB = 1024
TIGHT = WorkspaceLimits(
    max_file_bytes=64 * KiB,
    max_workspace_bytes=160 * KiB,
    max_files=8,
    max_read_bytes=16 * KiB,
    upload_idle_timeout=1.0,
    max_archive_entries=20,
)
# Every wait in these tests fails loudly after this long.
TIMEOUT = 10.0


@asynccontextmanager
async def serve_workspaces(
    database: Database, objects: ObjectStore, limits: WorkspaceLimits | None = None
) -> AsyncIterator[workspaces_pb2_grpc.WorkspaceServiceStub]:
    server = GrpcServer(
        [
            ServiceRegistration(
                "ccplane.v1.WorkspaceService",
                WorkspaceServicer(database, objects, limits),
                workspaces_pb2_grpc.add_WorkspaceServiceServicer_to_server,
            )
        ],
        port=0,
        interceptors=[auth_interceptor(database)],
        service_name="ccplane-workspaces-test",
    )
    await server.start()
    try:
        async with authorized_channel(server.address, await create_key(database)) as channel:
            yield workspaces_pb2_grpc.WorkspaceServiceStub(channel)
    finally:
        await server.stop(grace=1)


@pytest.fixture(scope="session")
def objects_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("workspace-objects")


@pytest.fixture(scope="session")
def objects(objects_dir: Path) -> ObjectStore:
    return LocalObjectStore(objects_dir, fsync=False)


@pytest_asyncio.fixture(params=["local", "s3"], loop_scope="session")
async def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    """Each backend in turn, fresh: a directory, or a new bucket on moto."""
    store = (
        open_store((tmp_path / "objects").as_uri())
        if request.param == "local"
        else await new_s3_store(request.getfixturevalue("s3_endpoint"))
    )
    try:
        yield store
    finally:
        await store.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def workspaces(
    database: Database, objects: ObjectStore
) -> AsyncIterator[workspaces_pb2_grpc.WorkspaceServiceStub]:
    async with serve_workspaces(database, objects) as stub:
        yield stub


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def tight_workspaces(
    database: Database, objects: ObjectStore
) -> AsyncIterator[workspaces_pb2_grpc.WorkspaceServiceStub]:
    """The service with small limits, to cross them cheaply."""
    async with serve_workspaces(database, objects, TIGHT) as stub:
        yield stub


async def new_workspace(
    stub: workspaces_pb2_grpc.WorkspaceServiceStub, **fields: object
) -> workspaces_pb2.Workspace:
    answer = await stub.CreateWorkspace(workspaces_pb2.CreateWorkspaceRequest(**fields))  # type: ignore[arg-type]
    return answer.workspace


def error_info(err: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(err)
    assert status is not None, "error carries no google.rpc.Status"
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    raise AssertionError("no ErrorInfo detail")


def violated_fields(err: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(err)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            return [v.field for v in bad.field_violations]
    raise AssertionError(f"no BadRequest detail in {err.details()}")


async def refused(call: Awaitable[object], code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    """The error ``call`` fails with, which must have ``code``."""
    try:
        await call
    except grpc.aio.AioRpcError as err:
        assert err.code() == code, f"{err.code()} {err.details()}"
        return err
    raise AssertionError(f"expected {code}, the call succeeded")


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait until ``check()`` holds (cleanup that runs after a call's end)."""
    deadline = time.monotonic() + TIMEOUT
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.02)
