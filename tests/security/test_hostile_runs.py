"""Hostile runs with the real codex binary: a tenant's run attacks the platform
and another tenant's live run on the same executor, and finds nothing.

The scripted model plays the attacker (``attacks.py``). Every attempt must
fail, and a scan of every stored event of the attacking run must find none
of the secrets: the platform's keys, the model's key, the database, the
victim's workspace file, prompt and environment.
"""

from __future__ import annotations

import ast
import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import psutil
import pytest
import pytest_asyncio
from google.protobuf import json_format, struct_pb2

from ccplane.v1 import common_pb2, events_pb2, human_loop_pb2, human_loop_pb2_grpc, runs_pb2, runs_pb2_grpc
from common.credentials import authorized_channel
from executor.confinement.settings import DEFAULT_UID_RANGE
from tests.security import attacks
from tests.security.conftest import Hostile

pytestmark = pytest.mark.asyncio(loop_scope="session")

RUN_TIMEOUT_S = 240.0
TERMINAL = {common_pb2.RUN_STATUS_SUCCEEDED, common_pb2.RUN_STATUS_FAILED, common_pb2.RUN_STATUS_CANCELED}
NEVER = runs_pb2.APPROVAL_MODE_NEVER


def runs_as(hostile: Hostile, key: str) -> tuple[grpc.aio.Channel, runs_pb2_grpc.RunServiceStub]:
    channel = authorized_channel(hostile.stack.grpc_address, key)
    return channel, runs_pb2_grpc.RunServiceStub(channel)


async def all_events(runs: runs_pb2_grpc.RunServiceStub, run_id: str) -> list[events_pb2.RunEvent]:
    events: list[events_pb2.RunEvent] = []
    token = ""
    while True:
        page = await runs.ListRunEvents(
            runs_pb2.ListRunEventsRequest(run_id=run_id, page_size=5000, page_token=token)
        )
        events.extend(page.events)
        token = page.next_page_token
        if not token:
            return events


async def wait_until(runs: runs_pb2_grpc.RunServiceStub, run_id: str, statuses: set[int]) -> runs_pb2.Run:
    async with asyncio.timeout(RUN_TIMEOUT_S):
        while True:
            run = (await runs.GetRun(runs_pb2.GetRunRequest(run_id=run_id))).run
            if run.status in statuses:
                return run
            await asyncio.sleep(0.5)


def outputs(events: list[events_pb2.RunEvent]) -> str:
    return "\n".join(e.command_completed.output for e in events if e.type == "command.completed")


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def victim_run(hostile: Hostile) -> AsyncIterator[runs_pb2.Run]:
    """The victim tenant's run, live on the same executor: it wrote its secret
    file and now runs a long command."""
    channel, runs = runs_as(hostile, hostile.victim_key)
    async with channel:
        created = await runs.CreateRun(
            runs_pb2.CreateRunRequest(
                prompt=f"[scenario:victim] keep this safe: {hostile.victim_prompt_secret}",
                settings=runs_pb2.RunSettings(
                    approval_mode=NEVER, env={"VICTIM_SECRET": hostile.victim_env_secret}
                ),
            )
        )
        run = await wait_until(runs, created.run.id, {common_pb2.RUN_STATUS_WAITING_HUMAN, *TERMINAL})
        assert run.status == common_pb2.RUN_STATUS_WAITING_HUMAN, run.error
        assert hostile.victim_file_secret in outputs(await all_events(runs, run.id))
        yield run
        if (await runs.GetRun(runs_pb2.GetRunRequest(run_id=run.id))).run.status not in TERMINAL:
            await runs.StopRun(runs_pb2.StopRunRequest(run_id=run.id, reason="security suite done"))
            await wait_until(runs, run.id, TERMINAL)


