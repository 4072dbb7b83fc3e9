"""The confinement of one session (:class:`SessionBox`) and the executor's
side of it (:class:`Confiner`).

A box is a directory ``<session root>/<executor id>/<run id>/`` owned by the
session's uid with mode 0700, holding ``workspace/``, ``codex-home/`` and
``home/``; a network namespace with the model proxy's socket; a cgroup; and
the launch line that puts the agent process in all of it::

    sh: join the cgroup            (root, executor's namespaces)
    nsenter --net=<the session's>  (root)
    unshare --pid --mount --mount-proc --fork --kill-child
    sh: private tmpfs on /tmp, /var/tmp, /dev/shm, /run
    setpriv --reuid/--regid <uid> --clear-groups --no-new-privs
    prlimit --nproc --nofile --fsize
    codex app-server

Only util-linux and ``sh`` are involved, no Python in the child: nothing
runs between ``fork`` and ``exec`` in the executor's threaded process. The
agent is PID 1 of its PID namespace, so when it dies every process of the
session dies with it; closing the box kills whatever is left in the cgroup
or under the uid, removes the directory and frees the uid.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from executor.confinement.cgroups import CgroupUnavailableError, SessionCgroup
from executor.confinement.netns import SessionNetwork, create_session_network
from executor.confinement.settings import (
    PRIVATE_DIR_MODES,
    PRIVATE_DIRS,
    ConfinementSettings,
    Isolation,
    ResourceLimits,
)
from executor.confinement.uids import UidLease, UidPool, kill_processes_of

log = logging.getLogger(__name__)

TOOLS = ("sh", "nsenter", "unshare", "setpriv", "prlimit", "mount")
FALLBACK_SESSION_ROOT = Path("/var/lib/ccplane/sessions")

# $1.. : cgroup.procs files, then "--", then the command to exec.
_JOIN_CGROUPS = 'for f; do [ "$f" = -- ] && break; echo $$ > "$f" || exit 71; shift; done; shift; exec "$@"'
# $1: tmpfs size in bytes; then SOURCE TARGET pairs to bind read-only, "--",
# and the command to exec.
_PRIVATE_TMP = (
    "set -e; size=$1; shift; "
    'while [ "$1" != -- ]; do mount --bind -o ro "$1" "$2"; shift 2; done; shift; '
    "for spec in " + " ".join(f"{p}:{m}" for p, m in PRIVATE_DIR_MODES.items()) + "; do "
    'd=${spec%:*}; [ -d "$d" ] && '
    'mount -t tmpfs -o "mode=${spec#*:},nosuid,nodev,size=$size" ccplane-session "$d"; done; '
    'exec "$@"'
)


class ConfinementUnavailableError(RuntimeError):
    """Sessions cannot be confined here and the settings require it, or the
    settings themselves are unusable; the message says which and why."""


@dataclass
class SessionBox:
    run_id: str
    directory: Path
    lease: UidLease
    network: SessionNetwork
    cgroup: SessionCgroup | None
    limits: ResourceLimits
    tools: dict[str, str]
    closed: bool = field(default=False, init=False)
    # Host directories inside a private one (the Codex binary in a virtualenv
    # under /tmp, say), bound read-only where the session can see them.
    _exposed: dict[Path, Path] = field(default_factory=dict, init=False)

    @property
    def uid(self) -> int:
        return self.lease.uid

    @property
    def gid(self) -> int:
        return self.lease.gid

    @property
    def workspace_dir(self) -> Path:
        return self.directory / "workspace"

    @property
    def codex_home(self) -> Path:
        return self.directory / "codex-home"

    @property
    def home_dir(self) -> Path:
        return self.directory / "home"

    @property
    def model_port(self) -> int:
        """Where the session reaches its model proxy (127.0.0.1 in its namespace)."""
        return self.network.port

    def environment(self) -> dict[str, str]:
        """Variables the session's agent process gets from its box."""
        return {
            "HOME": str(self.home_dir),
            "USER": "ccplane-session",
            "LOGNAME": "ccplane-session",
            "TMPDIR": "/tmp",
        }

    def expose(self, path: Path) -> Path:
        """Where the session sees the host directory ``path`` (read-only).
        Only directories inside /tmp, /var/tmp or /dev/shm need this."""
        path = Path(path).resolve()
        if not any(path == p or p in path.parents for p in PRIVATE_DIRS):
            return path
        for source, target in self._exposed.items():
            if path == source or source in path.parents:
                return target / path.relative_to(source)
        if path not in self._exposed:
            target = self.directory / ".exposed" / str(len(self._exposed))
            target.mkdir(parents=True, mode=0o755)
            os.chmod(target.parent, 0o755)
            self._exposed[path] = target
        return self._exposed[path]

    def wrap(self, argv: Sequence[str]) -> tuple[list[str], tuple[int, ...]]:
        """The launch line for ``argv`` in this box, and the descriptors it needs."""
        t = self.tools
        procs = [str(p) for p in self.cgroup.procs_files] if self.cgroup else []
        line = [
            t["sh"], "-c", _JOIN_CGROUPS, "ccplane-session", *procs, "--",
            t["nsenter"], f"--net=/proc/self/fd/{self.network.namespace_fd}", "--",
            t["unshare"], "--pid", "--fork", "--kill-child", "--mount", "--mount-proc",
            "--propagation", "private", "--",
            t["sh"], "-c", _PRIVATE_TMP, "ccplane-session", str(self.limits.tmp_bytes),
            *(str(p) for pair in self._exposed.items() for p in pair), "--",
            t["setpriv"], f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups",
            "--no-new-privs", "--",
            t["prlimit"], f"--nproc={self.limits.max_processes}",
            f"--nofile={self.limits.max_open_files}", f"--fsize={self.limits.max_file_bytes}", "--",
            *argv,
        ]  # fmt: skip
        return line, (self.network.namespace_fd,)

    def hand_over(self, path: Path) -> None:
        """Give ``path`` and everything below it to the session's user (blocking;
        symlinks are changed, never followed)."""
        os.lchown(path, self.uid, self.gid)
        for parent, dirs, files in os.walk(path, followlinks=False):
            for name in (*dirs, *files):
                os.lchown(os.path.join(parent, name), self.uid, self.gid)

    def close(self) -> None:
        """Kill what is left of the session, remove its files, free its uid (blocking)."""
        if self.closed:
            return
        self.closed = True
        if self.cgroup is not None:
            self.cgroup.remove()
        kill_processes_of(self.uid)
        self.network.close()
        shutil.rmtree(self.directory, ignore_errors=True)
        self.lease.release()


