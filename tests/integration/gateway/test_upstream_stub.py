"""The gateway against a stand-in control plane at the wire, for what the real one cannot be
made to do on demand: every gRPC status code, unknown detail types, a stream failing midway,
and showing which headers arrive as metadata."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest
import pytest_asyncio
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from ccplane.v1 import events_pb2, runs_pb2
from gateway import Gateway
from gateway.errors import HTTP_STATUS_BY_CODE
from tests.integration.gateway.sse import frames

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class StandIn:
    """RunService.GetRun and StreamRunEvents that record metadata and fail as the run id says."""

    def __init__(self) -> None:
        self.metadata: list[dict[str, str]] = []
        self.server = grpc.aio.server()
        handlers = {
            "GetRun": grpc.unary_unary_rpc_method_handler(
                self.get_run,
                request_deserializer=runs_pb2.GetRunRequest.FromString,
                response_serializer=runs_pb2.GetRunResponse.SerializeToString,
            ),
            "StreamRunEvents": grpc.unary_stream_rpc_method_handler(
                self.stream_run_events,
                request_deserializer=runs_pb2.StreamRunEventsRequest.FromString,
                response_serializer=events_pb2.RunEvent.SerializeToString,
            ),
        }
        self.server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler("ccplane.v1.RunService", handlers)]
        )
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    async def get_run(self, request: runs_pb2.GetRunRequest, context: grpc.aio.ServicerContext) -> Any:
        self.metadata.append({k: v for k, v in context.invocation_metadata() or ()})
        if request.run_id.startswith("code-"):
            code = int(request.run_id.removeprefix("code-"))
            info, unknown = (
                any_pb2.Any(),
                any_pb2.Any(type_url="type.googleapis.com/example.Unknown", value=b"\x01"),
            )
            info.Pack(error_details_pb2.ErrorInfo(reason="CHOSEN", domain="test"))
            status = status_pb2.Status(code=code, message=f"failed with {code}", details=[info, unknown])
            await context.abort_with_status(rpc_status.to_status(status))
        return runs_pb2.GetRunResponse(run=runs_pb2.Run(id=request.run_id, last_seq=2**40))

    async def stream_run_events(
        self, request: runs_pb2.StreamRunEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[events_pb2.RunEvent]:
        for seq in (1, 2):
            yield events_pb2.RunEvent(run_id=request.run_id, seq=seq, type="message.delta")
        await context.abort(grpc.StatusCode.INTERNAL, "the log broke")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stand_in() -> AsyncIterator[StandIn]:
    upstream = StandIn()
    await upstream.server.start()
    try:
        yield upstream
    finally:
        await upstream.server.stop(None)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stub_client(stand_in: StandIn) -> AsyncIterator[httpx.AsyncClient]:
    gateway = Gateway(f"127.0.0.1:{stand_in.port}")
    await gateway.start()
    try:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10.0) as http:
            yield http
    finally:
        await gateway.stop()


async def test_auth_and_trace_headers_arrive_as_metadata(
    stub_client: httpx.AsyncClient, stand_in: StandIn
) -> None:
    headers = {
        "Authorization": "Bearer k_123",
        "traceparent": TRACEPARENT,
        "tracestate": "ccplane=1",
        "X-Other": "not forwarded",
    }
    response = await stub_client.get("/api/runs/run_a", headers=headers)
    assert response.status_code == 200
    assert response.json() == {"run": {"id": "run_a", "lastSeq": str(2**40)}}
    received = stand_in.metadata[-1]
    assert received["authorization"] == "Bearer k_123"
    assert received["traceparent"] == TRACEPARENT
    assert received["tracestate"] == "ccplane=1"
    assert "x-other" not in received


@pytest.mark.parametrize("code", range(1, 17))
async def test_every_status_code_maps_to_its_http_status(stub_client: httpx.AsyncClient, code: int) -> None:
    response = await stub_client.get(f"/api/runs/code-{code}")
    assert response.status_code == HTTP_STATUS_BY_CODE[code]
    document = response.json()
    assert document["code"] == code
    assert document["message"] == f"failed with {code}"
    info, unknown = document["details"]
    assert info == {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "CHOSEN", "domain": "test"}
    assert unknown == {"@type": "type.googleapis.com/example.Unknown", "value": "AQ=="}


async def test_a_stream_failing_midway_ends_with_an_error_frame(stub_client: httpx.AsyncClient) -> None:
    async with asyncio.timeout(10), stub_client.stream("GET", "/api/runs/run_a/events") as response:
        assert response.status_code == 200
        received = [f async for f in frames(response) if not f.comment]
    assert [f.id for f in received[:2]] == ["1", "2"]
    error = received[2]
    assert error.event == "error"
    assert error.json == {"code": 13, "message": "the log broke"}


async def test_health_reflects_the_upstream(stub_client: httpx.AsyncClient) -> None:
    # The stand-in serves no grpc.health.v1: not SERVING.
    response = await stub_client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "NOT_SERVING"


async def test_unreachable_control_plane_is_503() -> None:
    with_nothing_behind = Gateway("127.0.0.1:1", health_timeout=0.5)
    await with_nothing_behind.start()
    try:
        async with httpx.AsyncClient(base_url=with_nothing_behind.url, timeout=10.0) as http:
            response = await http.get("/api/runs")
            assert response.status_code == 503
            assert response.json()["code"] == 14
            assert (await http.get("/healthz")).status_code == 503
    finally:
        await with_nothing_behind.stop()
