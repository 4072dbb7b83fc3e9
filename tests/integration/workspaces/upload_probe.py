"""Uploads a large file through the real UploadFile RPC and reports how much
the process's memory grew meanwhile, as JSON on stdout.

Run as ``python -m tests.integration.workspaces.upload_probe DB_URL DIR SIZE``
by ``test_large_upload.py``: a process of its own, so that its peak memory
says something about this upload alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import resource
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psutil

from ccplane.v1 import workspaces_pb2 as pb
from ccplane.v1 import workspaces_pb2_grpc
from common.credentials import authorized_channel
from common.db.engine import Database
from common.grpc_server import GrpcServer, ServiceRegistration
from common.objectstore import LocalObjectStore
from common.objectstore.layout import blob_key
from control_plane.workspaces.limits import GiB, MiB, WorkspaceLimits
from control_plane.workspaces.servicer import WorkspaceServicer
from tests.keys import auth_interceptor, create_key

CHUNK = 1 * MiB


class PeakRss:
    """Samples the resident set size every few milliseconds."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self.peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def main(db_url: str, directory: Path, size: int) -> dict[str, float]:
    db = Database(db_url, pool_size=2, max_overflow=2)
    objects = LocalObjectStore(directory)
    limits = WorkspaceLimits(max_file_bytes=1 * GiB, max_workspace_bytes=2 * GiB)
    server = GrpcServer(
        [
            ServiceRegistration(
                "ccplane.v1.WorkspaceService",
                WorkspaceServicer(db, objects, limits),
                workspaces_pb2_grpc.add_WorkspaceServiceServicer_to_server,
            )
        ],
        port=0,
        interceptors=[auth_interceptor(db)],
    )
    await server.start()
    try:
        async with authorized_channel(server.address, await create_key(db)) as channel:
            stub = workspaces_pb2_grpc.WorkspaceServiceStub(channel)
            ws = (await stub.CreateWorkspace(pb.CreateWorkspaceRequest(name="large"))).workspace.id
            # Warm the call path with a small upload so one-time allocations
            # (gRPC buffers, SQLAlchemy statement caches) are not counted.
            await stub.UploadFile(upload(ws, "warm.bin", 4 * CHUNK, hashlib.sha256()))
            digest = hashlib.sha256()
            before_rss = psutil.Process().memory_info().rss
            before_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            started = time.monotonic()
            with PeakRss() as sampled:
                answer = await stub.UploadFile(upload(ws, "data/large.bin", size, digest))
            seconds = time.monotonic() - started
            after_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    finally:
        await server.stop(grace=1)
        await db.close()
    stored = (directory / blob_key(digest.hexdigest())).stat().st_size
    return {
        "size": size,
        "stored": stored,
        "version": answer.version,
        "sha_ok": answer.file.sha256 == digest.hexdigest() and answer.file.size == size,
        "sampled_growth": sampled.peak - before_rss,
        "maxrss_growth": max(0, after_peak - before_peak),
        "seconds": seconds,
    }


async def upload(ws: str, path: str, size: int, digest: hashlib._Hash) -> AsyncIterator[pb.UploadFileRequest]:
    yield pb.UploadFileRequest(header=pb.UploadFileHeader(workspace_id=ws, path=path, size=size))
    sent = 0
    while sent < size:
        chunk = os.urandom(min(CHUNK, size - sent))
        digest.update(chunk)
        sent += len(chunk)
        yield pb.UploadFileRequest(chunk=chunk)


if __name__ == "__main__":
    result = asyncio.run(main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])))
    print(json.dumps(result))
