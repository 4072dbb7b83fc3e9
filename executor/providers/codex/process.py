"""One ``codex app-server`` process: spawn, stderr to logs, no orphans.

The process runs in its own session/process group. Its stderr goes to the
``ccplane.codex.stderr`` logger (never into run events); the last lines are
kept to explain a crash. Stopping it kills the whole group and every process
that descends from it, including the commands Codex spawned in their own
groups and those already orphaned by a Codex crash (found by a marker in
their environment), and reaps the child.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import signal
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from executor.providers.errors import ProviderUnavailableError

if TYPE_CHECKING:
    from executor.confinement import SessionBox

log = logging.getLogger("ccplane.codex.process")
stderr_log = logging.getLogger("ccplane.codex.stderr")

CODEX_BIN_ENV = "CCPLANE_CODEX_BIN"
MARKER_ENV = "CCPLANE_CODEX_SESSION_MARKER"
# Set by Codex on the processes it runs for a tool call.
TOOL_CALL_ENV = "CODEX_TOOL_CALL_ID"
# Lines of up to 64 MiB: thread/resume answers carry whole histories.
STREAM_LIMIT = 64 * 1024 * 1024


def codex_binary() -> Path:
    """``$CCPLANE_CODEX_BIN`` or the binary pinned by ``openai-codex-cli-bin``."""
    override = os.environ.get(CODEX_BIN_ENV)
    if override:
        path = Path(override)
    else:
        try:
            from codex_cli_bin import bundled_codex_path
        except ImportError as exc:
            raise ProviderUnavailableError(
                f"openai-codex-cli-bin is not installed and {CODEX_BIN_ENV} is unset"
            ) from exc
        path = Path(bundled_codex_path())
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise ProviderUnavailableError(f"codex binary {path} is missing or not executable")
    return path


def bundled_path_dir() -> Path | None:
    """Helper tools shipped next to the pinned binary (ripgrep)."""
    try:
        from codex_cli_bin import bundled_path_dir as _dir
    except ImportError:
        return None
    try:
        found = _dir()
    except FileNotFoundError:
        return None
    return Path(found) if found is not None else None


# What a session's Codex inherits from the executor: enough to run programs,
# read the locale and reach the model through a proxy — never the rest of the
# executor's environment, which holds the platform's settings and secrets
# (the internal credential, the database URL, object-store keys).
INHERITED_ENV = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TERM",
        "TMPDIR",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "all_proxy",
    }
)
INHERITED_PREFIXES = ("LC_",)
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


def inherited_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The part of ``environ`` a session may see (see :data:`INHERITED_ENV`)."""
    env = {k: v for k, v in environ.items() if k in INHERITED_ENV or k.startswith(INHERITED_PREFIXES)}
    env.setdefault("PATH", DEFAULT_PATH)
    return env


