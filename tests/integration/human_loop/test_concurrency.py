"""Concurrent replies: the first answer wins, exactly once, whatever the interleaving."""

from __future__ import annotations

import asyncio
from collections import Counter

import grpc

from ccplane.v1 import human_loop_pb2
from common.db.engine import Database
from common.errors import ServiceError
from control_plane.human_loop import store
from tests.conftest import RunFactory
from tests.integration.human_loop.conftest import (
    ACCEPT,
    CALLER,
    DECLINE,
    TIMEOUT,
    approval,
    ask,
    command_approval,
    log_of,
    record,
    reply,
    run_status,
    stored,
    types_of,
)


async def _outcome(database: Database, request: human_loop_pb2.ReplyRequest) -> str:
    try:
        _, already = await reply(database, request)
    except ServiceError as exc:
        assert exc.code == grpc.StatusCode.ALREADY_EXISTS, exc
        return f"refused:{exc.metadata['answer']}"
    return "already" if already else "won"


async def test_fifty_identical_replies_resolve_once(database: Database, make_run: RunFactory) -> None:
    run_id = await make_run("running")
    question_id = await ask(database, run_id)

    async with asyncio.timeout(TIMEOUT):
        outcomes = await asyncio.gather(
            *(_outcome(database, approval(run_id, question_id, ACCEPT)) for _ in range(50))
        )

    assert Counter(outcomes) == {"won": 1, "already": 49}
    assert types_of(await log_of(database, run_id)) == [
        "human_loop.requested",
        "status:waiting_human",
        "human_loop.resolved",
        "status:running",
    ]
    assert await run_status(database, run_id) == "running"


async def test_conflicting_replies_keep_the_first_answer(database: Database, make_run: RunFactory) -> None:
    run_id = await make_run("running")
    question_id = await ask(database, run_id)
    requests = [approval(run_id, question_id, ACCEPT if i % 2 else DECLINE) for i in range(20)]

    async with asyncio.timeout(TIMEOUT):
        outcomes = await asyncio.gather(*(_outcome(database, r) for r in requests))

    row = await stored(database, question_id)
    assert row.answer is not None
    winner = row.answer["approval"]["decision"]
    counts = Counter(outcomes)
    assert counts["won"] == 1
    assert counts["already"] == 9  # the winner's nine twins
    refused = [o for o in outcomes if o.startswith("refused:")]
    assert len(refused) == 10 and all(winner in o for o in refused)
    log = await log_of(database, run_id)
    assert [e.type for e in log].count("human_loop.resolved") == 1


async def test_replies_racing_expiry_and_each_other_across_requests(
    database: Database, make_run: RunFactory
) -> None:
    """Two requests answered at once, one of them also expiring: one terminal event each,
    and the run ends up running."""
    run_id = await make_run("running")
    first = (await record(database, run_id, command_approval(), default_timeout_s=60)).request
    second = await ask(database, run_id)
    assert first.expires_at is not None

    async def expire() -> None:
        async with database.session() as session, session.begin():
            await store.expire_due(session, first.expires_at)

    async def answer(question_id: str) -> None:
        try:
            await reply(database, approval(run_id, question_id), CALLER)
        except ServiceError as exc:  # lost the race against expiry
            assert exc.reason == "REQUEST_EXPIRED"

    async with asyncio.timeout(TIMEOUT):
        await asyncio.gather(expire(), answer(first.question_id), answer(second))

    log = await log_of(database, run_id)
    terminal = [e for e in log if e.type in ("human_loop.resolved", "human_loop.expired")]
    assert len(terminal) == 2
    assert types_of(log)[-1] == "status:running"
    assert types_of(log).count("status:running") == 1
    assert await run_status(database, run_id) == "running"
