"""Helpers for the human-loop tests: requests as the executor reports them, and readers.

``notifications`` LISTENs on ``ccplane_run_commands`` on a connection of its
own, the way a run's owner does, so tests see the wake-ups that replies and
expiry send at commit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest_asyncio
from sqlalchemy import select

from ccplane.v1 import common_pb2, events_pb2, human_loop_pb2
from common import ids
from common.db.engine import Database
from common.db.models import AgentRun, HumanLoopRequest
from control_plane.auth import Caller
from control_plane.events.log import read_events
from control_plane.human_loop import store
from control_plane.human_loop.records import RecordedRequest
from control_plane.orchestration import commands
from tests.conftest import TEST_TENANT, libpq_url

CALLER = Caller(tenant_id=TEST_TENANT, key_id="key_alice")
OTHER_TENANT = Caller(tenant_id="ten_other", key_id="key_mallory")
# Every wait in these tests fails loudly after this long.
TIMEOUT = 10.0

ACCEPT = human_loop_pb2.APPROVAL_DECISION_ACCEPT
ACCEPT_FOR_SESSION = human_loop_pb2.APPROVAL_DECISION_ACCEPT_FOR_SESSION
DECLINE = human_loop_pb2.APPROVAL_DECISION_DECLINE
CANCEL = human_loop_pb2.APPROVAL_DECISION_CANCEL


def command_approval(
    question_id: str | None = None,
    *,
    decisions: tuple[int, ...] = (ACCEPT, ACCEPT_FOR_SESSION, DECLINE, CANCEL),
    turn_id: str = "turn-1",
) -> events_pb2.RunEvent:
    """A ``human_loop.requested`` event for a command approval, as the executor sends it."""
    return events_pb2.RunEvent(
        type="human_loop.requested",
        turn_id=turn_id,
        human_loop_requested=events_pb2.HumanLoopRequested(
            question_id=question_id or ids.new_id(ids.QUESTION),
            kind=human_loop_pb2.HUMAN_LOOP_KIND_COMMAND_APPROVAL,
            item_id="call_1",
            details=human_loop_pb2.HumanLoopDetails(
                command_approval=human_loop_pb2.CommandApprovalDetails(
                    item_id="call_1",
                    command="rm -rf build",
                    cwd="/work",
                    reason="clean the build",
                    available_decisions=decisions,
                )
            ),
        ),
    )


def user_input(*questions: human_loop_pb2.UserInputQuestion, turn_id: str = "turn-1") -> events_pb2.RunEvent:
    return events_pb2.RunEvent(
        turn_id=turn_id,
        human_loop_requested=events_pb2.HumanLoopRequested(
            question_id=ids.new_id(ids.QUESTION),
            kind=human_loop_pb2.HUMAN_LOOP_KIND_USER_INPUT,
            item_id="tool_1",
            details=human_loop_pb2.HumanLoopDetails(
                user_input=human_loop_pb2.UserInputDetails(item_id="tool_1", questions=questions)
            ),
        ),
    )


def question(
    id_: str, *options: str, allow_other: bool = False, secret: bool = False
) -> human_loop_pb2.UserInputQuestion:
    return human_loop_pb2.UserInputQuestion(
        id=id_,
        header=id_.upper(),
        question=f"what about {id_}?",
        options=[human_loop_pb2.UserInputOption(label=o) for o in options],
        allow_other=allow_other,
        secret=secret,
    )


def elicitation(*fields: str) -> events_pb2.RunEvent:
    schema: dict[str, Any] = {"type": "object", "properties": {f: {"type": "string"} for f in fields}}
    details = human_loop_pb2.HumanLoopDetails(
        mcp_elicitation=human_loop_pb2.McpElicitationDetails(server_name="docs", message="log in")
    )
    details.mcp_elicitation.requested_schema.update(schema)
    return events_pb2.RunEvent(
        human_loop_requested=events_pb2.HumanLoopRequested(
            question_id=ids.new_id(ids.QUESTION),
            kind=human_loop_pb2.HUMAN_LOOP_KIND_MCP_ELICITATION,
            details=details,
        )
    )


def withdrawn(question_id: str, turn_id: str = "turn-1") -> events_pb2.RunEvent:
    return events_pb2.RunEvent(
        turn_id=turn_id,
        human_loop_canceled=events_pb2.HumanLoopCanceled(
            question_id=question_id, reason="the agent no longer needs the answer (withdrawn)"
        ),
    )


def approval(run_id: str, question_id: str, decision: int = ACCEPT) -> human_loop_pb2.ReplyRequest:
    return human_loop_pb2.ReplyRequest(
        run_id=run_id,
        question_id=question_id,
        approval=human_loop_pb2.ApprovalAnswer(decision=decision),
    )


def answers(run_id: str, question_id: str, **given: list[str]) -> human_loop_pb2.ReplyRequest:
    return human_loop_pb2.ReplyRequest(
        run_id=run_id,
        question_id=question_id,
        questions=human_loop_pb2.QuestionAnswers(
            answers={k: human_loop_pb2.QuestionAnswer(answers=v) for k, v in given.items()}
        ),
    )


async def record(
    database: Database, run_id: str, event: events_pb2.RunEvent, default_timeout_s: float = 3600.0
) -> RecordedRequest:
    async with database.session() as session, session.begin():
        return await store.record_request(session, run_id, event, default_timeout_s=default_timeout_s)


async def ask(database: Database, run_id: str, event: events_pb2.RunEvent | None = None) -> str:
    """Record a request (a command approval by default); return its question id."""
    recorded = await record(database, run_id, event or command_approval())
    return recorded.request.question_id


async def reply(
    database: Database, request: human_loop_pb2.ReplyRequest, caller: Caller = CALLER
) -> tuple[str, bool]:
    """Reply; return (stored status, already_resolved)."""
    async with database.session() as session, session.begin():
        record_, already = await store.reply(session, caller, request)
    return record_.status.value, already


async def run_status(database: Database, run_id: str) -> str:
    async with database.session() as session:
        status = await session.scalar(select(AgentRun.status).where(AgentRun.id == run_id))
    assert status is not None
    return status


@dataclass(frozen=True)
class StoredRequest:
    status: str
    answer: dict[str, Any] | None
    resolved_by: str | None
    delivered: bool
    request_seq: int | None


async def stored(database: Database, question_id: str) -> StoredRequest:
    async with database.session() as session:
        row = await session.get_one(HumanLoopRequest, question_id)
        return StoredRequest(
            row.status, row.answer, row.resolved_by, row.delivered_at is not None, row.request_seq
        )


async def log_of(database: Database, run_id: str) -> list[events_pb2.RunEvent]:
    async with database.session() as session:
        return await read_events(session, run_id)


def types_of(events: list[events_pb2.RunEvent]) -> list[str]:
    """Event types, with the new status for status changes (``status:waiting_human``)."""
    out = []
    for event in events:
        if event.type == "run.status_changed":
            name = human_status(event.status_changed.status)
            out.append(f"status:{name}")
        else:
            out.append(event.type)
    return out


def human_status(value: int) -> str:
    return str(common_pb2.RunStatus.Name(value)).removeprefix("RUN_STATUS_").lower()


class CommandWakeups:
    """Notifications on ``ccplane_run_commands`` seen by a LISTENing connection."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn
        self._seen: asyncio.Queue[str] = asyncio.Queue()
        self._task = asyncio.create_task(self._pump(), name="test-command-wakeups")

    async def _pump(self) -> None:
        async for notify in self._conn.notifies():
            self._seen.put_nowait(notify.payload)

    async def next_for(self, run_id: str) -> None:
        """Wait for a wake-up naming ``run_id``."""
        async with asyncio.timeout(TIMEOUT):
            while await self._seen.get() != run_id:
                pass

    def seen(self) -> list[str]:
        """Payloads received so far (without waiting)."""
        out = []
        while not self._seen.empty():
            out.append(self._seen.get_nowait())
        return out

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@pytest_asyncio.fixture(loop_scope="session")
async def wakeups(db_url: str) -> AsyncIterator[CommandWakeups]:
    async with await psycopg.AsyncConnection.connect(libpq_url(db_url), autocommit=True) as conn:
        await conn.execute(f"LISTEN {commands.NOTIFY_CHANNEL}")
        listener = CommandWakeups(conn)
        try:
            yield listener
        finally:
            await listener.close()