class CodexProcess:
    """A running ``codex app-server``; use ``start()`` then ``stop()``."""

    def __init__(
        self,
        *,
        codex_home: Path,
        cwd: Path,
        env: Mapping[str, str],
        args: Sequence[str] = ("app-server",),
        binary: Path | None = None,
        log_context: str = "",
        box: SessionBox | None = None,
    ) -> None:
        self.codex_home = codex_home
        # Launched inside this box (its own user and namespaces) when set.
        self.box = box
        self.cwd = cwd
        self._extra_env = dict(env)
        self._args = list(args)
        self._binary = binary
        self._log_context = log_context
        self.marker = uuid.uuid4().hex
        self._proc: asyncio.subprocess.Process | None = None
        self._stderr_task: asyncio.Task[None] | None = None
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        # psutil handles (not bare pids): killing one refuses a reused pid.
        self._known_descendants: dict[tuple[int, float], psutil.Process] = {}
        self._exit_status: int | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def stdin(self) -> asyncio.StreamWriter:
        assert self._proc is not None and self._proc.stdin is not None
        return self._proc.stdin

    @property
    def stdout(self) -> asyncio.StreamReader:
        assert self._proc is not None and self._proc.stdout is not None
        return self._proc.stdout

    @property
    def returncode(self) -> int | None:
        """Exit status (negative: killed by that signal), once known."""
        if self._proc is not None and self._proc.returncode is not None:
            return self._proc.returncode
        return self._exit_status

    @property
    def stderr_tail(self) -> list[str]:
        return list(self._stderr_tail)

    def environment(self) -> dict[str, str]:
        """Built from nothing: the inherited allow-list, then the session's own
        variables (the run's ``env`` setting, the model's key), then ours."""
        env = inherited_environment(os.environ)
        if self.box is not None:
            env.update(self.box.environment())
        env.update(self._extra_env)
        env["CODEX_HOME"] = str(self.codex_home)
        env[MARKER_ENV] = self.marker
        tools = bundled_path_dir()
        if tools is not None and self.box is not None:
            tools = self.box.expose(tools)
        if tools is not None:
            env["PATH"] = os.pathsep.join(p for p in (env.get("PATH"), str(tools)) if p)
        return env

    async def start(self) -> None:
        binary = self._binary or codex_binary()
        pass_fds: tuple[int, ...] = ()
        if self.box is not None:
            # The whole package: Codex finds its helpers (bwrap) next to itself.
            binary = self.box.expose(binary.parent.parent) / binary.parent.name / binary.name
        argv = [str(binary), *self._args]
        env = self.environment()
        if self.box is not None:
            argv, pass_fds = self.box.wrap(argv)
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=str(self.cwd),
                env=env,
                start_new_session=True,
                limit=STREAM_LIMIT,
                pass_fds=pass_fds,
            )
        except OSError as exc:
            raise ProviderUnavailableError(f"cannot start {binary}: {exc}") from exc
        log.info("started codex app-server pid=%s %s", self._proc.pid, self._log_context)
        self._stderr_task = asyncio.create_task(self._pump_stderr(), name="codex-stderr")

    async def wait_exit(self, timeout_s: float | None = None) -> bool:
        """True once Codex has exited (False on timeout).

        Not ``Process.wait()``: on Python 3.11 that also waits until every
        holder of Codex's pipes has closed them, which orphaned grandchildren
        may never do. A pidfd turns readable as soon as the process exits.
        """
        proc = self._proc
        if proc is None or proc.returncode is not None or self._exit_status is not None:
            return True
        try:
            fd = os.pidfd_open(proc.pid)
        except ProcessLookupError:
            await self._settle_returncode()  # already reaped
            return True
        except (AttributeError, OSError):  # no pidfd on this system
            try:
                await asyncio.wait_for(proc.wait(), timeout_s)
            except TimeoutError:
                return False
            return True
        try:
            exited, self._exit_status = _peek_exit(fd)
            if not exited and timeout_s != 0:
                exited = await _wait_readable(fd, timeout_s)
                if exited:
                    _, self._exit_status = _peek_exit(fd)
        finally:
            os.close(fd)
        if exited and self._exit_status is None:
            await self._settle_returncode()
        return exited

    async def _settle_returncode(self) -> None:
        # asyncio's child watcher reaped the process first; the status it got
        # reaches the loop within moments.
        for _ in range(100):
            if self._proc is None or self._proc.returncode is not None:
                return
            await asyncio.sleep(0.01)

    async def reap_tool_processes(self, grace_s: float) -> None:
        """Wait up to ``grace_s`` for the commands Codex ran for tool calls to
        end, then kill the survivors. Codex marks those processes with
        ``CODEX_TOOL_CALL_ID`` in their environment; its own helpers (shell
        snapshots, MCP servers) do not carry it."""

        def reap() -> None:
            procs = [p for p in _processes_with_marker(self.marker, TOOL_CALL_ENV) if _alive(p)]
            _wait_gone(procs, grace_s)
            survivors = [p for p in procs if _alive(p)]
            for proc in survivors:
                with contextlib.suppress(psutil.Error):
                    proc.kill()
            if survivors:
                log.info("killed %d command process(es) that outlived an interrupt", len(survivors))
                _wait_gone(survivors, 2.0)

        await asyncio.to_thread(reap)

    def snapshot_descendants(self) -> None:
        """Remember the current descendants, so a crash cannot hide them."""
        if self._proc is None or self._proc.returncode is not None:
            return
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self._proc.pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    self._known_descendants.setdefault((child.pid, child.create_time()), child)

    async def stop(self, grace: float = 1.0) -> int | None:
        """Ask Codex to exit (close stdin), then kill its group and leftovers."""
        proc = self._proc
        if proc is None:
            return None
        self.snapshot_descendants()
        exited = await self.wait_exit(0)
        if not exited and proc.stdin is not None:
            with contextlib.suppress(Exception):
                proc.stdin.close()
            exited = await self.wait_exit(grace)
        if not exited:
            self.snapshot_descendants()
            _kill_group(proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await self.wait_exit(5.0)
        # The group id equals the pid; members may outlive their leader.
        _kill_group(proc.pid, signal.SIGKILL)
        await asyncio.to_thread(self._kill_leftovers)
        # Now that nothing holds its pipes, the child can be reaped.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 5.0)
        if self._stderr_task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._stderr_task, 2.0)
        log.info(
            "codex app-server pid=%s exited with %s %s",
            proc.pid,
            self.returncode,
            self._log_context,
        )
        return self.returncode

    def _kill_leftovers(self) -> None:
        victims = [p for p in self._known_descendants.values() if p.is_running()]
        victims.extend(_processes_with_marker(self.marker))
        victims = [v for v in victims if _alive(v)]
        for victim in victims:
            description = _describe(victim)
            with contextlib.suppress(psutil.Error):
                victim.kill()
                log.debug("killed leftover process %s (%s)", victim.pid, description)
        if victims:
            _wait_gone(victims, timeout_s=2.0)
            log.info("killed %d leftover process(es) of codex session", len(victims))

    async def _pump_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        stream = self._proc.stderr
        while True:
            try:
                line = await stream.readline()
            except (ValueError, asyncio.LimitOverrunError):
                continue
            if not line:
                return
            text = _strip_ansi(line.decode("utf-8", "replace").rstrip())
            if not text:
                continue
            self._stderr_tail.append(text)
            level = logging.WARNING if " ERROR " in f" {text} " else logging.DEBUG
            stderr_log.log(level, "%s %s", self._log_context, text)


