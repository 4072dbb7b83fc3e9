"""moto's standalone S3 server as a subprocess on a free loopback port.

The S3 backend is tested through the real aiobotocore client over HTTP
against it; nothing is patched in-process.
"""

from __future__ import annotations

import ctypes
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from common.objectstore import S3ObjectStore, open_store

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
    with pytest.MonkeyPatch.context() as env:
        for name, value in CREDENTIALS.items():
            env.setenv(name, value)
        env.delenv("AWS_PROFILE", raising=False)
        env.delenv("AWS_SESSION_TOKEN", raising=False)
        with moto_server(tmp_path_factory.mktemp("moto")) as endpoint:
            yield endpoint


async def new_s3_store(endpoint: str, *, part_size: int = 5 * 1024 * 1024) -> S3ObjectStore:
    """A store on a fresh bucket and prefix, opened the way the services open it."""
    bucket = f"ccplane-{secrets.token_hex(4)}"
    store = open_store(f"s3://{bucket}/t/{secrets.token_hex(3)}?endpoint={endpoint}&part_size={part_size}")
    assert isinstance(store, S3ObjectStore)
    await store.ensure_bucket()
    return store
