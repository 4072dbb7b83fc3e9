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
import stat
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
    """Copy a live rollout into ``state_dir`` (same relative path).

    ``codex_home`` belongs to a session, which may have planted symlinks in
    it: only a regular file that really lies inside ``codex_home`` is copied,
    and it is opened without following a final symlink."""
    home = Path(codex_home).resolve()
    real = Path(rollout).resolve()
    if home not in real.parents:
        return None
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as src:
        if not stat.S_ISREG(os.fstat(src.fileno()).st_mode):
            return None
        dest = Path(state_dir) / real.relative_to(home)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp")
        with open(tmp, "wb") as out:
            shutil.copyfileobj(src, out)
        os.replace(tmp, dest)
    return dest


def import_rollout(saved: Path, state_dir: Path, codex_home: Path) -> Path:
    """Copy a saved rollout into ``codex_home`` where Codex looks for it."""
    dest = Path(codex_home) / _relative(saved, state_dir)
    _copy_atomically(saved, dest)
    return dest