def _peek_exit(pidfd: int) -> tuple[bool, int | None]:
    """(exited, status) of the process behind ``pidfd``, without reaping it
    (WNOWAIT: asyncio's child watcher does that). The status is None when it
    was already reaped."""
    try:
        info = os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True, None
    except (OSError, AttributeError):
        return False, None
    if info is None:
        return False, None
    if info.si_code == os.CLD_EXITED:
        return True, info.si_status
    return True, -info.si_status


async def _wait_readable(fd: int, timeout_s: float | None) -> bool:
    loop = asyncio.get_running_loop()
    readable: asyncio.Future[None] = loop.create_future()

    def on_readable() -> None:
        if not readable.done():
            readable.set_result(None)

    loop.add_reader(fd, on_readable)
    try:
        await asyncio.wait_for(readable, timeout_s)
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _wait_gone(procs: list[psutil.Process], timeout_s: float) -> None:
    """Wait until each process is gone or a zombie (a container's init may
    never reap orphans, so a zombie counts as dead)."""
    deadline = time.monotonic() + timeout_s
    alive = list(procs)
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if _alive(p)]
        if alive:
            time.sleep(0.02)


def _describe(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline()[:4]) or proc.name()
    except psutil.Error:
        return "gone"


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _processes_with_marker(marker: str, also: str | None = None) -> list[psutil.Process]:
    """Processes whose environment holds our marker (and the variable ``also``)."""
    found = []
    needle = f"{MARKER_ENV}={marker}".encode()
    extra = f"{also}=".encode() if also else None
    me = os.getpid()
    for proc in psutil.process_iter():
        if proc.pid == me:
            continue
        try:
            with open(f"/proc/{proc.pid}/environ", "rb") as fh:
                environ = fh.read()
        except OSError:
            continue
        entries = environ.split(b"\0")
        if needle in entries and (extra is None or any(e.startswith(extra) for e in entries)):
            found.append(proc)
    return found


def _strip_ansi(text: str) -> str:
    out = []
    i = 0
    while i < len(text):
        if text[i] == "\x1b" and i + 1 < len(text) and text[i + 1] == "[":
            j = i + 2
            while j < len(text) and not ("@" <= text[j] <= "~"):
                j += 1
            i = j + 1
            continue
        out.append(text[i])
        i += 1
    return "".join(out)
