"""Codex thread state in the object store, so a thread resumes anywhere.

The state is the thread's rollout file, kept under the executor's
thread-state directory at ``sessions/YYYY/MM/DD/rollout-<time>-<id>.jsonl``
(see ``executor.providers.codex.thread_state``). It is saved to
``threads/<thread id>/<that relative path>`` after each turn and restored
to the same relative path on an executor that lacks it, where the Codex
session finds it when asked to resume.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path, PurePosixPath

from common.objectstore import ObjectStore
from common.objectstore.layout import is_thread_id, thread_prefix
from common.objectstore.paths import InvalidPathError, check_path
from executor.providers.codex.thread_state import find_rollout


def _rollout_name(thread_id: str) -> re.Pattern[str]:
    return re.compile(rf"rollout-[0-9A-Za-z:.\-T]+-{re.escape(thread_id)}\.jsonl")


async def save_thread_state(objects: ObjectStore, thread_state_dir: Path, thread_id: str) -> str | None:
    """Upload the thread's newest rollout; returns its key (None when there is none yet)."""
    if not is_thread_id(thread_id):
        raise ValueError(f"invalid thread id {thread_id!r}")
    root = Path(thread_state_dir)
    rollout = await asyncio.to_thread(find_rollout, root, thread_id)
    if rollout is None:
        return None
    relative = rollout.relative_to(root).as_posix()
    check_path(relative)
    key = thread_prefix(thread_id) + relative
    await objects.put_file(key, rollout)
    return key


async def restore_thread_state(objects: ObjectStore, thread_id: str, thread_state_dir: Path) -> Path | None:
    """Download the thread's newest saved rollout into ``thread_state_dir``;
    returns where it went (None when the store has none)."""
    if not is_thread_id(thread_id):
        raise ValueError(f"invalid thread id {thread_id!r}")
    prefix = thread_prefix(thread_id)
    pattern = _rollout_name(thread_id)
    candidates: list[str] = []
    async for info in objects.list(prefix):
        relative = info.key[len(prefix) :]
        try:
            check_path(relative)
        except InvalidPathError:
            continue
        if pattern.fullmatch(PurePosixPath(relative).name):
            candidates.append(relative)
    if not candidates:
        return None
    # Rollout names start with their creation time: the greatest is the newest.
    newest = max(candidates, key=lambda rel: (PurePosixPath(rel).name, rel))
    target = Path(thread_state_dir) / newest
    await objects.get_file(prefix + newest, target)
    return target
