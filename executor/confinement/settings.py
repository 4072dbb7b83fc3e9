"""How sessions are confined: the ``CCPLANE_SESSION_*`` settings.

``CCPLANE_SESSION_ISOLATION``:

- ``auto`` (default): confine every session when the executor can (it runs
  as root on Linux, with namespaces); otherwise run sessions unconfined and
  host one tenant only (see :class:`executor.sessions.SessionHost`).
- ``required``: refuse to start when sessions cannot be confined.
- ``off``: never confine; one tenant only. For a single-user machine.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ISOLATION_ENV = "CCPLANE_SESSION_ISOLATION"
UID_RANGE_ENV = "CCPLANE_SESSION_UID_RANGE"
ROOT_ENV = "CCPLANE_SESSION_ROOT"
MAX_PROCESSES_ENV = "CCPLANE_SESSION_MAX_PROCESSES"
MEMORY_ENV = "CCPLANE_SESSION_MEMORY"
MAX_FILE_SIZE_ENV = "CCPLANE_SESSION_MAX_FILE_SIZE"
MAX_OPEN_FILES_ENV = "CCPLANE_SESSION_MAX_OPEN_FILES"
TMP_SIZE_ENV = "CCPLANE_SESSION_TMP_SIZE"

DEFAULT_UID_RANGE = (61000, 61999)
# Host-wide, so executors sharing a machine never hand out the same uid.
DEFAULT_UID_LOCK_DIR = Path("/run/ccplane/session-uids")
GIB = 1024**3
MIB = 1024**2
_UNITS = {"": 1, "k": 1024, "kib": 1024, "m": MIB, "mib": MIB, "g": GIB, "gib": GIB}
# Directories every session gets privately (an empty tmpfs each, with this
# mode): scratch space no other session shares, and /run, where the host's
# sockets live (a database's, a container engine's). A session root below
# them would vanish from the session's view.
PRIVATE_DIR_MODES = {
    Path("/tmp"): "1777",
    Path("/var/tmp"): "1777",
    Path("/dev/shm"): "1777",
    Path("/run"): "755",
}
PRIVATE_DIRS = tuple(PRIVATE_DIR_MODES)


class SettingError(ValueError):
    """A ``CCPLANE_SESSION_*`` value is malformed; the message names it."""


class Isolation(enum.StrEnum):
    AUTO = "auto"
    REQUIRED = "required"
    OFF = "off"


@dataclass(frozen=True)
class ResourceLimits:
    """Per session. Processes and memory are enforced by a cgroup where one
    can be made (processes also by RLIMIT_NPROC, which counts per uid)."""

    max_processes: int = 512
    memory_bytes: int = 4 * GIB
    max_file_bytes: int = 8 * GIB
    max_open_files: int = 4096
    tmp_bytes: int = 1 * GIB


@dataclass(frozen=True)
class ConfinementSettings:
    isolation: Isolation = Isolation.AUTO
    uid_range: tuple[int, int] = DEFAULT_UID_RANGE
    # Where session directories are made (default: <data-dir>/sessions). Every
    # ancestor must be traversable by other users, and it must not lie in a
    # directory sessions get privately (/tmp, /var/tmp, /dev/shm).
    session_root: Path | None = None
    limits: ResourceLimits = field(default_factory=ResourceLimits)
    uid_lock_dir: Path = DEFAULT_UID_LOCK_DIR

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ConfinementSettings:
        env = os.environ if env is None else env
        raw_isolation = env.get(ISOLATION_ENV, "").strip().lower() or Isolation.AUTO.value
        try:
            isolation = Isolation(raw_isolation)
        except ValueError:
            choices = ", ".join(i.value for i in Isolation)
            raise SettingError(f"{ISOLATION_ENV}={raw_isolation!r}: expected one of {choices}") from None
        defaults = ResourceLimits()
        limits = ResourceLimits(
            max_processes=_count(env, MAX_PROCESSES_ENV, defaults.max_processes),
            memory_bytes=_size(env, MEMORY_ENV, defaults.memory_bytes),
            max_file_bytes=_size(env, MAX_FILE_SIZE_ENV, defaults.max_file_bytes),
            max_open_files=_count(env, MAX_OPEN_FILES_ENV, defaults.max_open_files),
            tmp_bytes=_size(env, TMP_SIZE_ENV, defaults.tmp_bytes),
        )
        root = env.get(ROOT_ENV, "").strip()
        return cls(
            isolation=isolation,
            uid_range=parse_uid_range(env.get(UID_RANGE_ENV, "")),
            session_root=Path(root) if root else None,
            limits=limits,
        )


def parse_uid_range(raw: str) -> tuple[int, int]:
    """``"61000-61999"`` → (61000, 61999); empty → the default."""
    raw = raw.strip()
    if not raw:
        return DEFAULT_UID_RANGE
    match = re.fullmatch(r"(\d+)\s*-\s*(\d+)", raw)
    if not match:
        raise SettingError(f"{UID_RANGE_ENV}={raw!r}: expected FIRST-LAST, e.g. 61000-61999")
    first, last = int(match[1]), int(match[2])
    if first < 1000 or last < first or last >= 2**31:
        raise SettingError(
            f"{UID_RANGE_ENV}={raw!r}: expected 1000 <= FIRST <= LAST < 2^31 (no system or shared uids)"
        )
    return first, last


def parse_size(raw: str) -> int:
    """``"4GiB"``, ``"512m"``, ``"1048576"`` → bytes."""
    match = re.fullmatch(r"\s*(\d+)\s*([A-Za-z]*)\s*", raw)
    if not match or match[2].lower() not in _UNITS:
        raise ValueError(raw)
    return int(match[1]) * _UNITS[match[2].lower()]


def _size(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = parse_size(raw)
    except ValueError:
        raise SettingError(f"{name}={raw!r}: expected a size such as 4GiB, 512MiB or a byte count") from None
    if value <= 0:
        raise SettingError(f"{name}={raw!r}: must be positive")
    return value


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) <= 0:
        raise SettingError(f"{name}={raw!r}: expected a positive whole number")
    return int(raw)
