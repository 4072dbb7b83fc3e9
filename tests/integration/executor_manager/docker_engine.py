"""A real Docker engine and the ccplane image, for the docker backend's tests.

The engine is Debian's ``docker.io`` (``make system`` installs it); when no
engine answers, ``dockerd`` is started in the background by
``tools/docker/images.py`` (as root). No image can be pulled here: the image
is built locally by the same tool (``make image``), offline, on a debootstrap
base, from a wheelhouse, and tagged by a hash of its inputs, so it is only
rebuilt when the sources change. When Docker cannot run or the image does
not build, these tests fail, saying so: they never skip.

Containers reach the host on the default bridge's gateway address: the
managers and model servers of these tests listen there, so that all traffic
stays on the machine.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiodocker
import pytest
import pytest_asyncio

from common.credentials import INTERNAL_TOKEN_ENV
from executor_manager.app import ExecutorManager
from executor_manager.backends import ExecutorHandle
from executor_manager.backends.docker import LABEL_EXECUTOR_ID, DockerBackend, DockerLimits
from tests.integration.executor_manager.conftest import local_backend, manager_config
from tests.platform import own_database
from tools.docker import images

NO_DOCKER = (
    "the docker backend is tested against a real Docker engine, and none can run here: {why}. "
    "Run `make system` as root (it installs Debian's docker.io and debootstrap); the tests then "
    "start dockerd and build the image themselves (`make image` does it ahead)."
)
CONTRACT_LIMITS = DockerLimits(memory_bytes=1024**3, cpus=1.0, pids=1024)


@dataclass
class DockerEngine:
    client: aiodocker.Docker
    # Where containers on the default bridge reach this host.
    gateway: str

    async def volume_exists(self, name: str) -> bool:
        try:
            await self.client.volumes.get(name)
        except aiodocker.DockerError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def containers_of(self, executor_id: str) -> list[str]:
        """Containers (running or not) of the executor, by their label."""
        found = await self.client.containers.list(
            all=True, filters=json.dumps({"label": [f"{LABEL_EXECUTOR_ID}={executor_id}"]})
        )
        return [f"{c.id[:12]} {c['State']}" for c in found]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def docker_engine() -> AsyncIterator[DockerEngine]:
    try:
        await asyncio.to_thread(images.ensure_engine)
    except (SystemExit, OSError, subprocess.CalledProcessError) as exc:
        pytest.fail(NO_DOCKER.format(why=exc), pytrace=False)
    client = aiodocker.Docker()
    try:
        bridge = await (await client.networks.get("bridge")).show()
        (ipam,) = bridge["IPAM"]["Config"]
        # The default bridge may not say; its gateway is then the subnet's first address.
        gateway = str(ipam.get("Gateway") or ipaddress.ip_network(ipam["Subnet"])[1])
        yield DockerEngine(client, gateway)
    finally:
        await client.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def executor_image(docker_engine: DockerEngine) -> str:
    """The ccplane image of these sources (built when missing, in a thread:
    the session's event loop serves other managers meanwhile)."""
    try:
        return await asyncio.to_thread(images.ccplane_image)
    except (SystemExit, OSError, subprocess.CalledProcessError) as exc:
        pytest.fail(NO_DOCKER.format(why=f"the ccplane image does not build: {exc}"), pytrace=False)


@dataclass
class DockerSite:
    """A manager executor containers reach (on the bridge), and the image."""

    engine: DockerEngine
    manager: ExecutorManager
    image: str

    def backend(self) -> DockerBackend:
        # The deployment's internal credential, as a manager's executor_env gives it.
        env = {INTERNAL_TOKEN_ENV: self.manager.config.internal_token, "CCPLANE_LOG_FORMAT": "text"}
        return DockerBackend(image=self.image, limits=CONTRACT_LIMITS, env=env)

    async def leftovers(self, handle: ExecutorHandle) -> list[str]:
        return await self.engine.containers_of(handle.executor_id)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def docker_site(
    docker_engine: DockerEngine,
    executor_image: str,
    postgres_server_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[DockerSite]:
    data_dir: Path = tmp_path_factory.mktemp("docker-site")
    # A database of its own: a second manager sweeping the shared one would
    # change the shared manager's executors without it hearing of it.
    with own_database(postgres_server_url, "ccplane_docker_site") as database_url:
        # Its own pool starts nothing; the contract's backend starts the containers.
        manager = ExecutorManager(manager_config(data_dir), database_url, backend=local_backend(data_dir))
        await manager.start(docker_engine.gateway, 0)
        try:
            yield DockerSite(docker_engine, manager, executor_image)
        finally:
            await manager.stop()
