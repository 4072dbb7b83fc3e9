"""Codex thread state through the object store: saved on one executor,
resumable on another that starts with an empty disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.objectstore import ObjectStore
from executor.providers.codex.thread_state import export_rollout, find_rollout, import_rollout
from executor.workspace import restore_thread_state, save_thread_state

THREAD = "019a7c2e-5f1b-7d21-9c3e-2b9f0e4d6a11"
RELATIVE = f"sessions/2026/11/24/rollout-2026-11-24T02-13-10-{THREAD}.jsonl"


async def test_thread_state_round_trip(any_store: ObjectStore, tmp_path: Path) -> None:
    objects = any_store
    # Executor A: Codex writes the rollout in its CODEX_HOME; the session
    # exports it to the thread-state directory after the turn.
    home_a, state_a = tmp_path / "a" / "codex-home", tmp_path / "a" / "threads"
    live = home_a / RELATIVE
    live.parent.mkdir(parents=True)
    live.write_text('{"type":"session_meta"}\n{"type":"turn","n":1}\n')
    export_rollout(live, home_a, state_a)
    key = await save_thread_state(objects, state_a, THREAD)
    assert key == f"threads/{THREAD}/{RELATIVE}"

    # The next turn grows the rollout; saving again replaces the stored copy.
    with live.open("a") as handle:
        handle.write('{"type":"turn","n":2}\n')
    export_rollout(live, home_a, state_a)
    assert await save_thread_state(objects, state_a, THREAD) == key

    # Executor B, empty disk: restore, then the Codex session finds and imports it.
    state_b, home_b = tmp_path / "b" / "threads", tmp_path / "b" / "codex-home"
    restored = await restore_thread_state(objects, THREAD, state_b)
    assert restored == state_b / RELATIVE
    found = find_rollout(state_b, THREAD)
    assert found == restored
    imported = import_rollout(found, state_b, home_b)
    assert imported == home_b / RELATIVE
    assert imported.read_text() == live.read_text()


async def test_thread_without_saved_state(objects: ObjectStore, tmp_path: Path) -> None:
    assert await restore_thread_state(objects, "no-such-thread", tmp_path / "threads") is None
    assert await save_thread_state(objects, tmp_path / "empty", "no-such-thread") is None


async def test_hostile_thread_ids_and_keys(objects: ObjectStore, tmp_path: Path) -> None:
    for bad in ("../../etc", "a/b", "", "x" * 200):
        with pytest.raises(ValueError):
            await restore_thread_state(objects, bad, tmp_path / "threads")
        with pytest.raises(ValueError):
            await save_thread_state(objects, tmp_path, bad)
    # Keys under the thread's prefix that are not its rollout are ignored.
    thread = "t-hostile"
    await objects.put_bytes(f"threads/{thread}/sessions/notes.txt", b"x")
    await objects.put_bytes(f"threads/{thread}/sessions/rollout-1-other-thread.jsonl", b"x")
    assert await restore_thread_state(objects, thread, tmp_path / "threads") is None
    assert not (tmp_path / "threads").exists()
