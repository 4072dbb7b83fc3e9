"""Session users: one uid (and gid of the same number) per live session.

A uid is leased by holding an exclusive ``flock`` on ``<lock dir>/<uid>``.
The lock dies with its holder, so executors sharing a machine never hand out
the same uid, and a crashed executor's uids come free by themselves. Before
a uid is handed out again, whatever still runs under it is killed: a new
session never meets an old session's processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path

import psutil

log = logging.getLogger(__name__)


class NoFreeUidError(RuntimeError):
    """Every uid of the range is leased."""


@dataclass
class UidLease:
    uid: int
    _fd: int

    @property
    def gid(self) -> int:
        return self.uid

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class UidPool:
    def __init__(self, first: int, last: int, lock_dir: Path) -> None:
        self.first, self.last = first, last
        self.lock_dir = lock_dir

    def prepare(self) -> None:
        self.lock_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.lock_dir, 0o700)

    def acquire(self) -> UidLease:
        """The lowest free uid, its leftover processes killed (blocking)."""
        for uid in range(self.first, self.last + 1):
            fd = os.open(self.lock_dir / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            kill_processes_of(uid)
            return UidLease(uid, fd)
        raise NoFreeUidError(f"all session uids {self.first}-{self.last} are in use")

    def try_lease(self, uid: int) -> UidLease | None:
        """``uid``'s lease if nobody holds it (without waiting), else None."""
        if not self.first <= uid <= self.last:
            return None
        fd = os.open(self.lock_dir / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return UidLease(uid, fd)


def kill_processes_of(uid: int) -> int:
    """SIGKILL every process whose real or effective uid is ``uid``."""
    killed = 0
    for _ in range(20):  # until none is left (a dying fork bomb may still fork)
        victims = []
        for proc in psutil.process_iter(["uids"]):
            uids = proc.info.get("uids")
            if uids is not None and uid in (uids.real, uids.effective):
                victims.append(proc.pid)
        if not victims:
            break
        for pid in victims:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        killed += len(victims)
    if killed:
        log.info("killed %d leftover process(es) of session uid %d", killed, uid)
    return killed
