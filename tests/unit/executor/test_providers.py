"""Provider registry, session preconditions and process hygiene (no codex binary)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path
from typing import cast

import psutil
import pytest

from ccplane.v1 import events_pb2
from executor.providers import (
    CODEX_APP_SERVER,
    Capabilities,
    Outcome,
    SessionSettings,
    SessionSpec,
    default_registry,
)
from executor.providers.codex import CodexSession, ModelConfig
from executor.providers.codex.process import MARKER_ENV, CodexProcess
from executor.providers.errors import (
    SessionStateError,
    ThreadStateNotFoundError,
    UnknownProviderError,
    WorkspaceMissingError,
)


def spec(tmp_path: Path, **fields: object) -> SessionSpec:
    values: dict[str, object] = {"run_id": "run_1", "workspace_dir": tmp_path, "prompt": "hi", **fields}
    return SessionSpec(**values)  # type: ignore[arg-type]


def test_registry_capabilities_and_legacy_kind(tmp_path: Path) -> None:
    registry = default_registry()
    assert registry.names() == [CODEX_APP_SERVER]
    assert registry.capabilities(CODEX_APP_SERVER) == Capabilities(
        resume=True, human_loop=True, steer=True, interrupt=True
    )
    legacy = registry.resolve("codex-cli")
    assert legacy.kind.name == CODEX_APP_SERVER and legacy.conversion_warning
    session = registry.create_session(spec(tmp_path, provider="codex-cli"), model=ModelConfig())
    assert isinstance(session, CodexSession)
    assert session.spec.provider == CODEX_APP_SERVER


def test_unknown_provider_is_invalid_argument(tmp_path: Path) -> None:
    with pytest.raises(UnknownProviderError) as raised:
        default_registry().create_session(spec(tmp_path, provider="claude"))
    assert raised.value.field == "provider"
    assert raised.value.status_code == "INVALID_ARGUMENT"
    assert "codex-app-server" in str(raised.value)


async def test_missing_workspace_is_a_precondition_error(tmp_path: Path) -> None:
    session = CodexSession(spec(tmp_path / "nope"), ModelConfig(api_key="k"))
    with pytest.raises(WorkspaceMissingError) as raised:
        await session.start()
    assert raised.value.status_code == "FAILED_PRECONDITION"
    assert session.process_pid is None


async def test_resume_without_saved_state_is_a_precondition_error(tmp_path: Path) -> None:
    session = CodexSession(
        spec(tmp_path, resume_thread_id="0199-missing", thread_state_dir=tmp_path / "state"),
        ModelConfig(api_key="k"),
    )
    with pytest.raises(ThreadStateNotFoundError):
        await session.start()


async def test_missing_credentials_fail_the_session_with_an_error_event(tmp_path: Path) -> None:
    session = default_registry().create_session(spec(tmp_path, provider="codex-cli"), model=ModelConfig())
    assert isinstance(session, CodexSession)
    with pytest.raises(SessionStateError):
        await session.inject("too early")
    await session.start()
    events = [event async for event in session.events()]
    assert [(e.type, e.WhichOneof("payload")) for e in events] == [
        ("warning", "warning"),
        ("error", "error"),
    ]
    assert cast(events_pb2.RunWarning, events[0].warning).reason == "PROVIDER_CONVERTED"
    assert events[1].error.reason == "MODEL_CREDENTIALS_MISSING"
    assert "CCPLANE_MODEL_API_KEY" in events[1].error.message
    assert session.outcome is not None
    assert (session.outcome.outcome, session.outcome.reason) == (Outcome.FAILED, "MODEL_CREDENTIALS_MISSING")
    assert session.process_pid is None
    with pytest.raises(SessionStateError):
        await session.start()


async def test_missing_binary_fails_the_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CCPLANE_CODEX_BIN", str(tmp_path / "no-codex"))
    session = CodexSession(spec(tmp_path, settings=SessionSettings()), ModelConfig(api_key="k"))
    await session.start()
    events = [event async for event in session.events()]
    assert events[-1].type == "error" and events[-1].error.reason == "PROVIDER_UNAVAILABLE"
    assert session.outcome is not None and session.outcome.outcome == Outcome.FAILED


# -- process hygiene -----------------------------------------------------------


def fake_codex(tag: str) -> str:
    """Stands in for Codex: spawns commands in their own sessions (as Codex
    does), reports on stderr, then waits on stdin."""
    return (
        f"setsid sleep {tag}1 & setsid sh -c 'sleep {tag}2' & "
        "echo 'ERROR fake codex complains' >&2; echo ready; exec cat"
    )


def _cmdline(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return ""


def alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    """Those of ``procs`` still running (the same processes: psutil refuses a
    reused pid). A zombie counts as gone: a container's init may never reap."""
    found = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


def running(command: str) -> list[psutil.Process]:
    """Live processes this test started (descendants of the test process, not
    other processes on the host) whose command line starts with ``command``."""
    return [p for p in alive(psutil.Process().children(recursive=True)) if _cmdline(p).startswith(command)]


async def start_fake(tmp_path: Path, tag: str) -> tuple[CodexProcess, list[psutil.Process]]:
    """The fake Codex, and the two commands it started (psutil handles, which
    keep pointing at them once a crash has orphaned them)."""
    process = CodexProcess(
        codex_home=tmp_path, cwd=tmp_path, env={}, binary=Path("/bin/sh"), args=["-c", fake_codex(tag)]
    )
    await process.start()
    assert await process.stdout.readline() == b"ready\n"
    assert process.pid is not None
    fake = psutil.Process(process.pid)

    def commands() -> list[psutil.Process]:
        return [p for p in fake.children(recursive=True) if _cmdline(p).startswith(f"sleep {tag}")]

    # The fake starts its children in the background: give them a moment to exec.
    async with asyncio.timeout(10):
        while len(children := commands()) < 2:  # noqa: ASYNC110 - no event tells when a process has exec-ed
            await asyncio.sleep(0.02)
    return process, children


async def test_stop_leaves_no_process_behind(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="ccplane.codex.stderr")
    process, commands = await start_fake(tmp_path, "53.61")
    await process.stop(grace=0.2)
    assert process.returncode is not None
    assert alive(commands) == [], "the commands Codex started are gone"
    assert running("sleep 53.61") == []
    assert any("fake codex complains" in r.getMessage() for r in caplog.records)
    assert process.stderr_tail == ["ERROR fake codex complains"]


async def test_crashed_process_leaves_no_orphans(tmp_path: Path) -> None:
    process, commands = await start_fake(tmp_path, "53.62")
    assert process.pid is not None
    os.kill(process.pid, signal.SIGKILL)
    # Exit is seen although the orphans still hold Codex's pipes.
    assert await process.wait_exit(5.0)
    assert process.returncode == -signal.SIGKILL
    assert alive(commands) == commands, "orphans survive their parent"
    await asyncio.wait_for(process.stop(), 5.0)
    assert alive(commands) == []
    assert running("sleep 53.62") == []


async def test_codex_sees_an_environment_built_from_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the allow-listed variables of the executor reach a session; the
    platform's settings and secrets in the executor's environment do not."""
    for name in ("CCPLANE_INTERNAL_TOKEN", "CCPLANE_DATABASE_URL", "AWS_SECRET_ACCESS_KEY", "OPENAI_API_KEY"):
        monkeypatch.setenv(name, f"secret-{name.lower()}")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    monkeypatch.setenv("https_proxy", "http://proxy.invalid:3128")
    process = CodexProcess(
        codex_home=tmp_path,
        cwd=tmp_path,
        env={"RUN_SETTING": "mine"},
        binary=Path("/bin/sh"),
        args=["-c", "env; echo END"],
    )
    await process.start()
    lines: list[str] = []
    async with asyncio.timeout(10):
        while (line := (await process.stdout.readline()).decode().rstrip("\n")) != "END":
            lines.append(line)
    await process.stop(grace=0.2)
    seen = dict(line.split("=", 1) for line in lines if "=" in line)
    assert not [value for value in seen.values() if value.startswith("secret-")], seen
    assert seen["RUN_SETTING"] == "mine" and seen["CODEX_HOME"] == str(tmp_path)
    assert seen["LC_ALL"] == "C.UTF-8" and seen["https_proxy"] == "http://proxy.invalid:3128"
    assert "PATH" in seen and "HOME" in seen
    assert not [name for name in seen if name.startswith("CCPLANE_") and name != MARKER_ENV]
