"""The whole platform in one process tree, on loopback: what ``ccplane up`` runs.

Each part still speaks real gRPC to the others. Start-up: the database
(embedded PostgreSQL when no URL is configured), migrations, the control
plane. Shutdown runs in reverse order, in phases.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

from common.db.embedded import EmbeddedPostgres
from common.settings import Settings
from control_plane.app import ControlPlane

log = logging.getLogger(__name__)


@dataclass
class Stack:
    settings: Settings
    embedded: EmbeddedPostgres | None = None
    control_plane: ControlPlane | None = None
    database_url: str = ""
    _stopped: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def grpc_address(self) -> str:
        assert self.control_plane is not None
        return self.control_plane.address

    async def start(self) -> None:
        self.database_url = await resolve_database(self)
        self.control_plane = ControlPlane(self.settings, self.database_url)
        await self.control_plane.start()

    async def stop(self) -> None:
        if self.control_plane is not None:
            await self.control_plane.stop()
            self.control_plane = None
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)
            self.embedded = None


async def resolve_database(stack: Stack) -> str:
    """The configured database URL, or an embedded PostgreSQL's."""
    if stack.settings.database_url:
        return stack.settings.database_url
    data_dir: Path = stack.settings.resolved_data_dir()
    stack.embedded = EmbeddedPostgres(data_dir)
    url = await asyncio.to_thread(stack.embedded.start)
    log.info("using embedded PostgreSQL", extra={"data_dir": str(data_dir)})
    return url
