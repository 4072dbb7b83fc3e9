"""ExecutorService over real gRPC, with the real codex binary and the scripted model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import psutil
import pytest
import pytest_asyncio

from ccplane.v1 import executor_pb2, executor_pb2_grpc, human_loop_pb2, runs_pb2
from common import ids
from common.scripted_model import ScriptedModelServer
from executor.app import Executor
from executor.providers.codex import ModelConfig, SessionLimits
from executor.sessions import HostConfig
from tests.keys import internal_channel

WAIT_S = 20.0
SCENARIO: dict[str, Any] = {
    "name": "one-command",
    "steps": [
        {"output": [{"exec": "echo hello > out.txt && cat out.txt"}]},
        {"when_contains": "function_call_output", "output": [{"message": "Wrote out.txt."}]},
    ],
}
APPROVAL = {
    "name": "approval",
    "steps": [
        {"output": [{"exec": "touch approved.txt"}]},
        {"when_contains": "function_call_output", "output": [{"message": "done"}]},
    ],
}


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.server: ScriptedModelServer | None = None
        self.executor: Executor | None = None
        self.channel: grpc.aio.Channel | None = None
        self.stub: executor_pb2_grpc.ExecutorServiceStub | None = None

    async def start(self, scenario: dict[str, Any], slots: int = 2) -> None:
        self.server = ScriptedModelServer(scenario)
        await self.server.start()
        config = HostConfig(
            executor_id=ids.new_id(ids.EXECUTOR), data_dir=self.tmp_path / "executor", slots=slots
        )
        self.executor = Executor(
            config,
            session_options={
                "model": ModelConfig.scripted(self.server.base_url),
                "limits": SessionLimits(request_timeout=15, stop_grace=0.5),
            },
        )
        await self.executor.start()
        self.channel = internal_channel(self.executor.address)
        self.stub = executor_pb2_grpc.ExecutorServiceStub(self.channel)

    async def stop(self) -> None:
        if self.channel is not None:
            await self.channel.close()
        if self.executor is not None:
            await self.executor.stop()
        if self.server is not None:
            await self.server.stop()

    def workspace(self, run_id: str) -> Path:
        """Where a live session works: its box when confined."""
        assert self.executor is not None
        box = self.executor.host.get(run_id).box
        return box.workspace_dir if box else self.executor.config.data_dir / "workspaces" / run_id

    def start_request(self, run_id: str, **fields: Any) -> executor_pb2.SessionRequest:
        settings = fields.pop("settings", runs_pb2.RunSettings(approval_mode=runs_pb2.APPROVAL_MODE_NEVER))
        assert self.server is not None
        return executor_pb2.SessionRequest(
            start=executor_pb2.StartSession(
                run_id=run_id, prompt="do it", model=self.server.model, settings=settings, **fields
            )
        )


@pytest_asyncio.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    h = Harness(tmp_path)
    try:
        yield h
    finally:
        await h.stop()


class Stream:
    """One Session call: a request queue and the outputs read so far."""

    def __init__(
        self, stub: executor_pb2_grpc.ExecutorServiceStub, first: executor_pb2.SessionRequest
    ) -> None:
        self.requests: asyncio.Queue[executor_pb2.SessionRequest | None] = asyncio.Queue()
        self.requests.put_nowait(first)
        self.call = stub.Session(self._requests())
        self.outputs: list[executor_pb2.SessionOutput] = []

    async def _requests(self) -> AsyncIterator[executor_pb2.SessionRequest]:
        while (item := await self.requests.get()) is not None:
            yield item

    def send(self, request: executor_pb2.SessionRequest) -> None:
        self.requests.put_nowait(request)

    async def until(self, predicate: Any) -> executor_pb2.SessionOutput:
        async def read() -> executor_pb2.SessionOutput:
            while True:
                response = await self.call.read()
                assert response is not grpc.aio.EOF, f"stream ended; saw {self.kinds()}"
                self.outputs.append(response.output)
                if predicate(response.output):
                    return response.output

        return await asyncio.wait_for(read(), WAIT_S)

    def kinds(self) -> list[str]:
        out = []
        for o in self.outputs:
            kind = o.WhichOneof("output")
            out.append(o.event.type if kind == "event" else str(kind))
        return out


def is_event(type_: str) -> Any:
    return lambda o: o.WhichOneof("output") == "event" and o.event.type == type_


def is_kind(kind: str) -> Any:
    return lambda o: o.WhichOneof("output") == kind


def close() -> executor_pb2.SessionRequest:
    return executor_pb2.SessionRequest(close=executor_pb2.CloseSession(reason="test done"))


async def test_session_runs_a_turn_and_ends(harness: Harness) -> None:
    await harness.start(SCENARIO)
    assert harness.stub is not None and harness.executor is not None
    run_id = ids.new_id(ids.RUN)
    stream = Stream(harness.stub, harness.start_request(run_id))
    completed = await stream.until(is_event("command.completed"))
    assert completed.event.command_completed.exit_code == 0
    assert "hello" in completed.event.command_completed.output
    await stream.until(is_event("turn.completed"))
    box = harness.executor.host.get(run_id).box
    assert (harness.workspace(run_id) / "out.txt").read_text() == "hello\n"
    stream.send(close())
    ended = await stream.until(is_kind("ended"))
    assert ended.ended.outcome == executor_pb2.SESSION_OUTCOME_COMPLETED
    assert ended.ended.thread_id
    seqs = [o.executor_seq for o in stream.outputs]
    assert seqs == list(range(1, len(seqs) + 1)), "gap-free executor seqs"
    types = stream.kinds()
    assert types.index("thread.started") < types.index("turn.started") < types.index("turn.completed")
    assert "message.completed" in types and "usage.updated" in types
    if box is not None:
        assert not box.directory.exists(), "a confined session's files go with it"


async def test_reattach_after_the_stream_drops_loses_and_repeats_nothing(harness: Harness) -> None:
    await harness.start(APPROVAL)
    assert harness.stub is not None
    run_id = ids.new_id(ids.RUN)
    untrusted = runs_pb2.RunSettings(approval_mode=runs_pb2.APPROVAL_MODE_UNTRUSTED)
    first = Stream(harness.stub, harness.start_request(run_id, settings=untrusted))
    asked = await first.until(is_event("human_loop.requested"))
    question_id = asked.event.human_loop_requested.question_id
    assert ids.is_valid(ids.QUESTION, question_id)
    kept = [o for o in first.outputs if o.executor_seq <= asked.executor_seq - 2]
    first.call.cancel()  # the caller vanishes while Codex waits for a person

    status = await harness.stub.GetStatus(executor_pb2.GetStatusRequest())
    (session,) = [s for s in status.sessions if s.run_id == run_id]
    assert session.pending_question_ids == [question_id]

    after = kept[-1].executor_seq
    second = Stream(
        harness.stub,
        executor_pb2.SessionRequest(
            attach=executor_pb2.AttachSession(run_id=run_id, after_executor_seq=after)
        ),
    )
    replayed = await second.until(is_event("human_loop.requested"))
    assert replayed.event.human_loop_requested.question_id == question_id
    accept = human_loop_pb2.HumanLoopAnswer(
        approval=human_loop_pb2.ApprovalAnswer(decision=human_loop_pb2.APPROVAL_DECISION_ACCEPT)
    )
    second.send(
        executor_pb2.SessionRequest(reply=executor_pb2.DeliverReply(question_id=question_id, answer=accept))
    )
    result = await second.until(is_kind("action_result"))
    assert (result.action_result.action, result.action_result.code) == ("reply", 0)
    second.send(
        executor_pb2.SessionRequest(reply=executor_pb2.DeliverReply(question_id=question_id, answer=accept))
    )
    again = await second.until(is_kind("action_result"))
    assert again.action_result.code == grpc.StatusCode.ALREADY_EXISTS.value[0], "never answered twice"
    await second.until(is_event("turn.completed"))
    assert (harness.workspace(run_id) / "approved.txt").exists()
    second.send(close())
    await second.until(is_kind("ended"))

    seqs = [o.executor_seq for o in kept + second.outputs]
    assert seqs == list(range(1, len(seqs) + 1))


async def test_attach_follows_a_session_read_only(harness: Harness) -> None:
    await harness.start(SCENARIO)
    assert harness.stub is not None
    run_id = ids.new_id(ids.RUN)
    stream = Stream(harness.stub, harness.start_request(run_id))
    await stream.until(is_event("thread.started"))
    observer = harness.stub.Attach(executor_pb2.AttachRequest(run_id=run_id, after_executor_seq=0))
    await stream.until(is_event("turn.completed"))
    stream.send(close())
    await stream.until(is_kind("ended"))
    seen = [r.output async for r in observer]
    assert [o.executor_seq for o in seen] == [o.executor_seq for o in stream.outputs]
    assert seen[-1].WhichOneof("output") == "ended"


async def test_bad_input(harness: Harness, tmp_path: Path) -> None:
    await harness.start(APPROVAL)
    assert harness.stub is not None

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await Stream(harness.stub, harness.start_request(ids.new_id(ids.RUN), provider="aider")).until(
            lambda o: True
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "provider" in (err.value.details() or "")

    with pytest.raises(grpc.aio.AioRpcError) as err:
        missing = str(tmp_path / "no-such-dir")
        await Stream(harness.stub, harness.start_request(ids.new_id(ids.RUN), workspace_dir=missing)).until(
            lambda o: True
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    with pytest.raises(grpc.aio.AioRpcError) as err:
        interrupt = executor_pb2.SessionRequest(interrupt=executor_pb2.InterruptTurn())
        await Stream(harness.stub, interrupt).until(lambda o: True)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    with pytest.raises(grpc.aio.AioRpcError) as err:
        observer = harness.stub.Attach(executor_pb2.AttachRequest(run_id=ids.new_id(ids.RUN)))
        await observer.read()
    assert err.value.code() == grpc.StatusCode.NOT_FOUND

    run_id = ids.new_id(ids.RUN)
    untrusted = runs_pb2.RunSettings(approval_mode=runs_pb2.APPROVAL_MODE_UNTRUSTED)
    stream = Stream(harness.stub, harness.start_request(run_id, settings=untrusted))
    await stream.until(is_event("human_loop.requested"))
    stream.send(
        executor_pb2.SessionRequest(
            reply=executor_pb2.DeliverReply(
                question_id=ids.new_id(ids.QUESTION),
                answer=human_loop_pb2.HumanLoopAnswer(
                    approval=human_loop_pb2.ApprovalAnswer(decision=human_loop_pb2.APPROVAL_DECISION_ACCEPT)
                ),
            )
        )
    )
    result = await stream.until(is_kind("action_result"))
    assert result.action_result.code == grpc.StatusCode.NOT_FOUND.value[0]
    stream.send(close())
    await stream.until(is_kind("ended"))


async def test_capacity_and_drain(harness: Harness) -> None:
    await harness.start(APPROVAL, slots=1)
    assert harness.stub is not None
    untrusted = runs_pb2.RunSettings(approval_mode=runs_pb2.APPROVAL_MODE_UNTRUSTED)
    holder = Stream(harness.stub, harness.start_request(ids.new_id(ids.RUN), settings=untrusted))
    await holder.until(is_event("human_loop.requested"))

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await Stream(harness.stub, harness.start_request(ids.new_id(ids.RUN))).until(lambda o: True)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

    drained = await harness.stub.Drain(executor_pb2.DrainRequest())
    assert drained.active_sessions == 1
    status = await harness.stub.GetStatus(executor_pb2.GetStatusRequest())
    assert status.draining and status.slots_total == 1 and status.slots_used == 1
    assert status.providers == ["codex-app-server"]
    holder.send(close())
    await holder.until(is_kind("ended"))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await Stream(harness.stub, harness.start_request(ids.new_id(ids.RUN))).until(lambda o: True)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_stopping_the_executor_leaves_no_agent_process(harness: Harness) -> None:
    await harness.start(APPROVAL)
    assert harness.stub is not None and harness.executor is not None
    untrusted = runs_pb2.RunSettings(approval_mode=runs_pb2.APPROVAL_MODE_UNTRUSTED)
    stream = Stream(harness.stub, harness.start_request(ids.new_id(ids.RUN), settings=untrusted))
    await stream.until(is_event("human_loop.requested"))
    me = psutil.Process()
    assert any("codex" in (p.name() or "") for p in me.children(recursive=True))
    await harness.executor.stop()
    harness.executor = None
    leftovers = [p for p in me.children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE]
    assert leftovers == []
