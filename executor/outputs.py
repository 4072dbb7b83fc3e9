"""A session's outputs: executor-side sequence numbers and a replay buffer.

Every output of a session (events, action results, the final ``ended``) gets
the next ``executor_seq``. The last ``capacity`` outputs are kept so that a
caller whose stream dropped can re-attach from the last seq it stored and
lose and duplicate nothing. Readers follow with :meth:`OutputLog.follow`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator

import grpc

from ccplane.v1 import events_pb2, executor_pb2
from common.errors import ServiceError

DEFAULT_CAPACITY = 20_000


class ReplayGapError(ServiceError):
    def __init__(self, after_seq: int, first_kept: int) -> None:
        super().__init__(
            grpc.StatusCode.OUT_OF_RANGE,
            "REPLAY_WINDOW_EXCEEDED",
            f"outputs after seq {after_seq} are no longer buffered (oldest kept: {first_kept})",
            metadata={"after_executor_seq": str(after_seq), "first_kept": str(first_kept)},
        )


class OutputLog:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._buffer: deque[executor_pb2.SessionOutput] = deque(maxlen=capacity)
        self._last_seq = 0
        self._ended = False
        self._changed = asyncio.Event()

    @property
    def last_seq(self) -> int:
        return self._last_seq

    @property
    def ended(self) -> bool:
        return self._ended

    def _append(self, output: executor_pb2.SessionOutput) -> executor_pb2.SessionOutput:
        if self._ended:
            raise RuntimeError("session already ended")
        self._last_seq += 1
        output.executor_seq = self._last_seq
        self._buffer.append(output)
        if output.WhichOneof("output") == "ended":
            self._ended = True
        # Wake every reader, then arm a fresh event for the next append.
        self._changed.set()
        self._changed = asyncio.Event()
        return output

    def event(self, event: events_pb2.RunEvent) -> executor_pb2.SessionOutput:
        return self._append(executor_pb2.SessionOutput(event=event))

    def action_result(self, result: executor_pb2.ActionResult) -> executor_pb2.SessionOutput:
        return self._append(executor_pb2.SessionOutput(action_result=result))

    def end(self, ended: executor_pb2.SessionEnded) -> executor_pb2.SessionOutput:
        return self._append(executor_pb2.SessionOutput(ended=ended))

    def check_replayable(self, after_seq: int) -> None:
        """Raise OUT_OF_RANGE when outputs after ``after_seq`` were dropped."""
        if after_seq < 0:
            raise ReplayGapError(after_seq, self._first_kept())
        if after_seq < self._last_seq and self._first_kept() > after_seq + 1:
            raise ReplayGapError(after_seq, self._first_kept())

    def _first_kept(self) -> int:
        return self._buffer[0].executor_seq if self._buffer else self._last_seq + 1

    async def follow(self, after_seq: int) -> AsyncIterator[executor_pb2.SessionOutput]:
        """Outputs after ``after_seq``, then live ones; ends after ``ended``."""
        self.check_replayable(after_seq)
        cursor = after_seq
        while True:
            changed = self._changed
            if cursor < self._last_seq:
                self.check_replayable(cursor)
                start = cursor - self._first_kept() + 1
                pending = [self._buffer[i] for i in range(start, len(self._buffer))]
                for output in pending:
                    cursor = output.executor_seq
                    yield output
                continue
            if self._ended:
                return
            await changed.wait()
