"""The benchmarks themselves. Each returns plain figures; ratios compare with a
baseline measured in the same run."""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bench.portal import portal
from ccplane.v1 import (
    common_pb2,
    events_pb2,
    executor_manager_pb2,
    executor_manager_pb2_grpc,
    human_loop_pb2,
    human_loop_pb2_grpc,
    runs_pb2,
    runs_pb2_grpc,
)
from common import ids
from common.cli.stack import Stack, StackOptions
from common.db import models
from common.db.embedded import EmbeddedPostgres
from common.db.engine import Database, normalize_url
from common.scripted_model import ScriptedModelServer
from common.settings import Settings
from executor.providers import SessionSettings, SessionSpec, default_registry
from executor.providers.codex import ModelConfig

FIVE_STEPS: dict[str, Any] = {
    "steps": [
        *[{"output": [{"exec": f"echo step-{i}"}]} for i in range(5)],
        {"output": [{"message": "Five commands done."}]},
    ]
}
LIBRARY: dict[str, Any] = {
    "name": "bench",
    "steps": [],
    "library": {
        "five": FIVE_STEPS,
        "one": {"steps": [{"output": [{"exec": "echo one"}]}, {"output": [{"message": "done"}]}]},
        "approve": {
            "steps": [
                {"output": [{"exec": "touch approved.txt"}]},
                {"when_contains": "function_call_output", "output": [{"message": "done"}]},
            ]
        },
    },
}
TERMINAL = {common_pb2.RUN_STATUS_SUCCEEDED, common_pb2.RUN_STATUS_FAILED, common_pb2.RUN_STATUS_CANCELED}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[index], 2)


def summary(values_ms: list[float]) -> dict[str, float]:
    return {
        "n": len(values_ms),
        "p50_ms": pct(values_ms, 50),
        "p99_ms": pct(values_ms, 99),
        "mean_ms": round(statistics.fmean(values_ms), 2),
    }


BENCHMARKS = ("end_to_end", "ingest", "human_loop_reply", "concurrency", "portal")


