"""Traces leave the process: one run is one connected trace across the
control plane, the executor-manager and the executor, each its own process,
exported over OTLP to a real receiver on loopback.

Also: without OTEL_* settings nothing is exported, and the settings reach
executors but never a Codex session.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

from ccplane.v1 import (
    common_pb2,
    executor_manager_pb2,
    executor_manager_pb2_grpc,
    human_loop_pb2,
    human_loop_pb2_grpc,
    runs_pb2,
    runs_pb2_grpc,
)
from common import tracing
from common.credentials import authorized_channel
from common.db.engine import Database
from common.db.migrate import upgrade_sync
from common.scripted_model import ScriptedModelServer
from executor.providers.codex.config import ModelConfig
from executor.providers.codex.process import inherited_environment
from tests.e2e.platform.conftest import follow, of_type
from tests.keys import create_key, internal_channel
from tests.observability.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.platform import own_database, scenario_library
from tests.reliability.conftest import free_port

START_S = 60.0

CONTROL_PLANE = "ccplane-control-plane"
MANAGER = "ccplane-executor-manager"
EXECUTOR = "ccplane-executor"
# The spans one run with a command and an approval must have, in its trace.
EXPECTED = {
    "/ccplane.v1.RunService/CreateRun",
    "ccplane.schedule",
    "/ccplane.v1.ExecutorManagerService/AcquireExecutor",
    "ccplane.session",
    "ccplane.workspace.restore",
    "ccplane.workspace.sync",
    "ccplane.codex.turn",
    "ccplane.codex.command",
    "ccplane.human_loop.wait",
    "ccplane.human_loop.reply",
}


# -- the exporter's configuration ------------------------------------------------------


@pytest.fixture
def otel_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No OTEL_* variable of this process's environment."""
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_nothing_is_exported_without_settings(otel_env: pytest.MonkeyPatch) -> None:
    assert tracing.exporter_from_env() is None
    provider = tracing.build_provider("ccplane-test")
    try:
        assert provider.resource.attributes["service.name"] == "ccplane-test"
        assert not provider._active_span_processor._span_processors, "no span processor, no exporter"
    finally:
        provider.shutdown()


def test_otlp_settings_choose_the_exporter(otel_env: pytest.MonkeyPatch) -> None:
    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
    assert isinstance(tracing.exporter_from_env(), GrpcExporter)
    otel_env.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf")
    assert isinstance(tracing.exporter_from_env(), HttpExporter)
    otel_env.setenv("OTEL_TRACES_EXPORTER", "none")
    assert tracing.exporter_from_env() is None
    otel_env.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    otel_env.setenv("OTEL_TRACES_EXPORTER", "otlp")
    assert isinstance(tracing.exporter_from_env(), HttpExporter), "explicitly asked: the default endpoint"
    otel_env.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json")
    with pytest.raises(ValueError, match="OTEL_EXPORTER_OTLP_PROTOCOL"):
        tracing.exporter_from_env()


def test_otel_service_name_overrides_the_services(otel_env: pytest.MonkeyPatch) -> None:
    otel_env.setenv("OTEL_SERVICE_NAME", "our-control-plane")
    provider = tracing.build_provider("ccplane-control-plane")
    try:
        assert provider.resource.attributes["service.name"] == "our-control-plane"
    finally:
        provider.shutdown()


def test_otel_settings_never_reach_a_codex_session() -> None:
    env = inherited_environment(
        {"PATH": "/bin", "OTEL_EXPORTER_OTLP_HEADERS": "authorization=secret", "OTEL_SERVICE_NAME": "x"}
    )
    assert not [name for name in env if name.startswith("OTEL_")]


# -- one run, one trace, three processes ----------------------------------------------


class Service:
    """A ``ccplane`` command in a process of its own; its output in ``log``."""

    def __init__(self, log: Path, env: Mapping[str, str], *args: str) -> None:
        self.log = log
        self._env = dict(env)
        self._args = args
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("wb") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "common.cli.main", *self._args,
                env=self._env, stdout=out, stderr=out,
            )  # fmt: skip

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await asyncio.wait_for(self.proc.wait(), 60)