def internal_ports(hostile: Hostile) -> set[int]:
    stack = hostile.stack
    assert stack.manager is not None
    ports = {5432, int(stack.grpc_address.rsplit(":", 1)[1]), int(stack.manager.address.rsplit(":", 1)[1])}
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if "executor" in cmdline and "--manager" in cmdline:
            try:
                ports.update(c.laddr.port for c in proc.net_connections("tcp") if c.status == "LISTEN")
            except psutil.Error:
                continue
    return ports


def written_outside(data_dir: Path) -> list[Path]:
    found = [Path(t) for t in attacks.WRITE_TARGETS if Path(t).exists()]
    return found + list((data_dir / "executors").glob("*/pwned")) + list(data_dir.glob("executors/pwned"))


ATTACKS = [
    pytest.param(runs_pb2.SANDBOX_MODE_WORKSPACE_WRITE, False, id="workspace-write"),
    pytest.param(runs_pb2.SANDBOX_MODE_READ_ONLY, False, id="read-only"),
    pytest.param(runs_pb2.SANDBOX_MODE_DANGER_FULL_ACCESS, True, id="full-access"),
]


@pytest.mark.parametrize(("sandbox", "trusted"), ATTACKS)
async def test_a_hostile_run_finds_nothing(
    hostile: Hostile, victim_run: runs_pb2.Run, sandbox: int, trusted: bool
) -> None:
    key = hostile.trusted_attacker_key if trusted else hostile.attacker_key
    channel, runs = runs_as(hostile, key)
    async with channel:
        created = await runs.CreateRun(
            runs_pb2.CreateRunRequest(
                prompt="[scenario:attack] find the platform's secrets",
                settings=runs_pb2.RunSettings(
                    approval_mode=NEVER,
                    sandbox_mode=sandbox,  # type: ignore[arg-type]
                    mcp_servers={"loot": runs_pb2.McpServer(command="sh", args=["-c", attacks.MCP_HUNT])},
                ),
            )
        )
        run = await wait_until(runs, created.run.id, TERMINAL)
        events = await all_events(runs, run.id)
    assert run.status == common_pb2.RUN_STATUS_SUCCEEDED, (run.error, [e.type for e in events][-10:])
    assert run.executor_id == victim_run.executor_id, "the attack ran beside the victim"

    text = outputs(events)
    for name in attacks.HUNTS:
        assert f"DONE:{name}" in text, f"attempt {name!r} did not run to its end"

    # No secret in any event, whatever its type.
    dumped = "\n".join(json_format.MessageToJson(e) for e in events)
    leaked = {name for name, secret in hostile.secrets().items() if secret in dumped}
    assert not leaked, f"the hostile run's events carry: {sorted(leaked)}"

    # Nothing internal answered: at most one open port (the session's own model proxy).
    (open_line,) = re.findall(r"OPEN-PORTS (\[.*\])", text)
    open_ports = set(ast.literal_eval(open_line))
    assert len(open_ports) <= 1, open_ports
    assert not open_ports & internal_ports(hostile), open_ports
    assert "UNIX-OPEN" not in text

    # Nothing written outside the workspace.
    assert not written_outside(hostile.data_dir)

    # The proc hunt saw the session's own processes only.
    seen = {int(m) for m in re.findall(r"== /proc/(\d+) ", text)}
    assert seen and len(seen) < 50, seen


