"""Replies that are refused, and why: each error names what is wrong and changes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable

import grpc
import pytest

from ccplane.v1 import events_pb2, human_loop_pb2
from common import ids
from common.db.engine import Database
from common.errors import ServiceError
from control_plane.auth import Caller
from control_plane.human_loop import store
from tests.conftest import RunFactory
from tests.integration.human_loop.conftest import (
    ACCEPT,
    ACCEPT_FOR_SESSION,
    CALLER,
    DECLINE,
    OTHER_TENANT,
    answers,
    approval,
    ask,
    command_approval,
    elicitation,
    log_of,
    question,
    record,
    reply,
    stored,
    user_input,
)

Reply = Callable[[str, str], human_loop_pb2.ReplyRequest]


def _text(value: str) -> Reply:
    return lambda run_id, question_id: human_loop_pb2.ReplyRequest(
        run_id=run_id, question_id=question_id, text=value
    )


def _nothing(run_id: str, question_id: str) -> human_loop_pb2.ReplyRequest:
    return human_loop_pb2.ReplyRequest(run_id=run_id, question_id=question_id)


def _decision(value: int) -> Reply:
    return lambda run_id, question_id: approval(run_id, question_id, value)


def _answers(**given: list[str]) -> Reply:
    return lambda run_id, question_id: answers(run_id, question_id, **given)


def _two_questions() -> events_pb2.RunEvent:
    return user_input(question("q1", "red", "blue"), question("q2", allow_other=True))


INVALID = [
    ("questions for an approval", command_approval, _answers(q1=["yes"]), ["questions"]),
    ("text for an approval", command_approval, _text("yes"), ["text"]),
    ("no answer", command_approval, _nothing, ["answer"]),
    ("unspecified decision", command_approval, _decision(0), ["approval.decision"]),
    ("unknown decision", command_approval, _decision(42), ["approval.decision"]),
    (
        "decision not offered",
        lambda: command_approval(decisions=(ACCEPT, DECLINE)),
        _decision(ACCEPT_FOR_SESSION),
        ["approval.decision"],
    ),
    ("approval for a question", _two_questions, _decision(ACCEPT), ["approval"]),
    (
        "unknown question",
        _two_questions,
        _answers(q1=["red"], q2=["x"], q9=["?"]),
        ['questions.answers["q9"]'],
    ),
    ("missing question", _two_questions, _answers(q1=["red"]), ['questions.answers["q2"]']),
    ("empty answer", _two_questions, _answers(q1=[], q2=["x"]), ['questions.answers["q1"].answers']),
    ("not an option", _two_questions, _answers(q1=["green"], q2=["x"]), ['questions.answers["q1"].answers']),
    ("no answers", _two_questions, _answers(), ["questions.answers"]),
    ("text for two questions", _two_questions, _text("red"), ["text"]),
    (
        "several problems at once",
        _two_questions,
        _answers(q1=["green"], q9=["?"]),
        ['questions.answers["q1"].answers', 'questions.answers["q9"]', 'questions.answers["q2"]'],
    ),
    ("empty text", lambda: user_input(question("q1", allow_other=True)), _text(" "), ["text"]),
    ("text not an option", lambda: user_input(question("q1", "yes", "no")), _text("maybe"), ["text"]),
    ("plain text for several fields", lambda: elicitation("user", "token"), _text("alice"), ["text"]),
    (
        "unknown field",
        lambda: elicitation("user"),
        _answers(password=["x"]),
        ['questions.answers["password"]'],
    ),
    ("unspecified elicitation decision", lambda: elicitation("user"), _decision(0), ["approval.decision"]),
]


@pytest.mark.parametrize(
    ("ask_for", "answer_with", "fields"),
    [case[1:] for case in INVALID],
    ids=[case[0] for case in INVALID],
)
async def test_an_answer_that_does_not_fit_is_invalid(
    database: Database,
    make_run: RunFactory,
    ask_for: Callable[[], events_pb2.RunEvent],
    answer_with: Reply,
    fields: list[str],
) -> None:
    run_id = await make_run("running")
    question_id = await ask(database, run_id, ask_for())
    with pytest.raises(ServiceError) as caught:
        await reply(database, answer_with(run_id, question_id))
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in caught.value.violations] == fields
    assert fields[0] in caught.value.message
    assert (await stored(database, question_id)).status == "pending"


VALID = [
    ("single question as text", lambda: user_input(question("q1", "yes", "no")), _text("yes")),
    ("free text where others are allowed", _two_questions, _answers(q1=["blue"], q2=["anything"])),
    ("elicitation as JSON", lambda: elicitation("user", "token"), _text('{"user": "a", "token": "b"}')),
    ("elicitation single field as text", lambda: elicitation("user"), _text("alice")),
    ("elicitation fields", lambda: elicitation("user"), _answers(user=["alice"])),
    ("elicitation declined", lambda: elicitation("user"), _decision(DECLINE)),
]


@pytest.mark.parametrize(
    ("ask_for", "answer_with"), [case[1:] for case in VALID], ids=[case[0] for case in VALID]
)
async def test_answers_that_fit(
    database: Database,
    make_run: RunFactory,
    ask_for: Callable[[], events_pb2.RunEvent],
    answer_with: Reply,
) -> None:
    run_id = await make_run("running")
    question_id = await ask(database, run_id, ask_for())
    assert await reply(database, answer_with(run_id, question_id)) == ("resolved", False)


async def _error(
    database: Database, request: human_loop_pb2.ReplyRequest, caller: Caller = CALLER
) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        await reply(database, request, caller)
    return caught.value


async def test_unknown_or_foreign_requests_are_not_found(database: Database, make_run: RunFactory) -> None:
    run_id = await make_run("running")
    other_run = await make_run("running")
    question_id = await ask(database, run_id)
    theirs = await make_run("running", tenant_id=OTHER_TENANT.tenant_id)
    their_question = await ask(database, theirs)

    cases = [
        approval(run_id, ids.new_id(ids.QUESTION)),  # no such request
        approval(other_run, question_id),  # another run's request
        approval(theirs, their_question),  # another tenant's request
    ]
    for request in cases:
        error = await _error(database, request)
        assert (error.code, error.reason) == (grpc.StatusCode.NOT_FOUND, "HUMAN_LOOP_REQUEST_NOT_FOUND")
    # ... and the other tenant cannot answer ours.
    error = await _error(database, approval(run_id, question_id), caller=OTHER_TENANT)
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert (await stored(database, question_id)).status == "pending"
    assert (await stored(database, their_question)).status == "pending"


async def test_a_different_answer_is_refused_with_the_stored_one(
    database: Database, make_run: RunFactory
) -> None:
    run_id = await make_run("running")
    question_id = await ask(database, run_id)
    await reply(database, approval(run_id, question_id, ACCEPT))
    events = len(await log_of(database, run_id))

    error = await _error(database, approval(run_id, question_id, DECLINE))

    assert (error.code, error.reason) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ALREADY_RESOLVED")
    assert json.loads(error.metadata["answer"]) == {"approval": {"decision": "APPROVAL_DECISION_ACCEPT"}}
    assert error.metadata["question_id"] == question_id
    assert error.metadata["resolved_by"] == "key_alice"
    assert "APPROVAL_DECISION_ACCEPT" in error.message
    assert len(await log_of(database, run_id)) == events


async def test_secret_answers_are_not_shown_back(database: Database, make_run: RunFactory) -> None:
    run_id = await make_run("running")
    question_id = await ask(
        database, run_id, user_input(question("user", allow_other=True), question("pin", secret=True))
    )
    await reply(database, answers(run_id, question_id, user=["alice"], pin=["1234"]))

    # Stored as given: it must reach the agent.
    assert (await stored(database, question_id)).answer == {
        "questions": {"answers": {"user": {"answers": ["alice"]}, "pin": {"answers": ["1234"]}}}
    }
    async with database.session() as session:
        (delivery,) = await store.pending_deliveries(session, run_id)
    assert list(delivery.answer.questions.answers["pin"].answers) == ["1234"]
    resolved = (await log_of(database, run_id))[-2].human_loop_resolved
    assert list(resolved.answer.questions.answers["pin"].answers) == ["[redacted]"]
    assert list(resolved.answer.questions.answers["user"].answers) == ["alice"]

    error = await _error(database, answers(run_id, question_id, user=["bob"], pin=["0000"]))
    assert "1234" not in error.message and "1234" not in error.metadata["answer"]
    # The same answer again is still recognised.
    assert await reply(database, answers(run_id, question_id, user=["alice"], pin=["1234"])) == (
        "resolved",
        True,
    )


async def test_expired_and_canceled_requests_cannot_be_answered(
    database: Database, make_run: RunFactory
) -> None:
    run_id = await make_run("running")
    expiring = (await record(database, run_id, command_approval(), default_timeout_s=60)).request
    canceled = await ask(database, run_id)
    assert expiring.expires_at is not None
    async with database.session() as session, session.begin():
        await store.expire_due(session, expiring.expires_at)
        await store.cancel_pending(session, run_id, "stopped")

    error = await _error(database, approval(run_id, expiring.question_id))
    assert (error.code, error.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "REQUEST_EXPIRED")
    assert "expired" in error.message
    error = await _error(database, approval(run_id, canceled))
    assert (error.code, error.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "REQUEST_CANCELED")
    assert "canceled" in error.message
