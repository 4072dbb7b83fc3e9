"""One command's output in the run log: capped, chunked, counted, and the
completion's aggregated output cut to its head and tail."""

from __future__ import annotations

import asyncio
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from ccplane.v1 import events_pb2
from executor.providers import Outcome, SessionSpec
from executor.providers.codex import CodexSession, ModelConfig
from executor.providers.codex.command_output import (
    CHUNK_BYTES,
    CODEX_KEPT_BYTES,
    COMPLETED_OUTPUT_CEILING,
    DEFAULT_OUTPUT_LIMIT,
    MIB,
    OUTPUT_LIMIT_ENV,
    OutputBudget,
    OutputLimitError,
    completed_output,
    output_limit_from_env,
    split_chunks,
)
from executor.providers.codex.translate import EventTranslator

DELTA = "item/commandExecution/outputDelta"


def delta(text: str, item_id: str = "c1") -> dict[str, Any]:
    return {"threadId": "th", "turnId": "t1", "itemId": item_id, "delta": text}


def completed(aggregated: str, item_id: str = "c1") -> dict[str, Any]:
    item = {
        "type": "commandExecution",
        "id": item_id,
        "command": "/bin/bash -lc 'yes'",
        "cwd": "/w",
        "status": "completed",
        "aggregatedOutput": aggregated,
        "exitCode": 0,
        "durationMs": 5,
    }
    return {"threadId": "th", "turnId": "t1", "item": item}


def codex_cut(total: int, head: str = "a", tail: str = "a") -> str:
    """An aggregatedOutput the way codex 0.163 cuts a ``total``-byte output."""
    half = CODEX_KEPT_BYTES // 2
    return head * half + f"\n... {total - CODEX_KEPT_BYTES} bytes omitted ...\n" + tail * half


def chunks_of(events: list[events_pb2.RunEvent]) -> list[events_pb2.CommandOutput]:
    return [e.command_output for e in events if e.type == "command.output"]


# -- the setting ------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "limit"),
    [
        ("", DEFAULT_OUTPUT_LIMIT),
        ("  ", DEFAULT_OUTPUT_LIMIT),
        ("4096", 4096),
        ("256KiB", 256 * 1024),
        ("2m", 2 * MIB),
    ],
)
def test_limit_setting(raw: str, limit: int) -> None:
    assert output_limit_from_env({OUTPUT_LIMIT_ENV: raw}) == limit
    assert output_limit_from_env({}) == DEFAULT_OUTPUT_LIMIT


@pytest.mark.parametrize("raw", ["lots", "-1", "1.5MiB", "0", "100", "2GiB"])
def test_limit_setting_refuses_nonsense(raw: str) -> None:
    with pytest.raises(OutputLimitError) as err:
        output_limit_from_env({OUTPUT_LIMIT_ENV: raw})
    assert OUTPUT_LIMIT_ENV in str(err.value) and err.value.reason == "EXECUTOR_SETTING_INVALID"


# -- streamed chunks ----------------------------------------------------------


def test_output_below_the_limit_passes_through() -> None:
    t = EventTranslator("run_1", output_limit=1024)
    events = [e for text in ("ab", "", "cd\n") for e in t.notification(DELTA, delta(text))]
    assert [c.chunk for c in chunks_of(events)] == ["ab", "cd\n"], "empty deltas make no event"
    assert not any(c.truncated for c in chunks_of(events))
    (done,) = t.notification("item/completed", completed("abcd\n"))
    assert done.command_completed.output == "abcd\n"
    assert (done.command_completed.output_bytes, done.command_completed.output_truncated) == (5, False)


def test_the_limit_keeps_the_first_bytes_then_one_marker_then_nothing() -> None:
    t = EventTranslator("run_1", output_limit=1024)
    events = []
    for _ in range(100):
        events += t.notification(DELTA, delta("x" * 300))
    chunks = chunks_of(events)
    kept, marker = chunks[:-1], chunks[-1]
    assert [len(c.chunk) for c in kept] == [300, 300, 300, 124], "the crossing delta is cut at the limit"
    assert not any(c.truncated for c in kept)
    assert marker.truncated and "truncated" in marker.chunk and "1 KiB" in marker.chunk
    assert OUTPUT_LIMIT_ENV in marker.chunk
    assert all(e.turn_id == "t1" and c.item_id == "c1" for e, c in zip(events, chunks, strict=True))

    (done,) = t.notification("item/completed", completed("x" * 900))
    assert done.command_completed.output_bytes == 30_000, "dropped output is still counted"
    assert done.command_completed.output_truncated


def test_exactly_the_limit_is_not_truncated() -> None:
    t = EventTranslator("run_1", output_limit=1024)
    events = t.notification(DELTA, delta("y" * 1024))
    assert not any(c.truncated for c in chunks_of(events))
    (done,) = t.notification("item/completed", completed("y" * 1024))
    assert not done.command_completed.output_truncated

    t.notification(DELTA, delta("y" * 1024, item_id="c2"))
    (marker,) = chunks_of(t.notification(DELTA, delta("z", item_id="c2")))
    assert marker.truncated, "one byte more and the marker is all that comes"


def test_commands_have_limits_of_their_own() -> None:
    t = EventTranslator("run_1", output_limit=1024)
    t.notification(DELTA, delta("a" * 2000, item_id="c1"))
    second = chunks_of(t.notification(DELTA, delta("b" * 1000, item_id="c2")))
    assert [c.chunk for c in second] == ["b" * 1000]
    t.notification("item/completed", completed("", item_id="c1"))
    assert list(t._outputs) == ["c2"], "a completed command's counters are dropped"


