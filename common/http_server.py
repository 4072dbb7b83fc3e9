"""An ASGI application served by uvicorn inside an asyncio program.

The gateway and the executor's model proxy both run an HTTP server in a
process that owns its signals and its event loop: :class:`EmbeddedServer`
leaves signals to its host and reports when it accepts connections, and
:func:`listening_socket` binds before serving, so port 0 gives a free port
whose number is known at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signals to its host and reports start-up."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound socket on ``host:port`` (0: any free port), inheritable, ready for ``serve``."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock
