"""A synthetic executor for the ingest benchmark: one process serving
ExecutorService whose sessions emit ``--count`` message deltas as fast as
gRPC takes them, then complete."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc

from ccplane.v1 import events_pb2, executor_pb2, executor_pb2_grpc
from common.grpc_server import GrpcServer, ServiceRegistration


class SyntheticExecutor(executor_pb2_grpc.ExecutorServiceServicer):
    def __init__(self, count: int) -> None:
        self.count = count

    async def Session(
        self, request_iterator: AsyncIterator[executor_pb2.SessionRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[executor_pb2.SessionResponse]:
        first = await anext(aiter(request_iterator))
        run_id = first.start.run_id
        seq = 0

        def out(**kind: Any) -> executor_pb2.SessionResponse:
            nonlocal seq
            seq += 1
            return executor_pb2.SessionResponse(output=executor_pb2.SessionOutput(executor_seq=seq, **kind))

        def event(**payload: Any) -> executor_pb2.SessionResponse:
            message = events_pb2.RunEvent(run_id=run_id, turn_id="t", **payload)
            message.time.GetCurrentTime()
            return out(event=message)

        yield event(thread_started=events_pb2.ThreadStarted(thread_id="synthetic"))
        for i in range(self.count):
            yield event(message_delta=events_pb2.MessageDelta(item_id="m", delta=f"token {i} "))
        yield event(
            turn_completed=events_pb2.TurnCompleted(turn_id="t", status=events_pb2.TURN_STATUS_COMPLETED)
        )
        async for request in request_iterator:
            if request.WhichOneof("action") == "close":
                break
        yield out(ended=executor_pb2.SessionEnded(outcome=executor_pb2.SESSION_OUTCOME_COMPLETED))


async def serve(count: int, port_file: Path) -> None:
    server = GrpcServer(
        [
            ServiceRegistration(
                "ccplane.v1.ExecutorService",
                SyntheticExecutor(count),
                executor_pb2_grpc.add_ExecutorServiceServicer_to_server,
            )
        ],
        service_name="ccplane-synthetic-executor",
    )
    await server.start()
    await asyncio.to_thread(port_file.write_text, str(server.port))
    await server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.synthetic")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--port-file", type=Path, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.count, args.port_file))


if __name__ == "__main__":
    main()