def test_big_deltas_are_split_into_chunks() -> None:
    t = EventTranslator("run_1", output_limit=DEFAULT_OUTPUT_LIMIT)
    text = "a" * (CHUNK_BYTES * 2 + 10)
    chunks = chunks_of(t.notification(DELTA, delta(text)))
    assert [len(c.chunk.encode()) for c in chunks] == [CHUNK_BYTES, CHUNK_BYTES, 10]
    assert "".join(c.chunk for c in chunks) == text


def test_cuts_fall_between_characters() -> None:
    text = "é€😀" * 50  # 2-, 3- and 4-byte characters
    for size in range(1, 12):
        chunks = split_chunks(text.encode(), size)
        assert "".join(chunks) == text
        assert all(len(c.encode()) <= max(size, 4) for c in chunks)
    budget = OutputBudget(limit=10)
    kept, crossed = budget.take(text)
    assert crossed and kept == ["é€😀"], "9 bytes: the next character would not fit"
    assert budget.kept == 9
    assert budget.seen == len(text.encode())


def test_counters_only_memory_does_not_grow_with_the_output() -> None:
    t = EventTranslator("run_1", output_limit=64 * 1024)
    piece = delta("q" * 8192)
    t.notification(DELTA, piece)  # warm up
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(2000):  # 16 MiB
            t.notification(DELTA, piece)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 64 * 1024
    assert t._outputs["c1"].seen == 2001 * 8192


# -- the completion's aggregated output ----------------------------------------


def test_codex_cut_gives_the_true_total() -> None:
    aggregated = codex_cut(200_000_000)
    result = completed_output(aggregated, DEFAULT_OUTPUT_LIMIT)
    assert result.total_bytes == 200_000_000 and result.truncated
    assert len(result.text.encode()) <= DEFAULT_OUTPUT_LIMIT
    assert result.text.startswith("a" * 1000) and result.text.endswith("a" * 1000)
    assert (
        f"{200_000_000 - len(result.text.encode()) + len(_marker(result.text))} bytes omitted" in result.text
    )


def test_codex_cut_and_a_smaller_limit_make_one_marker() -> None:
    result = completed_output(codex_cut(3_000_000, head="h", tail="t"), 4096)
    assert result.total_bytes == 3_000_000 and result.truncated
    data = result.text.encode()
    assert len(data) <= 4096 and result.text.count("omitted") == 1
    assert result.text.startswith("h" * 2000) and result.text.endswith("t" * 2000)
    omitted = int(_marker(result.text).split()[2])
    assert omitted + len(data) - len(_marker(result.text)) == 3_000_000


def test_a_command_printing_codex_words_is_not_mistaken_for_a_cut() -> None:
    aggregated = "before\n... 999 bytes omitted ...\nafter"
    result = completed_output(aggregated, DEFAULT_OUTPUT_LIMIT)
    assert (result.text, result.total_bytes, result.truncated) == (aggregated, len(aggregated), False)


def test_a_smaller_limit_cuts_the_aggregate_to_head_and_tail() -> None:
    aggregated = "H" * 5000 + "€" * 5000 + "T" * 5000
    result = completed_output(aggregated, 4096)
    assert result.truncated and result.total_bytes == len(aggregated.encode())
    data = result.text.encode()
    assert 4000 <= len(data) <= 4096
    assert result.text.startswith("H" * 2000) and result.text.endswith("T" * 2000)
    omitted = int(_marker(result.text).split()[2])
    assert omitted + len(data) - len(_marker(result.text)) == result.total_bytes


def test_the_completion_stays_below_one_grpc_message_whatever_the_limit() -> None:
    result = completed_output("z" * (3 * MIB), 64 * MIB)
    assert len(result.text.encode()) <= COMPLETED_OUTPUT_CEILING and result.truncated


def test_completion_reports_the_larger_count() -> None:
    # Codex stops streaming after 10,000 deltas; the aggregate knows the total.
    t = EventTranslator("run_1", output_limit=DEFAULT_OUTPUT_LIMIT)
    for _ in range(200):
        t.notification(DELTA, delta("a" * 8192))
    (done,) = t.notification("item/completed", completed(codex_cut(500_000_000)))
    payload = done.command_completed
    assert payload.output_bytes == 500_000_000 and payload.output_truncated
    assert len(payload.output.encode()) <= DEFAULT_OUTPUT_LIMIT
    # And the first burst, seen only in the aggregate, counts too.
    t.notification(DELTA, delta("tail\n", item_id="c2"))
    (done,) = t.notification("item/completed", completed("head\ntail\n", item_id="c2"))
    assert (done.command_completed.output_bytes, done.command_completed.output_truncated) == (10, False)


def _marker(text: str) -> str:
    start = text.index("\n[ccplane] ...")
    return text[start : text.index("...\n", start + 15) + 4]


async def test_a_malformed_limit_fails_the_session_before_codex_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(OUTPUT_LIMIT_ENV, "lots")
    spec = SessionSpec(run_id="run_1", workspace_dir=tmp_path, prompt="hi")
    session = CodexSession(spec, ModelConfig.scripted("http://127.0.0.1:9/v1"))
    await session.start()
    outcome = await asyncio.wait_for(session.wait_ended(), 5)
    assert outcome.outcome == Outcome.FAILED and outcome.reason == "EXECUTOR_SETTING_INVALID"
    assert OUTPUT_LIMIT_ENV in outcome.error
    errors = [e.error for e in [e async for e in session.events()] if e.type == "error"]
    assert [e.reason for e in errors] == ["EXECUTOR_SETTING_INVALID"]
    assert session.process_pid is None, "codex never started"
