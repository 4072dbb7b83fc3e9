"""Run a command that dies with its parent.

``python -m executor_manager.backends.orphan_guard PARENT_PID -- COMMAND...``

The local backend starts executors through this trampoline. On Linux it asks
the kernel to send SIGTERM when the parent dies (``PR_SET_PDEATHSIG``, which
survives ``exec``), so executors do not outlive a manager that was killed
without a chance to stop them, then it replaces itself with the command (the
pid stays the same). The setting is made here, in a fresh single-threaded
process, instead of in a ``preexec_fn`` of the manager, which forks from a
process running gRPC threads.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def arm(parent_pid: int) -> bool:
    """Die with SIGTERM when the parent dies; False when it is already gone."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
            print(f"orphan_guard: prctl failed: errno {ctypes.get_errno()}", file=sys.stderr)
    # The parent may have died before the setting took effect.
    return os.getppid() == parent_pid


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print(
            "usage: python -m executor_manager.backends.orphan_guard PARENT_PID -- COMMAND...",
            file=sys.stderr,
        )
        return 2
    if not arm(int(argv[0])):
        return 1
    command = argv[2:]
    os.execvp(command[0], command)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
