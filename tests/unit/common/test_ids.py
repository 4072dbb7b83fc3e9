from __future__ import annotations

from common import ids


def test_ids_have_kind_and_sort_by_time() -> None:
    earlier = ids.new_ulid(now_ms=1_700_000_000_000)
    later = ids.new_ulid(now_ms=1_700_000_000_001)
    assert len(earlier) == 26
    assert earlier < later
    run_id = ids.new_id(ids.RUN)
    assert run_id.startswith("run_")
    assert ids.is_valid(ids.RUN, run_id)


def test_is_valid_rejects_other_kinds_and_malformed() -> None:
    run_id = ids.new_id(ids.RUN)
    assert not ids.is_valid(ids.WORKSPACE, run_id)
    assert not ids.is_valid(ids.RUN, run_id.lower())
    assert not ids.is_valid(ids.RUN, run_id + "0")
    assert not ids.is_valid(ids.RUN, "run_" + "I" * 26)  # I is not Crockford base32
    assert not ids.is_valid(ids.RUN, "")