class Confiner:
    """Makes the boxes of one executor's sessions; :meth:`prepare` at start."""

    def __init__(self, settings: ConfinementSettings, *, data_dir: Path, executor_id: str) -> None:
        self.settings = settings
        self._data_dir = data_dir
        self._executor_id = executor_id
        self._uids = UidPool(*settings.uid_range, settings.uid_lock_dir)
        self._tools: dict[str, str] = {}
        self._cgroups = True
        self.enabled = False
        # Why sessions are not confined (empty when they are).
        self.reason = ""
        self.root: Path | None = None

    def prepare(self, private_dirs: Sequence[Path] = ()) -> None:
        """Decide whether sessions are confined, and set the directories up.

        ``private_dirs``: the executor's own directories (data, blob cache,
        thread state), made root-only when sessions are confined. Raises
        ConfinementUnavailableError when confinement is required but cannot be
        had, or the session root is unusable."""
        self.reason = self._why_not()
        if self.reason:
            if self.settings.isolation is Isolation.REQUIRED:
                raise ConfinementUnavailableError(f"sessions cannot be confined: {self.reason}")
            log.warning(
                "sessions are NOT confined (%s): this executor hosts one tenant at a time", self.reason
            )
            return
        root = self._session_root()
        for directory in private_dirs:
            directory.mkdir(parents=True, exist_ok=True)
            os.chmod(directory, 0o700)
        root.mkdir(parents=True, exist_ok=True, mode=0o711)
        os.chmod(root, 0o711)
        own = root / self._executor_id
        own.mkdir(exist_ok=True, mode=0o711)
        os.chown(own, 0, 0)
        os.chmod(own, 0o711)
        self.root = own
        self._uids.prepare()
        self._sweep_abandoned(root)
        self.enabled = True
        log.info(
            "sessions are confined",
            extra={"session_root": str(own), "uid_range": "{}-{}".format(*self.settings.uid_range)},
        )

    def _sweep_abandoned(self, root: Path) -> None:
        """Remove session directories no live session owns: those of a killed
        executor (this one before a restart, or another), which never closed
        its boxes. A session's directory belongs to its uid, leased by its
        executor for the session's life; a directory whose uid's lease is free
        is abandoned. The sweep holds that lease while it kills what is left
        under the uid and removes the directory, so no new session can take
        the uid meanwhile."""
        removed = 0
        for executor_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            for directory in sorted(p for p in executor_dir.iterdir() if p.is_dir()):
                with contextlib.suppress(OSError):
                    lease = self._uids.try_lease(directory.lstat().st_uid)
                    if lease is None:
                        continue  # a live session's, or not a session's
                    try:
                        kill_processes_of(lease.uid)
                        shutil.rmtree(directory, ignore_errors=True)
                        removed += 1
                    finally:
                        lease.release()
        if removed:
            log.info("removed abandoned session directories", extra={"count": removed, "root": str(root)})

    def _why_not(self) -> str:
        if self.settings.isolation is Isolation.OFF:
            return "CCPLANE_SESSION_ISOLATION=off"
        if not hasattr(os, "geteuid") or os.geteuid() != 0:
            return "the executor does not run as root, so it cannot give sessions users of their own"
        for tool in TOOLS:
            found = shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin")
            if found is None:
                return f"{tool} (util-linux) is not installed"
            self._tools[tool] = found
        try:
            create_session_network().close()
        except OSError as exc:
            return f"cannot make network namespaces: {exc}"
        return ""

    def _session_root(self) -> Path:
        configured = self.settings.session_root
        if configured is not None:
            problem = _unusable_root(configured.resolve())
            if problem:
                raise ConfinementUnavailableError(f"CCPLANE_SESSION_ROOT={configured}: {problem}")
            return configured.resolve()
        beside_data = self._data_dir.resolve() / "sessions"
        if not _unusable_root(beside_data, owned=self._data_dir.resolve()):
            # Our own data directory must be traversable for the sessions in it.
            self._data_dir.mkdir(parents=True, exist_ok=True)
            os.chmod(self._data_dir, stat.S_IMODE(os.stat(self._data_dir).st_mode) | 0o111)
            return beside_data
        return FALLBACK_SESSION_ROOT

    def open(self, run_id: str) -> SessionBox:
        """A new box for ``run_id`` (blocking)."""
        assert self.enabled and self.root is not None
        lease = self._uids.acquire()
        directory = self.root / run_id
        network: SessionNetwork | None = None
        cgroup: SessionCgroup | None = None
        try:
            if directory.exists():
                shutil.rmtree(directory)
            directory.mkdir(mode=0o700)
            for sub in ("workspace", "codex-home", "home"):
                (directory / sub).mkdir(mode=0o700)
            network = create_session_network()
            if self._cgroups:
                try:
                    name = f"ccplane-{self._executor_id}-{run_id}"
                    cgroup = SessionCgroup.create(name, self.settings.limits)
                except CgroupUnavailableError as exc:
                    self._cgroups = False
                    log.warning("sessions get rlimits only, no cgroup: %s", exc)
            box = SessionBox(run_id, directory, lease, network, cgroup, self.settings.limits, self._tools)
            box.hand_over(directory)
            return box
        except BaseException:
            if cgroup is not None:
                cgroup.remove()
            if network is not None:
                network.close()
            shutil.rmtree(directory, ignore_errors=True)
            lease.release()
            raise

    def stop(self) -> None:
        if self.root is not None:
            with contextlib.suppress(OSError):
                self.root.rmdir()


def _unusable_root(root: Path, *, owned: Path | None = None) -> str:
    """Why session users could not use ``root`` (empty: they can). Directories
    from ``owned`` down are ours to fix and are not checked."""
    for private in PRIVATE_DIRS:
        if root == private or private in root.parents:
            return f"it is inside {private}, which every session gets a private copy of"
    for ancestor in reversed(root.parents):
        if owned is not None and (ancestor == owned or owned in ancestor.parents):
            break
        try:
            mode = os.stat(ancestor).st_mode
        except FileNotFoundError:
            break  # made by us below this point
        if not mode & stat.S_IXOTH:
            return f"{ancestor} (mode {stat.S_IMODE(mode):04o}) cannot be traversed by session users"
    return ""
