"""A gateway in front of the session's control plane, an HTTP client, and runs to look at."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
import pytest_asyncio

from ccplane.v1 import common_pb2, events_pb2
from common.db.engine import Database
from control_plane.app import ControlPlane
from control_plane.todos.store import append_events_with_todos
from gateway import Gateway

# Small enough to test 413 cheaply, large enough for every other request.
MAX_BODY_BYTES = 256 * 1024
KEEPALIVE_S = 0.5


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def gateway(control_plane: ControlPlane) -> AsyncIterator[Gateway]:
    gw = Gateway(
        control_plane.address,
        max_body_bytes=MAX_BODY_BYTES,
        keepalive_interval=KEEPALIVE_S,
        first_event_grace=0.5,
    )
    await gw.start("127.0.0.1", 0)
    try:
        yield gw
    finally:
        await gw.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def client(gateway: Gateway, admin_key: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client that sends the default tenant's admin key."""
    async with httpx.AsyncClient(
        base_url=gateway.url, timeout=20.0, headers={"authorization": f"Bearer {admin_key}"}
    ) as http:
        yield http


@pytest_asyncio.fixture(loop_scope="session")
async def anonymous(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client without credentials."""
    async with httpx.AsyncClient(base_url=gateway.url, timeout=20.0) as http:
        yield http


CreateRun = Callable[..., Awaitable[str]]


@pytest.fixture
def create_run(client: httpx.AsyncClient) -> CreateRun:
    """``await create_run(prompt=...)``: a queued run created through ``POST /api/runs``; its id."""

    async def create(**body: object) -> str:
        response = await client.post("/api/runs", json={"prompt": "say hello", **body})
        assert response.status_code == 200, response.text
        return str(response.json()["run"]["id"])

    return create


def _delta(text: str) -> events_pb2.RunEvent:
    return events_pb2.RunEvent(message_delta=events_pb2.MessageDelta(item_id="msg", delta=text))


def _todos(*steps: str) -> events_pb2.RunEvent:
    items = [
        common_pb2.TodoItem(text=text, status=common_pb2.TODO_STATUS_PENDING, order=i)
        for i, text in enumerate(steps)
    ]
    return events_pb2.RunEvent(todos_updated=events_pb2.TodosUpdated(items=items, explanation="plan"))


@pytest_asyncio.fixture(loop_scope="session")
async def finished_run(create_run: CreateRun, client: httpx.AsyncClient, database: Database) -> str:
    """A canceled run with a finite log of 8 events: created, 4 deltas and 2 todo versions, canceled."""
    run_id = await create_run(prompt="a run with a story")
    async with database.session() as session, session.begin():
        await append_events_with_todos(
            session,
            run_id,
            [_delta("a"), _delta("b"), _todos("read"), _delta("c"), _todos("read", "write"), _delta("d")],
        )
    stopped = await client.post(f"/api/runs/{run_id}/stop", json={"reason": "enough"})
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["run"]["status"] == "RUN_STATUS_CANCELED"
    return run_id
