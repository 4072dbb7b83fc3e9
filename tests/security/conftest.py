"""A platform of its own for hostile runs: one executor, so the attacker's
runs share it with a victim tenant's live run, and low session limits, so
exhaustion is quick."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from common.cli.stack import Stack, StackOptions
from common.db.engine import Database
from common.settings import Settings
from control_plane import api_keys
from executor.providers.codex.config import ModelConfig
from tests.keys import INTERNAL_TOKEN
from tests.platform import own_database, scenario_library, wait_for_ready_executors
from tests.security import attacks

SESSION_LIMITS = {"CCPLANE_SESSION_MEMORY": "1GiB", "CCPLANE_SESSION_MAX_PROCESSES": "256"}


@dataclass
class Hostile:
    stack: Stack
    data_dir: Path
    victim_key: str
    attacker_key: str
    # A tenant an admin allowed danger_full_access.
    trusted_attacker_key: str
    # Written by the victim's run into its workspace.
    victim_file_secret: str
    # In the victim's prompt (so in its Codex rollout) and its environment.
    victim_prompt_secret: str
    victim_env_secret: str

    def secrets(self) -> dict[str, str]:
        """Everything no attacking run may ever print, by name."""
        assert self.stack.database_url is not None
        found = {
            "admin key": self.stack.admin_key,
            "internal token": INTERNAL_TOKEN,
            "model API key": ModelConfig.scripted("http://unused").api_key or "",
            "database name": self.stack.database_url.rsplit("/", 1)[-1].split("?")[0],
            "victim workspace file": self.victim_file_secret,
            "victim prompt": self.victim_prompt_secret,
            "victim environment": self.victim_env_secret,
        }
        internal_key_file = self.data_dir / "internal.key"
        if internal_key_file.exists():
            found["internal.key file"] = internal_key_file.read_text().strip()
        assert all(found.values()), found
        return found


@pytest.fixture(scope="package")
def security_db_url(postgres_server_url: str) -> Iterator[str]:
    with own_database(postgres_server_url, "ccplane_security") as url:
        yield url


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def hostile(security_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hostile]:
    victim_file_secret = "victim-file-" + secrets.token_hex(12)
    saved = {k: os.environ.get(k) for k in SESSION_LIMITS}
    os.environ.update(SESSION_LIMITS)
    data_dir = tmp_path_factory.mktemp("ccplane-security")
    settings = Settings()
    settings.database_url = security_db_url
    settings.data_dir = data_dir
    stack = Stack(
        settings,
        StackOptions(
            demo=True,
            scenario=scenario_library("security", attacks.library(victim_file_secret)),
            min_executors=1,
            max_executors=1,
            slots_per_executor=5,
            heartbeat_interval=1.0,
            heartbeat_timeout=30.0,
            manager_port=0,
            grpc_port=0,
            serve_gateway=False,
        ),
    )
    database = Database(security_db_url, pool_size=2, application_name="ccplane-security-tests")
    try:
        await stack.start()
        await wait_for_ready_executors(stack, 1)
        async with database.session() as session, session.begin():
            victim = await api_keys.create_key(session, tenant="victim", role="user", name="victim")
            attacker = await api_keys.create_key(session, tenant="attacker", role="user", name="attacker")
            trusted = await api_keys.create_key(session, tenant="trusted", role="user", name="trusted")
            await api_keys.set_tenant_limits(session, "trusted", allow_full_access=True)
        yield Hostile(
            stack=stack,
            data_dir=data_dir,
            victim_key=victim.secret,
            attacker_key=attacker.secret,
            trusted_attacker_key=trusted.secret,
            victim_file_secret=victim_file_secret,
            victim_prompt_secret="victim-prompt-" + secrets.token_hex(12),
            victim_env_secret="victim-env-" + secrets.token_hex(12),
        )
    finally:
        await stack.stop()
        await database.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