async def run_all(tmp: Path, *, quick: bool, only: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Every benchmark (or those in ``only``), each on a database of its own."""
    embedded: EmbeddedPostgres | None = None
    server_url = os.environ.get("CCPLANE_DATABASE_URL", "")
    if not server_url:
        embedded = EmbeddedPostgres(tmp / "pg")
        server_url = await asyncio.to_thread(embedded.start)
    wanted = only or frozenset(BENCHMARKS)
    try:
        reps = 3 if quick else 7
        out: dict[str, Any] = {}
        # Each benchmark gets a database of its own, so no executor registered
        # by an earlier one is offered to a later one.
        if "end_to_end" in wanted:
            out["end_to_end"] = await end_to_end(tmp, fresh_database(server_url, "e2e"), reps)
        if "ingest" in wanted:
            out["ingest"] = await ingest_throughput(
                tmp, fresh_database(server_url, "ingest"), events=5_000 if quick else 20_000
            )
        if "human_loop_reply" in wanted:
            out["human_loop_reply"] = await reply_latency(
                tmp, fresh_database(server_url, "reply"), 5 if quick else 30
            )
        if "concurrency" in wanted:
            levels = [10, 25] if quick else [25, 50, 100]
            out["concurrency"] = await concurrency(
                tmp, lambda level: fresh_database(server_url, f"c{level}"), levels
            )
        if "portal" in wanted:
            stack = await start_stack(
                tmp, fresh_database(server_url, "portal"), "portal", executors=0, slots=1
            )
            try:
                out["portal"] = await portal(stack, events=5_000 if quick else 20_000)
            finally:
                await stack.stop()
        return out
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


def fresh_database(server_url: str, name: str) -> str:
    """Create database ``bench_<name>_<random>`` on the server; its URL."""
    libpq = make_url(normalize_url(server_url)).set(drivername="postgresql")
    database = f"bench_{name}_{ids.new_ulid().lower()}"
    with psycopg.connect(libpq.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    return libpq.set(database=database).render_as_string(hide_password=False)


# -- the stack ------------------------------------------------------------------


async def start_stack(tmp: Path, url: str, name: str, *, executors: int, slots: int) -> Stack:
    settings = Settings()
    settings.database_url = url
    settings.data_dir = tmp / name
    settings.log_level = "WARNING"
    # The benchmarks measure speed, not the per-tenant limits: lift them.
    settings.tenant_max_runs = 0
    settings.tenant_rps = 0
    stack = Stack(
        settings,
        StackOptions(
            demo=executors > 0,
            scenario=LIBRARY,
            min_executors=executors,
            max_executors=max(executors, 0),
            slots_per_executor=slots,
            heartbeat_interval=2.0,
            heartbeat_timeout=60.0,
            manager_port=0,
            grpc_port=0,
            gateway_port=0,
            # Several stacks may run at once: metrics on free ports.
            metrics_port=0,
        ),
    )
    await stack.start()
    if executors:
        await ready_executors(stack, executors)
    return stack


async def ready_executors(stack: Stack, count: int) -> None:
    assert stack.manager is not None
    async with stack.internal_channel(stack.manager.address) as channel:
        stub = executor_manager_pb2_grpc.ExecutorManagerServiceStub(channel)
        async with asyncio.timeout(120):
            while True:
                listed = await stub.ListExecutors(executor_manager_pb2.ListExecutorsRequest())
                if (
                    sum(e.state == executor_manager_pb2.EXECUTOR_STATE_READY for e in listed.executors)
                    >= count
                ):
                    return
                await asyncio.sleep(0.2)


async def follow(
    runs: runs_pb2_grpc.RunServiceStub, run_id: str
) -> AsyncIterator[tuple[float, events_pb2.RunEvent]]:
    async for event in runs.StreamRunEvents(runs_pb2.StreamRunEventsRequest(run_id=run_id)):
        yield time.time(), event


# -- 1. end to end, first event, delivery latency ---------------------------------


async def direct_codex(tmp: Path) -> float:
    """The same scenario driven straight on `codex app-server` over stdio."""
    async with ScriptedModelServer({"name": "five", **FIVE_STEPS}) as server:
        workspace = tmp / f"direct-{ids.new_ulid()}"
        workspace.mkdir(parents=True)
        spec = SessionSpec(
            run_id="run_direct",
            workspace_dir=workspace,
            prompt="five",
            model=server.model,
            settings=SessionSettings(approval_mode="never"),
        )
        session = default_registry().create_session(spec, model=ModelConfig.scripted(server.base_url))
        started = time.perf_counter()
        await session.start()
        async for event in session.events():
            if event.type == "turn.completed":
                break
        elapsed = time.perf_counter() - started
        await session.close()
        return elapsed


async def one_platform_run(runs: runs_pb2_grpc.RunServiceStub, prompt: str) -> dict[str, Any]:
    started = time.time()
    run = (await runs.CreateRun(runs_pb2.CreateRunRequest(prompt=prompt))).run
    first_event = running = 0.0
    delivery: list[float] = []
    final = 0
    async for received, event in follow(runs, run.id):
        if event.type != "run.status_changed":
            first_event = first_event or received
            delivery.append((received - event.time.ToNanoseconds() / 1e9) * 1000)
        elif event.status_changed.status == common_pb2.RUN_STATUS_RUNNING:
            running = running or received
        final = event.status_changed.status if event.type == "run.status_changed" else final
    return {
        "total_s": time.time() - started,
        "first_event_ms": (first_event - started) * 1000,
        "running_ms": (running - started) * 1000,
        "delivery_ms": delivery,
        "succeeded": final == common_pb2.RUN_STATUS_SUCCEEDED,
    }


async def end_to_end(tmp: Path, url: str, reps: int) -> dict[str, Any]:
    direct = [await direct_codex(tmp) for _ in range(reps)]
    stack = await start_stack(tmp, url, "e2e", executors=2, slots=30)
    try:
        async with stack.channel() as channel:
            runs = runs_pb2_grpc.RunServiceStub(channel)
            await one_platform_run(runs, "[scenario:five] warm up")
            single = [await one_platform_run(runs, f"[scenario:five] bench {i}") for i in range(reps)]
            burst = await asyncio.gather(
                *(one_platform_run(runs, f"[scenario:five] burst {i}") for i in range(50))
            )
    finally:
        await stack.stop()
    platform_s = statistics.median(r["total_s"] for r in single)
    direct_s = statistics.median(direct)
    return {
        "scenario": "5 shell commands, then a final message (real codex, scripted model)",
        "direct_codex_app_server_s": round(direct_s, 3),
        "platform_create_to_succeeded_s": round(platform_s, 3),
        "ratio": round(platform_s / direct_s, 3),
        "target_ratio": 1.10,
        "first_event_ms": summary([r["first_event_ms"] for r in single]),
        "running_ms": summary([r["running_ms"] for r in single]),
        "first_event_target_ms": 300,
        "delivery_latency_1_run": summary([d for r in single for d in r["delivery_ms"]]),
        "delivery_latency_50_runs": summary([d for r in burst for d in r["delivery_ms"]]),
        "delivery_targets": {"p50_ms": 10, "p99_ms": 50},
        "burst_50_all_succeeded": all(r["succeeded"] for r in burst),
    }


# -- 2. ingest with a synthetic executor ---------------------------------------------


async def _read_port(port_file: Path) -> str:
    """The port the synthetic executor wrote once it listens."""
    async with asyncio.timeout(30):
        while True:
            text = await asyncio.to_thread(lambda: port_file.read_text() if port_file.exists() else "")
            if text.strip():
                return text.strip()
            await asyncio.sleep(0.05)


async def ingest_throughput(tmp: Path, url: str, events: int) -> dict[str, Any]:
    """A synthetic executor process streams ``events`` events into one run as
    fast as it can; the figure is events stored per second."""
    stack = await start_stack(tmp, url, "ingest", executors=0, slots=1)
    port_file = tmp / "synthetic.port"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.synthetic", "--count", str(events), "--port-file", str(port_file),
        stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    database = Database(url)
    try:
        address = f"127.0.0.1:{await _read_port(port_file)}"
        assert stack.manager is not None
        async with stack.internal_channel(stack.manager.address) as mchannel:
            manager = executor_manager_pb2_grpc.ExecutorManagerServiceStub(mchannel)
            await manager.RegisterExecutor(
                executor_manager_pb2.RegisterExecutorRequest(
                    executor_id=ids.new_id(ids.EXECUTOR), address=address, slots_total=4,
                    providers=["codex-app-server"], backend="external",
                )
            )  # fmt: skip
            async with stack.channel() as channel:
                runs = runs_pb2_grpc.RunServiceStub(channel)
                run = (await runs.CreateRun(runs_pb2.CreateRunRequest(prompt="synthetic"))).run
            # No subscriber in this process: only the control plane's ingest is
            # measured. Poll the run row until every event is stored.
            async with asyncio.timeout(120):
                while True:
                    async with database.session() as session:
                        stored = (await session.get_one(models.AgentRun, run.id)).last_seq
                    if stored >= events + 3:
                        last = time.time()
                        break
                    await asyncio.sleep(0.005)
            async with database.session() as session:
                first = await session.scalar(
                    select(func.min(models.RunEvent.created_at)).where(
                        models.RunEvent.run_id == run.id, models.RunEvent.type == "message.delta"
                    )
                )
            assert first is not None
    finally:
        await database.close()
        await stack.stop()
        proc.terminate()
        await proc.wait()
    elapsed = last - first.timestamp()
    return {
        "events": events,
        "stored_events": stored,
        "seconds": round(elapsed, 3),
        "events_per_s": round(events / elapsed),
        "measured": "first synthetic event created by the executor process -> every event stored in "
        "PostgreSQL by the control plane (gRPC stream, batching, COPY)",
        "target_events_per_s": 20_000,
    }


# -- 3. reply -> Codex -----------------------------------------------------------------


async def reply_latency(tmp: Path, url: str, count: int) -> dict[str, Any]:
    stack = await start_stack(tmp, url, "reply", executors=1, slots=4)
    database = Database(url)
    latencies: list[float] = []
    try:
        async with stack.channel() as channel:
            runs = runs_pb2_grpc.RunServiceStub(channel)
            human_loop = human_loop_pb2_grpc.HumanLoopServiceStub(channel)
            settings = runs_pb2.RunSettings(approval_mode=runs_pb2.APPROVAL_MODE_UNTRUSTED)
            for i in range(count):
                run = (
                    await runs.CreateRun(
                        runs_pb2.CreateRunRequest(prompt=f"[scenario:approve] {i}", settings=settings)
                    )
                ).run
                question = ""
                async for _, event in follow(runs, run.id):
                    if event.type == "human_loop.requested":
                        question = event.human_loop_requested.question_id
                        await human_loop.Reply(
                            human_loop_pb2.ReplyRequest(
                                run_id=run.id, question_id=question,
                                approval=human_loop_pb2.ApprovalAnswer(decision=human_loop_pb2.APPROVAL_DECISION_ACCEPT),
                            )
                        )  # fmt: skip
                async with database.session() as session:
                    resolved, delivered = (
                        await session.execute(
                            select(
                                models.HumanLoopRequest.resolved_at, models.HumanLoopRequest.delivered_at
                            ).where(models.HumanLoopRequest.question_id == question)
                        )
                    ).one()
                assert resolved is not None and delivered is not None, f"{question} was not delivered"
                latencies.append((delivered - resolved).total_seconds() * 1000)
    finally:
        await database.close()
        await stack.stop()
    return {
        "measured": "reply committed (resolved_at) -> the executor has written the answer to Codex and its "
        "acknowledgement is stored (delivered_at); both PostgreSQL clock",
        **summary(latencies),
        "target_p99_ms": 20,
    }


# -- 4. concurrent runs -----------------------------------------------------------------


async def concurrency(tmp: Path, database_for: Callable[[int], str], levels: list[int]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    best = 0
    for level in levels:
        executors = 4
        slots = (level + executors - 1) // executors
        stack = await start_stack(
            tmp, database_for(level), f"concurrency-{level}", executors=executors, slots=slots
        )
        try:
            async with stack.channel() as channel:
                runs = runs_pb2_grpc.RunServiceStub(channel)
                started = time.time()
                outcomes = await asyncio.gather(
                    *(one_platform_run(runs, f"[scenario:one] concurrent {i}") for i in range(level)),
                    return_exceptions=True,
                )
                elapsed = time.time() - started
        finally:
            await stack.stop()
        ok = sum(1 for o in outcomes if isinstance(o, dict) and o["succeeded"])
        results[str(level)] = {"succeeded": ok, "errors": level - ok, "seconds": round(elapsed, 2)}
        if ok == level:
            best = level
        else:
            break
    return {"levels": results, "max_concurrent_runs_without_errors": best, "target": 100}
