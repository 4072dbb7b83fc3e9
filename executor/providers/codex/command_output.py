"""How much of one command's output the run log keeps: a cap, and chunks.

Codex streams a command's output as ``item/commandExecution/outputDelta``
notifications and repeats it in ``item/completed``'s ``aggregatedOutput``.
Seen of codex 0.163 for commands printing 1 to 500 MB: deltas of up to 8 KiB,
at most 10,000 of them per command (after that Codex streams nothing more,
so they stop somewhere between 40 and 80 MB), and an ``aggregatedOutput`` of
at most 1 MiB: the output's first and last 512 KiB around
``\\n... N bytes omitted ...\\n``. N counts what Codex read: on a busy
machine it loses a little of a fast stream (seen: up to 1.3 MB of 200 MB),
so the total reported is as exact as Codex's count.

Per command the log keeps at most ``limit`` bytes of ``command.output``
chunks, each at most :data:`CHUNK_BYTES`; the delta that crosses the limit
is cut, one marker chunk follows, and later deltas are counted, not kept.
``command.completed`` carries the head and tail of the aggregated output
(at most ``limit`` bytes), the total byte count and whether anything is
missing. Only counters are kept per command: memory does not grow with
the output.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from executor.confinement.settings import parse_size
from executor.providers.errors import PreconditionError

OUTPUT_LIMIT_ENV = "CCPLANE_COMMAND_OUTPUT_LIMIT"
KIB = 1024
MIB = 1024 * KIB
DEFAULT_OUTPUT_LIMIT = 1 * MIB
MIN_OUTPUT_LIMIT = 1 * KIB
MAX_OUTPUT_LIMIT = 1024 * MIB
CHUNK_BYTES = 64 * KIB
# The completion travels to the control plane as one gRPC message (4 MiB by
# default), so its output stays below this whatever the limit.
COMPLETED_OUTPUT_CEILING = 1 * MIB
# What codex 0.163 keeps of a longer output, and the marker it puts in the middle.
CODEX_KEPT_BYTES = 1 * MIB
_CODEX_OMITTED = re.compile(r"\n\.\.\. (\d+) bytes omitted \.\.\.\n")


class OutputLimitError(PreconditionError):
    reason = "EXECUTOR_SETTING_INVALID"


def output_limit_from_env(env: Mapping[str, str] | None = None) -> int:
    """``CCPLANE_COMMAND_OUTPUT_LIMIT`` in bytes (``"1MiB"``, ``"256k"``,
    ``"1048576"``); the default when unset. OutputLimitError names the variable."""
    env = os.environ if env is None else env
    raw = env.get(OUTPUT_LIMIT_ENV, "").strip()
    if not raw:
        return DEFAULT_OUTPUT_LIMIT
    try:
        limit = parse_size(raw)
    except ValueError:
        raise OutputLimitError(
            f"{OUTPUT_LIMIT_ENV}={raw!r}: expected a size such as 1MiB, 256KiB or a byte count"
        ) from None
    if not MIN_OUTPUT_LIMIT <= limit <= MAX_OUTPUT_LIMIT:
        raise OutputLimitError(
            f"{OUTPUT_LIMIT_ENV}={raw!r}: must be between {human_size(MIN_OUTPUT_LIMIT)} "
            f"and {human_size(MAX_OUTPUT_LIMIT)}"
        )
    return limit


@dataclass
class OutputBudget:
    """One command's streamed output so far: what was seen, what was kept."""

    limit: int
    chunk_bytes: int = CHUNK_BYTES
    seen: int = 0
    kept: int = 0
    truncated: bool = False

    def take(self, delta: str) -> tuple[list[str], bool]:
        """The chunks of ``delta`` to keep, and whether this delta crossed
        the limit (then the marker is due, once)."""
        data = delta.encode()
        self.seen += len(data)
        if self.truncated:
            return [], False
        room = self.limit - self.kept
        crossed = len(data) > room
        if crossed:
            data = data[: _char_start(data, room)]
            self.truncated = True
        self.kept += len(data)
        return split_chunks(data, self.chunk_bytes), crossed

    def marker(self) -> str:
        return (
            f"\n[ccplane] output truncated: it passed the {human_size(self.limit)} limit "
            f"({OUTPUT_LIMIT_ENV}); the rest is not kept. command.completed reports its size.\n"
        )


@dataclass(frozen=True)
class CompletedOutput:
    text: str
    total_bytes: int
    truncated: bool


def completed_output(aggregated: str, limit: int) -> CompletedOutput:
    """What ``command.completed`` carries of Codex's aggregated output: all
    of it, or its head and tail around a marker, within ``limit`` bytes."""
    cap = min(limit, COMPLETED_OUTPUT_CEILING)
    data = aggregated.encode()
    cut = _codex_cut(aggregated)
    if cut is None:
        head = tail = data
        total = len(data)
    else:
        head, omitted, tail = cut
        total = len(head) + omitted + len(tail)
    if len(data) <= cap:
        return CompletedOutput(aggregated, total, cut is not None)
    keep = cap - len(_omitted_marker(total))
    head = head[: _char_start(head, keep - keep // 2)]
    tail = tail[_char_end(tail, len(tail) - keep // 2) :]
    text = head.decode() + _omitted_marker(total - len(head) - len(tail)) + tail.decode()
    return CompletedOutput(text, total, True)


def _codex_cut(aggregated: str) -> tuple[bytes, int, bytes] | None:
    """(head, bytes omitted, tail) when Codex cut the output.

    Only a marker in output of Codex's kept size counts: a command may print
    the same words itself."""
    match = _CODEX_OMITTED.search(aggregated)
    if match is None:
        return None
    head, tail = aggregated[: match.start()].encode(), aggregated[match.end() :].encode()
    if not CODEX_KEPT_BYTES - 8 <= len(head) + len(tail) <= CODEX_KEPT_BYTES:
        return None
    return head, int(match[1]), tail


def _omitted_marker(omitted: int) -> str:
    return f"\n[ccplane] ... {omitted} bytes omitted ...\n"


def split_chunks(data: bytes, chunk_bytes: int) -> list[str]:
    """``data`` (UTF-8) as strings of at most ``chunk_bytes`` bytes, cut between characters."""
    chunks = []
    start = 0
    while start < len(data):
        end = len(data) if len(data) - start <= chunk_bytes else _char_start(data, start + chunk_bytes)
        if end <= start:  # a chunk smaller than one character
            end = _char_end(data, start + 1)
        chunks.append(data[start:end].decode())
        start = end
    return chunks


def _char_start(data: bytes, index: int) -> int:
    """The largest character boundary of UTF-8 ``data`` at or before ``index``."""
    index = max(0, min(index, len(data)))
    while 0 < index < len(data) and _is_continuation(data[index]):
        index -= 1
    return index


def _char_end(data: bytes, index: int) -> int:
    """The smallest character boundary of UTF-8 ``data`` at or after ``index``."""
    index = max(0, min(index, len(data)))
    while index < len(data) and _is_continuation(data[index]):
        index += 1
    return index


def _is_continuation(byte: int) -> bool:
    return byte & 0xC0 == 0x80


def human_size(size: int) -> str:
    for unit, factor in (("GiB", 1024 * MIB), ("MiB", MIB), ("KiB", KIB)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"
