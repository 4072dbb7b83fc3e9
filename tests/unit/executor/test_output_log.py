"""The executor's output log: seq numbering, bounded replay, following live."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from ccplane.v1 import events_pb2, executor_pb2
from common.errors import ServiceError
from executor.outputs import OutputLog


def _event(text: str) -> events_pb2.RunEvent:
    return events_pb2.RunEvent(type="message.delta", message_delta=events_pb2.MessageDelta(delta=text))


async def _collect(log: OutputLog, after: int) -> list[int]:
    return [o.executor_seq async for o in log.follow(after)]


async def test_replays_then_follows_and_ends() -> None:
    log = OutputLog(capacity=100)
    for i in range(3):
        log.event(_event(str(i)))
    reader = asyncio.create_task(_collect(log, 1))
    await asyncio.sleep(0)
    log.event(_event("3"))
    log.action_result(executor_pb2.ActionResult(action="inject"))
    log.end(executor_pb2.SessionEnded(outcome=executor_pb2.SESSION_OUTCOME_COMPLETED))
    assert await asyncio.wait_for(reader, 5) == [2, 3, 4, 5, 6]
    assert log.ended
    with pytest.raises(RuntimeError):
        log.event(_event("late"))


async def test_attach_after_the_end_replays_the_tail() -> None:
    log = OutputLog()
    log.event(_event("a"))
    log.end(executor_pb2.SessionEnded())
    assert await _collect(log, 0) == [1, 2]
    assert await _collect(log, 2) == []


async def test_evicted_outputs_are_out_of_range() -> None:
    log = OutputLog(capacity=3)
    for i in range(10):
        log.event(_event(str(i)))
    assert await asyncio.wait_for(_take(log, 7, 3), 5) == [8, 9, 10]
    with pytest.raises(ServiceError) as err:
        await _collect(log, 2)
    assert err.value.code == grpc.StatusCode.OUT_OF_RANGE
    assert err.value.reason == "REPLAY_WINDOW_EXCEEDED"


async def test_many_followers_see_every_output_once() -> None:
    log = OutputLog(capacity=1000)
    readers = [asyncio.create_task(_collect(log, 0)) for _ in range(5)]
    for i in range(200):
        log.event(_event(str(i)))
        if i % 7 == 0:
            await asyncio.sleep(0)
    log.end(executor_pb2.SessionEnded())
    for reader in readers:
        assert await asyncio.wait_for(reader, 5) == list(range(1, 202))


async def _take(log: OutputLog, after: int, count: int) -> list[int]:
    out: list[int] = []
    async for output in log.follow(after):
        out.append(output.executor_seq)
        if len(out) == count:
            break
    return out