async def wait_serving(address: str, service: Service) -> None:
    async with grpc.aio.insecure_channel(address) as channel, asyncio.timeout(START_S):
        health = health_pb2_grpc.HealthStub(channel)
        while True:
            assert service.proc is not None and service.proc.returncode is None, service.log.read_text()
            with contextlib.suppress(grpc.aio.AioRpcError):
                reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            await asyncio.sleep(0.1)


async def wait_for_an_executor(manager_address: str) -> None:
    async with internal_channel(manager_address) as channel, asyncio.timeout(START_S):
        stub = executor_manager_pb2_grpc.ExecutorManagerServiceStub(channel)
        while True:
            listed = await stub.ListExecutors(executor_manager_pb2.ListExecutorsRequest())
            if any(e.state == executor_manager_pb2.EXECUTOR_STATE_READY for e in listed.executors):
                return
            await asyncio.sleep(0.1)


@pytest.fixture
def tracing_db_url(postgres_server_url: str) -> Iterator[str]:
    """A database of this test's own (no other suite's executors get its run)."""
    with own_database(postgres_server_url, "ccplane_tracing") as url:
        upgrade_sync(url)
        yield url


@pytest.fixture
async def receiver() -> AsyncIterator[OtlpReceiver]:
    received = OtlpReceiver()
    await received.start()
    try:
        yield received
    finally:
        await received.stop()


@contextlib.asynccontextmanager
async def separate_processes(database_url: str, data_dir: Path, receiver: OtlpReceiver) -> AsyncIterator[str]:
    """The executor-manager (which starts its executor as a process of its
    own) and the control plane, each in its own process, exporting spans to
    ``receiver``; yields the control plane's address."""
    async with ScriptedModelServer(scenario_library("tracing")) as model:
        scripted = ModelConfig.scripted(model.base_url)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
            "CCPLANE_DATABASE_URL": database_url,
            "CCPLANE_DATA_DIR": str(data_dir),
            "CCPLANE_MODEL_BASE_URL": model.base_url,
            "CCPLANE_MODEL": model.model,
            "CCPLANE_MODEL_API_KEY": scripted.api_key or "",
            "CCPLANE_METRICS_PORT": "-1",
            "CCPLANE_EXECUTOR_MANAGER_METRICS_PORT": "-1",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        }
        manager_address = f"127.0.0.1:{free_port()}"
        manager = Service(
            data_dir / "executor-manager.log", env,
            "executor-manager", "--port", manager_address.rsplit(":", 1)[1],
            "--database-url", database_url, "--data-dir", str(data_dir),
            "--min-executors", "1", "--max-executors", "1", "--heartbeat-interval", "0.5",
        )  # fmt: skip
        plane_port = free_port()
        plane = Service(
            data_dir / "control-plane.log", env,
            "control-plane", "--grpc-port", str(plane_port), "--executor-manager", manager_address,
        )  # fmt: skip
        try:
            await manager.start()
            await wait_serving(manager_address, manager)
            await wait_for_an_executor(manager_address)
            await plane.start()
            await wait_serving(f"127.0.0.1:{plane_port}", plane)
            yield f"127.0.0.1:{plane_port}"
        finally:
            await plane.stop()
            await manager.stop()


def tree(spans: list[ReceivedSpan]) -> str:
    """The trace drawn as an indented tree, for failure messages."""
    children: dict[str, list[ReceivedSpan]] = {}
    for span in spans:
        children.setdefault(span.parent_span_id, []).append(span)
    lines: list[str] = []

    def draw(parent: str, depth: int) -> None:
        for span in children.get(parent, []):
            lines.append(f"{'  ' * depth}{span.name} ({span.service}, {span.kind})")
            draw(span.span_id, depth + 1)

    draw("", 0)
    return "\n".join(lines)


