"""The run lifecycle table and status conversions, without a database."""

from __future__ import annotations

import itertools

import pytest

from ccplane.v1 import common_pb2
from common.db.models import RUN_STATUSES
from control_plane.runs.state_machine import (
    ALLOWED_TRANSITIONS,
    TERMINAL,
    RunStatus,
    is_allowed,
    status_from_proto,
    status_to_proto,
)

S = RunStatus

EXPECTED = {
    (S.QUEUED, S.STARTING),
    (S.QUEUED, S.CANCELED),
    (S.QUEUED, S.FAILED),
    (S.STARTING, S.RUNNING),
    (S.STARTING, S.FAILED),
    (S.STARTING, S.CANCELED),
    (S.STARTING, S.LOST),
    (S.STARTING, S.QUEUED),
    (S.RUNNING, S.WAITING_HUMAN),
    (S.RUNNING, S.SUCCEEDED),
    (S.RUNNING, S.FAILED),
    (S.RUNNING, S.CANCELED),
    (S.RUNNING, S.LOST),
    (S.WAITING_HUMAN, S.RUNNING),
    (S.WAITING_HUMAN, S.FAILED),
    (S.WAITING_HUMAN, S.CANCELED),
    (S.WAITING_HUMAN, S.LOST),
    (S.LOST, S.RUNNING),
    (S.LOST, S.FAILED),
    (S.LOST, S.CANCELED),
    (S.SUCCEEDED, S.QUEUED),
    (S.FAILED, S.QUEUED),
    (S.CANCELED, S.QUEUED),
}


def test_enum_values_are_the_stored_statuses() -> None:
    assert tuple(s.value for s in RunStatus) == RUN_STATUSES


def test_every_status_has_a_row() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(RunStatus)


def test_terminal_statuses() -> None:
    assert frozenset({S.SUCCEEDED, S.FAILED, S.CANCELED}) == TERMINAL


@pytest.mark.parametrize(("current", "proposed"), list(itertools.product(RunStatus, RunStatus)))
def test_rule(current: RunStatus, proposed: RunStatus) -> None:
    assert is_allowed(current, proposed) == ((current, proposed) in EXPECTED)


def test_finished_runs_only_go_back_to_queued() -> None:
    assert not is_allowed(S.SUCCEEDED, S.RUNNING)
    for status in TERMINAL:
        assert ALLOWED_TRANSITIONS[status] == {S.QUEUED}


@pytest.mark.parametrize("status", list(RunStatus))
def test_proto_round_trip(status: RunStatus) -> None:
    value = status_to_proto(status)
    assert common_pb2.RunStatus.Name(value) == f"RUN_STATUS_{status.name}"
    assert status_from_proto(value) is status


@pytest.mark.parametrize("value", [common_pb2.RUN_STATUS_UNSPECIFIED, 99])
def test_from_proto_refuses_unspecified_and_unknown(value: int) -> None:
    with pytest.raises(ValueError, match="run status"):
        status_from_proto(value)