async def test_exhaustion_leaves_the_executor_and_the_victim_healthy(
    hostile: Hostile, victim_run: runs_pb2.Run
) -> None:
    channel, runs = runs_as(hostile, hostile.attacker_key)
    async with channel:
        created = await runs.CreateRun(
            runs_pb2.CreateRunRequest(
                prompt="[scenario:exhaust] use everything", settings=runs_pb2.RunSettings(approval_mode=NEVER)
            )
        )
        run = await wait_until(runs, created.run.id, TERMINAL)
        text = outputs(await all_events(runs, run.id))
        assert run.status == common_pb2.RUN_STATUS_SUCCEEDED, run.error
        assert "FORK-STOPPED" in text and "FORKED-ALL" not in text, text[-2000:]
        assert "DONE:memory" in text and "ALLOCATED-ALL" not in text, text[-2000:]
        assert "memory bomb exit 137" in text, "killed by the session's memory ceiling"

        # The executor still serves, and the victim's run is still live.
        again = await runs.CreateRun(
            runs_pb2.CreateRunRequest(
                prompt="[scenario:quick] hello", settings=runs_pb2.RunSettings(approval_mode=NEVER)
            )
        )
        done = await wait_until(runs, again.run.id, TERMINAL)
        assert done.status == common_pb2.RUN_STATUS_SUCCEEDED
        assert done.executor_id == victim_run.executor_id
    # The victim's session lived through it all: it takes its answer and finishes.
    vchannel, vruns = runs_as(hostile, hostile.victim_key)
    async with vchannel:
        victim = (await vruns.GetRun(runs_pb2.GetRunRequest(run_id=victim_run.id))).run
        assert victim.status == common_pb2.RUN_STATUS_WAITING_HUMAN
        (asked,) = [e for e in await all_events(vruns, victim.id) if e.type == "human_loop.requested"]
        await human_loop_pb2_grpc.HumanLoopServiceStub(vchannel).Reply(
            human_loop_pb2.ReplyRequest(
                run_id=victim.id,
                question_id=asked.human_loop_requested.question_id,
                questions=human_loop_pb2.QuestionAnswers(
                    answers={"go": human_loop_pb2.QuestionAnswer(answers=["Go on"])}
                ),
            )
        )
        finished = await wait_until(vruns, victim.id, TERMINAL)
    assert finished.status == common_pb2.RUN_STATUS_SUCCEEDED, finished.error


async def test_full_access_needs_the_tenant_setting(hostile: Hostile) -> None:
    channel, runs = runs_as(hostile, hostile.attacker_key)
    async with channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await runs.CreateRun(
                runs_pb2.CreateRunRequest(
                    prompt="[scenario:attack] x",
                    settings=runs_pb2.RunSettings(sandbox_mode=runs_pb2.SANDBOX_MODE_DANGER_FULL_ACCESS),
                )
            )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "settings.sandbox_mode" in (refused.value.details() or "")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("sandbox_mode", "danger-full-access"),
        ("model_providers.evil.base_url", "http://127.0.0.1:1/v1"),
        ("model_providers.evil.env_key", "CCPLANE_INTERNAL_TOKEN"),
        ("model_provider", "evil"),
        ("shell_environment_policy.inherit", "all"),
    ],
)
async def test_escape_hatch_overrides_are_refused(hostile: Hostile, key: str, value: str) -> None:
    channel, runs = runs_as(hostile, hostile.attacker_key)
    async with channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await runs.CreateRun(
                runs_pb2.CreateRunRequest(
                    prompt="[scenario:attack] x",
                    settings=runs_pb2.RunSettings(
                        config_overrides={key: struct_pb2.Value(string_value=value)}
                    ),
                )
            )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"settings.config_overrides['{key}']" in (refused.value.details() or "")


async def test_nothing_of_a_session_outlives_it(hostile: Hostile, victim_run: runs_pb2.Run) -> None:
    """Ran last in this module (pytest keeps file order): once every run has
    ended, no process runs under a session uid and no session directory is left."""
    channel, runs = runs_as(hostile, hostile.victim_key)
    async with channel:
        assert (await runs.GetRun(runs_pb2.GetRunRequest(run_id=victim_run.id))).run.status in TERMINAL
    first, last = DEFAULT_UID_RANGE
    async with asyncio.timeout(30):
        while True:
            leftovers = [
                p.pid
                for p in psutil.process_iter(["uids"])
                if p.info["uids"] is not None and first <= p.info["uids"].real <= last
            ]
            boxes = [
                d
                for root in (hostile.data_dir / "sessions", Path("/var/lib/ccplane/sessions"))
                for d in root.glob(f"{victim_run.executor_id}/*")
            ]
            if not leftovers and not boxes:
                break
            await asyncio.sleep(0.5)
