"""Which executor a new lease goes to."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from executor_manager.leases import choose_executor
from executor_manager.records import ExecutorRecord, ExecutorState

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def executor(
    executor_id: str, used: int, total: int = 4, state: ExecutorState = ExecutorState.READY
) -> ExecutorRecord:
    return ExecutorRecord(
        id=executor_id,
        address=f"{executor_id}:1",
        backend="local",
        state=state,
        slots_total=total,
        slots_used=used,
        live_leases=used,
        providers=("codex-app-server",),
        labels={},
        version="",
        registered_at=NOW,
        last_heartbeat_at=NOW,
    )


@pytest.mark.parametrize(
    ("candidates", "preferred", "chosen"),
    [
        ([executor("a", 2), executor("b", 1)], "", "b"),
        # Share of slots used, not raw count: 2 of 8 beats 1 of 2.
        ([executor("a", 1, total=2), executor("b", 2, total=8)], "", "b"),
        # Equal share: the one with more free slots, then the lower id.
        ([executor("a", 1, total=2), executor("b", 2, total=4)], "", "b"),
        ([executor("b", 0), executor("a", 0)], "", "a"),
        # A preferred executor wins while it has a free slot...
        ([executor("a", 0), executor("b", 3)], "b", "b"),
        # ...and is passed over when full.
        ([executor("a", 0), executor("b", 4)], "b", "a"),
        ([executor("a", 4), executor("b", 5)], "", None),
        ([executor("a", 0, state=ExecutorState.DRAINING)], "", None),
        ([], "", None),
    ],
)
def test_choose_executor(candidates: list[ExecutorRecord], preferred: str, chosen: str | None) -> None:
    found = choose_executor(candidates, preferred)
    assert (found.id if found is not None else None) == chosen
