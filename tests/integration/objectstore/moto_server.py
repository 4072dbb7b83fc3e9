"""moto's standalone S3 server as a subprocess on a free loopback port, and
in this process as a server that can go down and come back
(:class:`OutageMotoServer`).

The S3 backend is tested through the real aiobotocore client over HTTP
against it; nothing is patched in-process.
"""

from __future__ import annotations

import contextlib
import ctypes
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import ThreadedWSGIServer

from common.objectstore import RetryPolicy, S3ObjectStore, open_store

START_TIMEOUT = 30.0
_PR_SET_PDEATHSIG = 1
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "ccplane-test",
    "AWS_SECRET_ACCESS_KEY": "ccplane-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _die_with_parent() -> None:
    """Runs in the child before exec: a test run killed hard takes moto with it."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def moto_server(log_dir: Path) -> Iterator[str]:
    """Run ``python -m moto.server``; yields its endpoint URL."""
    port = _free_port()
    log = open(log_dir / "moto.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, before any thread matters
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"moto server exited with {proc.returncode}; see {log_dir / 'moto.log'}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("moto server did not start listening") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto S3 endpoint; AWS credentials for it are in the environment meanwhile."""
    with s3_credentials(), moto_server(tmp_path_factory.mktemp("moto")) as endpoint:
        yield endpoint


class _CuttableServer(ThreadedWSGIServer):
    """A threaded WSGI server that knows its open connections, to cut them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connections: set[socket.socket] = set()
        self._lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def cut_connections(self) -> None:
        with self._lock:
            connections, self.connections = self.connections, set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class OutageMotoServer:
    """moto's S3 server in this process, on a loopback port of its own, that
    can go down and come back.

    :meth:`stop` closes the port (new connections are refused) and cuts every
    open one, mid-request or idle in a client's pool; :meth:`start` serves
    on the same port again. moto keeps its buckets in this process, so they
    survive the outage, as a real store's disks would. Clients in other
    processes (executors) reach it over loopback like any S3 endpoint."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server: _CuttableServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        if self._server is not None:
            return
        app = DomainDispatcherApplication(create_backend_app)
        server = _CuttableServer("127.0.0.1", self.port, app, handler=MotoRequestHandler)
        thread = threading.Thread(target=server.serve_forever, name=f"moto-{self.port}", daemon=True)
        thread.start()
        self._server, self._thread = server, thread

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._server = self._thread = None
        server.shutdown()
        server.server_close()
        server.cut_connections()
        thread.join(10)


@contextmanager
def s3_credentials() -> Iterator[None]:
    """The credentials moto accepts, in the environment (and so in the
    environment of processes started meanwhile)."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in CREDENTIALS.items():
            env.setenv(name, value)
        env.delenv("AWS_PROFILE", raising=False)
        env.delenv("AWS_SESSION_TOKEN", raising=False)
        yield


async def new_s3_store(
    endpoint: str, *, part_size: int = 5 * 1024 * 1024, retry: RetryPolicy | None = None
) -> S3ObjectStore:
    """A store on a fresh bucket and prefix, opened the way the services open it."""
    bucket = f"ccplane-{secrets.token_hex(4)}"
    store = open_store(
        f"s3://{bucket}/t/{secrets.token_hex(3)}?endpoint={endpoint}&part_size={part_size}", retry=retry
    )
    assert isinstance(store, S3ObjectStore)
    await store.ensure_bucket()
    return store
