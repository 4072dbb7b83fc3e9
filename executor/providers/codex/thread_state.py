"""Saving and restoring a Codex thread so another process can resume it.

A thread's whole history is one JSONL rollout file,
``CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<thread id>.jsonl``. Copying
it to the same relative path under a fresh ``CODEX_HOME`` is enough for
``thread/resume`` there (observed with codex 0.163). The thread-state
directory mirrors that layout.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def find_rollout(root: Path, thread_id: str) -> Path | None:
    """The newest rollout file of ``thread_id`` under ``root``, if any."""
    root = Path(root)
    if not root.is_dir() or not thread_id or "/" in thread_id:
        return None
    matches = sorted(root.rglob(f"rollout-*-{thread_id}.jsonl"), key=lambda p: p.stat().st_mtime)
    return matches[-1] if matches else None


def _relative(path: Path, root: Path) -> Path:
    try:
        return path.resolve().relative_to(Path(root).resolve())
    except ValueError:
        return Path("sessions") / path.name


def _copy_atomically(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)


def export_rollout(rollout: Path, codex_home: Path, state_dir: Path) -> Path | None:
    """Copy a live rollout into ``state_dir`` (same relative path)."""
    if not rollout.is_file():
        return None
    dest = Path(state_dir) / _relative(rollout, codex_home)
    _copy_atomically(rollout, dest)
    return dest


def import_rollout(saved: Path, state_dir: Path, codex_home: Path) -> Path:
    """Copy a saved rollout into ``codex_home`` where Codex looks for it."""
    dest = Path(codex_home) / _relative(saved, state_dir)
    _copy_atomically(saved, dest)
    return dest
