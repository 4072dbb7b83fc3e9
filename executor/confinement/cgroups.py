"""A cgroup per session: a ceiling on its processes and memory.

cgroup v1 (a ``pids`` and a ``memory`` hierarchy) and v2 (the unified
hierarchy, where the executor's cgroup must delegate ``pids``/``memory``).
The session's cgroup is made below the executor's own, so a deployment's
limits on the executor still hold. Where none can be made the session runs
with rlimits only; :meth:`SessionCgroup.create` returns None and says why.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from executor.confinement.settings import ResourceLimits

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
# controller -> the file its limit is written to (v1, v2)
_V1_LIMITS = {"pids": "pids.max", "memory": "memory.limit_in_bytes"}
_V2_LIMITS = {"pids": "pids.max", "memory": "memory.max"}


class CgroupUnavailableError(OSError):
    pass


def _own_paths() -> dict[str, str]:
    """This process's cgroup path per v1 controller, and ``""`` for v2."""
    paths: dict[str, str] = {}
    with open("/proc/self/cgroup") as fh:
        for line in fh:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                paths[controller] = path
    return paths


@dataclass
class SessionCgroup:
    directories: list[Path]

    @classmethod
    def create(cls, name: str, limits: ResourceLimits) -> SessionCgroup:
        """Make ``name`` below this process's cgroups; raises CgroupUnavailableError."""
        values = {"pids": str(limits.max_processes), "memory": str(limits.memory_bytes)}
        try:
            own = _own_paths()
        except OSError as exc:
            raise CgroupUnavailableError(f"cannot read /proc/self/cgroup: {exc}") from exc
        made: list[Path] = []
        try:
            if all((CGROUP_ROOT / c).is_dir() and c in own for c in _V1_LIMITS):
                for controller, limit_file in _V1_LIMITS.items():
                    directory = CGROUP_ROOT / controller / own[controller].lstrip("/") / name
                    directory.mkdir(exist_ok=True)
                    made.append(directory)
                    (directory / limit_file).write_text(values[controller])
            elif (CGROUP_ROOT / "cgroup.controllers").is_file() and "" in own:
                directory = CGROUP_ROOT / own[""].lstrip("/") / name
                directory.mkdir(exist_ok=True)
                made.append(directory)
                for controller, limit_file in _V2_LIMITS.items():
                    if not (directory / limit_file).exists():
                        raise CgroupUnavailableError(
                            f"the {controller} controller is not delegated to {directory.parent}"
                        )
                    (directory / limit_file).write_text(values[controller])
            else:
                raise CgroupUnavailableError("no pids and memory cgroup controllers are mounted")
        except OSError as exc:
            for directory in made:
                with contextlib.suppress(OSError):
                    directory.rmdir()
            if isinstance(exc, CgroupUnavailableError):
                raise
            raise CgroupUnavailableError(f"cannot make a session cgroup: {exc}") from exc
        return cls(made)

    @property
    def procs_files(self) -> list[Path]:
        return [d / "cgroup.procs" for d in self.directories]

    def pids(self) -> set[int]:
        found: set[int] = set()
        for procs in self.procs_files:
            with contextlib.suppress(OSError):
                found.update(int(p) for p in procs.read_text().split())
        return found

    def kill_all(self, timeout_s: float = 5.0) -> None:
        """SIGKILL every process in the cgroup until it is empty (blocking)."""
        deadline = time.monotonic() + timeout_s
        while True:
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                log.warning("session cgroup %s still holds %d process(es)", self.directories[0], len(pids))
                return
            time.sleep(0.02)

    def remove(self) -> None:
        self.kill_all()
        for directory in self.directories:
            for _ in range(50):
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # still busy: exiting processes are not gone yet
                    time.sleep(0.02)
