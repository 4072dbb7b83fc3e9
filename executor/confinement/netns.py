"""A session's network: a namespace of its own whose only endpoint is the
session's model proxy.

The namespace is made by a short-lived thread (``unshare(CLONE_NEWNET)``
moves only the calling thread), which brings its loopback up and opens a
listening socket on it, then ends. A socket stays in the namespace it was
made in, so the executor serves the proxy on it from outside while the
session, started inside the namespace, reaches ``127.0.0.1:<port>`` and
nothing else: no internal service, no other host.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct
import threading
from dataclasses import dataclass

CLONE_NEWNET = 0x40000000
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
NS_PATH = "/proc/thread-self/ns/net"


@dataclass
class SessionNetwork:
    """``namespace_fd`` opens the namespace (for ``nsenter``); ``listener``
    is the model proxy's socket inside it."""

    namespace_fd: int
    listener: socket.socket

    @property
    def port(self) -> int:
        port: int = self.listener.getsockname()[1]
        return port

    def close(self) -> None:
        if self.namespace_fd >= 0:
            os.close(self.namespace_fd)
            self.namespace_fd = -1
        self.listener.close()


def _unshare_net() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"unshare(CLONE_NEWNET): {os.strerror(errno)}")


def create_session_network() -> SessionNetwork:
    """A new network namespace with loopback up and a listener on it (blocking)."""
    result: list[SessionNetwork] = []
    failure: list[BaseException] = []

    def in_new_namespace() -> None:
        try:
            _unshare_net()
            ns_fd = os.open(NS_PATH, os.O_RDONLY | os.O_CLOEXEC)
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as control:
                    fcntl.ioctl(control, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", IFF_UP))
                listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                listener.bind(("127.0.0.1", 0))
                listener.listen(64)
                listener.setblocking(False)
            except BaseException:
                os.close(ns_fd)
                raise
            result.append(SessionNetwork(ns_fd, listener))
        except BaseException as exc:  # handed to the caller
            failure.append(exc)

    # A thread of its own, which ends in the new namespace: no pooled thread
    # is ever left in a session's network.
    thread = threading.Thread(target=in_new_namespace, name="session-netns")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]
