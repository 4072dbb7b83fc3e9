"""Configuration checks, state conversions, validation and the change signal."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import pytest

from ccplane.v1 import executor_manager_pb2 as pb
from common.errors import ServiceError
from common.settings import Settings
from executor_manager import validation
from executor_manager.__main__ import add_arguments, config_from_args
from executor_manager.config import ManagerConfig
from executor_manager.convert import duration, state_to_proto
from executor_manager.records import ExecutorState
from executor_manager.signals import ChangeSignal


@pytest.mark.parametrize(
    "bad",
    [
        {"min_executors": -1},
        {"min_executors": 3, "max_executors": 2},
        {"slots_per_executor": 0},
        {"heartbeat_interval": 5.0, "heartbeat_timeout": 5.0},
        {"idle_timeout": 0.0},
    ],
)
def test_config_refuses_nonsense(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ManagerConfig(**bad)  # type: ignore[arg-type]


def test_command_line() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser, Settings())
    args = parser.parse_args(
        [
            "--port",
            "50052",
            "--min-executors",
            "1",
            "--max-executors",
            "4",
            "--slots",
            "4",
            "--data-dir",
            "/d",
        ]
    )
    config = config_from_args(args)
    assert (config.min_executors, config.max_executors, config.slots_per_executor) == (1, 4, 4)
    assert config.data_dir == Path("/d")
    assert config.heartbeat_timeout == 10.0, "CCPLANE_EXECUTOR_HEARTBEAT_TIMEOUT's default"
    assert config.heartbeat_timeout > config.heartbeat_interval


def test_every_state_has_a_proto_value() -> None:
    values = {state_to_proto(state) for state in ExecutorState}
    assert len(values) == len(ExecutorState)
    assert pb.EXECUTOR_STATE_UNSPECIFIED not in values
    assert duration(0.25).ToMilliseconds() == 250


def test_acquire_defaults_and_aliases_the_provider() -> None:
    run_id = "run_01J00000000000000000000000"
    assert validation.lease_request(pb.AcquireExecutorRequest(run_id=run_id)).provider == "codex-app-server"
    legacy = validation.lease_request(pb.AcquireExecutorRequest(run_id=run_id, provider="codex-cli"))
    assert legacy.provider == "codex-app-server"
    with pytest.raises(ServiceError) as error:
        validation.lease_request(pb.AcquireExecutorRequest(run_id=""))
    assert error.value.violations[0].field == "run_id"


async def test_change_signal_wakes_waiters_without_losing_a_change() -> None:
    signal = ChangeSignal()
    state = {"ready": False}
    waiter = asyncio.create_task(signal.wait_for(lambda: state["ready"]))
    await asyncio.sleep(0)  # let it check once and wait
    state["ready"] = True
    signal.notify()
    async with asyncio.timeout(1):
        await waiter
