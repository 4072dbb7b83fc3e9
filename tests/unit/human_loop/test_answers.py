"""Answers without a database: which fit, what expiry sends, what is redacted."""

from __future__ import annotations

import grpc
import pytest

from ccplane.v1 import human_loop_pb2 as hl
from common.errors import ServiceError
from control_plane.human_loop.answers import (
    MAX_ANSWER_CHARS,
    REDACTED,
    answer_of,
    check_answer,
    describe,
    expiry_answer,
    map_key,
    redact,
    same_answer,
)
from control_plane.human_loop.convert import to_json
from control_plane.human_loop.records import RequestKind

ACCEPT, DECLINE, CANCEL = (
    hl.APPROVAL_DECISION_ACCEPT,
    hl.APPROVAL_DECISION_DECLINE,
    hl.APPROVAL_DECISION_CANCEL,
)


def _approval(decision: int) -> hl.HumanLoopAnswer:
    return hl.HumanLoopAnswer(approval=hl.ApprovalAnswer(decision=decision))  # type: ignore[arg-type]


def _questions(**given: list[str]) -> hl.HumanLoopAnswer:
    return hl.HumanLoopAnswer(
        questions=hl.QuestionAnswers(answers={k: hl.QuestionAnswer(answers=v) for k, v in given.items()})
    )


def _user_input(*questions: hl.UserInputQuestion) -> hl.HumanLoopDetails:
    return hl.HumanLoopDetails(user_input=hl.UserInputDetails(questions=questions))


def _fields(kind: RequestKind, details: hl.HumanLoopDetails, answer: hl.HumanLoopAnswer) -> list[str]:
    with pytest.raises(ServiceError) as caught:
        check_answer(kind, details, answer)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    return [v.field for v in caught.value.violations]


def test_map_keys_are_quoted() -> None:
    assert map_key("questions.answers", "q9") == 'questions.answers["q9"]'
    assert map_key("questions.answers", 'a"b') == 'questions.answers["a\\"b"]'


@pytest.mark.parametrize(
    "kind", [RequestKind.COMMAND_APPROVAL, RequestKind.FILE_CHANGE_APPROVAL, RequestKind.PERMISSIONS_APPROVAL]
)
def test_approvals_take_a_decision(kind: RequestKind) -> None:
    details = hl.HumanLoopDetails()
    for decision in (ACCEPT, hl.APPROVAL_DECISION_ACCEPT_FOR_SESSION, DECLINE, CANCEL):
        check_answer(kind, details, _approval(decision))
    assert _fields(kind, details, _approval(0)) == ["approval.decision"]
    assert _fields(kind, details, hl.HumanLoopAnswer(text="ok")) == ["text"]
    assert _fields(kind, details, _questions(a=["b"])) == ["questions"]
    assert _fields(kind, details, hl.HumanLoopAnswer()) == ["answer"]


def test_a_command_approval_offers_its_decisions() -> None:
    details = hl.HumanLoopDetails(
        command_approval=hl.CommandApprovalDetails(available_decisions=[ACCEPT, CANCEL])
    )
    check_answer(RequestKind.COMMAND_APPROVAL, details, _approval(CANCEL))
    with pytest.raises(ServiceError) as caught:
        check_answer(RequestKind.COMMAND_APPROVAL, details, _approval(DECLINE))
    assert "APPROVAL_DECISION_DECLINE is not offered" in caught.value.message
    assert "APPROVAL_DECISION_CANCEL" in caught.value.message


def test_answer_of_copies_the_reply_oneof() -> None:
    assert answer_of(hl.ReplyRequest(text="hi")) == hl.HumanLoopAnswer(text="hi")
    assert answer_of(hl.ReplyRequest(approval=hl.ApprovalAnswer(decision=ACCEPT))) == _approval(ACCEPT)
    assert answer_of(hl.ReplyRequest()).WhichOneof("answer") is None


def test_expiry_declines_every_kind() -> None:
    for kind in RequestKind:
        assert expiry_answer(kind, hl.HumanLoopDetails()) == _approval(DECLINE)
    only_cancel = hl.HumanLoopDetails(
        command_approval=hl.CommandApprovalDetails(available_decisions=[ACCEPT, CANCEL])
    )
    assert expiry_answer(RequestKind.COMMAND_APPROVAL, only_cancel) == _approval(CANCEL)


def test_secret_answers_are_redacted() -> None:
    details = _user_input(hl.UserInputQuestion(id="user"), hl.UserInputQuestion(id="pin", secret=True))
    answer = _questions(user=["alice"], pin=["1", "2"])
    shown = redact(details, answer)
    assert list(shown.questions.answers["pin"].answers) == [REDACTED]
    assert list(shown.questions.answers["user"].answers) == ["alice"]
    assert list(answer.questions.answers["pin"].answers) == ["1", "2"]  # the original is untouched

    single = _user_input(hl.UserInputQuestion(id="pin", secret=True))
    assert redact(single, hl.HumanLoopAnswer(text="1234")).text == REDACTED
    assert redact(hl.HumanLoopDetails(), hl.HumanLoopAnswer(text="x")).text == "x"


def test_same_answer_compares_stored_json() -> None:
    answer = _questions(a=["1"], b=["2"])
    assert same_answer(to_json(_questions(b=["2"], a=["1"])), answer)
    assert not same_answer(to_json(_questions(a=["1"])), answer)
    assert not same_answer(None, answer)
    assert describe(_approval(ACCEPT)) == '{"approval":{"decision":"APPROVAL_DECISION_ACCEPT"}}'


def test_answers_are_bounded() -> None:
    details = _user_input(hl.UserInputQuestion(id="q1", allow_other=True))
    huge = "x" * (MAX_ANSWER_CHARS + 1)
    assert _fields(RequestKind.USER_INPUT, details, hl.HumanLoopAnswer(text=huge)) == ["text"]
    assert _fields(RequestKind.USER_INPUT, details, _questions(q1=[huge])) == ["questions.answers"]
    long = describe(hl.HumanLoopAnswer(text=huge))
    assert len(long) == 1000 and long.endswith("…")