def complete(spans: list[ReceivedSpan]) -> bool:
    """Every expected span arrived, and every parent with it."""
    ids = {s.span_id for s in spans}
    return {s.name for s in spans} >= EXPECTED and all(
        not s.parent_span_id or s.parent_span_id in ids for s in spans
    )


@pytest.mark.e2e
@pytest.mark.slow
async def test_one_run_is_one_trace_across_three_processes(
    tracing_db_url: str, tmp_path: Path, receiver: OtlpReceiver
) -> None:
    database = Database(tracing_db_url, pool_size=1, max_overflow=0)
    try:
        key = await create_key(database, tenant="tracing-team")
    finally:
        await database.close()

    async with (
        separate_processes(tracing_db_url, tmp_path, receiver) as address,
        authorized_channel(address, key) as channel,
    ):
        runs = runs_pb2_grpc.RunServiceStub(channel)
        untrusted = runs_pb2.RunSettings(approval_mode=runs_pb2.APPROVAL_MODE_UNTRUSTED)
        run = (
            await runs.CreateRun(
                runs_pb2.CreateRunRequest(prompt="[scenario:approve] touch a file", settings=untrusted)
            )
        ).run
        asked = await follow(runs, run.id, until=of_type("human_loop.requested"))
        question_id = asked[-1].human_loop_requested.question_id
        await human_loop_pb2_grpc.HumanLoopServiceStub(channel).Reply(
            human_loop_pb2.ReplyRequest(
                run_id=run.id,
                question_id=question_id,
                approval=human_loop_pb2.ApprovalAnswer(decision=human_loop_pb2.APPROVAL_DECISION_ACCEPT),
            )
        )
        events = await follow(runs, run.id)
        assert events[-1].status_changed.status == common_pb2.RUN_STATUS_SUCCEEDED, events[-1]
        run = (await runs.GetRun(runs_pb2.GetRunRequest(run_id=run.id))).run
        assert len(run.trace_id) == 32

        spans = await receiver.wait_for(run.trace_id, complete, timeout_s=30)

    ids = {s.span_id for s in spans}
    roots = [s for s in spans if not s.parent_span_id]
    assert [r.name for r in roots] == ["/ccplane.v1.RunService/CreateRun"], tree(spans)
    orphans = [s.name for s in spans if s.parent_span_id and s.parent_span_id not in ids]
    assert not orphans, f"spans whose parent is not in the trace: {orphans}"
    assert {s.service for s in spans} == {CONTROL_PLANE, MANAGER, EXECUTOR}, tree(spans)
    # The gRPC spans by the side that served them (the client's carry no run attributes).
    served = {
        s.name: s for s in spans if s.scope != "opentelemetry.instrumentation.grpc" or s.kind == "server"
    }
    assert served["/ccplane.v1.ExecutorManagerService/AcquireExecutor"].service == MANAGER
    assert served["/ccplane.v1.RunService/CreateRun"].service == CONTROL_PLANE
    assert served["ccplane.session"].service == EXECUTOR
    for span in served.values():
        if span.name in EXPECTED:
            assert span.attributes.get(tracing.RUN_ID) == run.id, span
            assert span.attributes.get(tracing.TENANT) == "tracing-team", span
    (command,) = [s for s in spans if s.name == "ccplane.codex.command"]
    assert "touch approved.txt" in command.attributes["ccplane.command"]
    (wait,) = [s for s in spans if s.name == "ccplane.human_loop.wait"]
    assert wait.attributes["ccplane.question_id"] == question_id
    assert wait.attributes["ccplane.human_loop.outcome"] == "resolved"
    session, turn = served["ccplane.session"], served["ccplane.codex.turn"]
    assert turn.parent_span_id == session.span_id and command.parent_span_id == turn.span_id
    assert served["ccplane.schedule"].parent_span_id == roots[0].span_id
