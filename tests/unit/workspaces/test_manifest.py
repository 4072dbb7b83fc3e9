"""Manifests: JSON round trip, diffs, and refusing tampered documents."""

from __future__ import annotations

import json

import pytest

from common.objectstore.layout import blob_key, manifest_key, staged_manifest_key, thread_prefix
from common.objectstore.manifest import FileMeta, InvalidManifestError, Manifest

A = "a" * 64
B = "b" * 64


def test_round_trip_and_successor() -> None:
    base = Manifest.empty("ws_1")
    first = base.successor({"src/b.py": FileMeta(B, 2, 0o755, 7), "a.txt": FileMeta(A, 1)})
    assert (first.version, first.parent_version, first.size_bytes, first.file_count) == (1, 0, 3, 2)
    assert list(first.files) == ["a.txt", "src/b.py"]
    assert Manifest.from_json(first.to_json()) == first
    assert first.is_dir("src") and first.is_dir("") and not first.is_dir("a.txt")


def test_diff_ignores_times_but_not_modes() -> None:
    old = Manifest(
        "ws_1", 1, 0, {"same": FileMeta(A, 1), "touched": FileMeta(A, 1, mtime_ns=1), "gone": FileMeta(A, 1)}
    )
    new = old.successor(
        {
            "same": FileMeta(A, 1),
            "touched": FileMeta(A, 1, mtime_ns=99),
            "chmod": FileMeta(A, 1, 0o600),
            "edited": FileMeta(B, 1),
        }
    )
    assert old.diff(new) == (["chmod", "edited"], ["gone"])


def document(**files: object) -> bytes:
    return json.dumps(
        {
            "format": "ccplane.manifest/1",
            "workspace_id": "ws_1",
            "version": 1,
            "parent_version": 0,
            "files": files,
        }
    ).encode()


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[]",
        json.dumps({"format": "other/1"}).encode(),
        document(**{"../escape": {"sha256": A, "size": 1, "mode": 420}}),
        document(**{"/abs": {"sha256": A, "size": 1, "mode": 420}}),
        document(**{"a\\b": {"sha256": A, "size": 1, "mode": 420}}),
        document(**{"ok": {"sha256": "nothex", "size": 1, "mode": 420}}),
        document(**{"ok": {"sha256": A, "size": -1, "mode": 420}}),
        document(**{"ok": {"sha256": A, "size": 1, "mode": 0o4755}}),
        document(**{"ok": {"sha256": A, "size": True, "mode": 420}}),
        document(
            **{"d": {"sha256": A, "size": 1, "mode": 420}, "d/f": {"sha256": A, "size": 1, "mode": 420}}
        ),
    ],
)
def test_tampered_manifests_are_refused(data: bytes) -> None:
    with pytest.raises(InvalidManifestError):
        Manifest.from_json(data)


def test_layout_keys() -> None:
    assert blob_key(A) == f"blobs/{A}"
    assert manifest_key("ws_1", 3) == "manifests/ws_1/3.json"
    assert staged_manifest_key("ws_1", "run_1", 3) == "staged/ws_1/run_1/3.json"
    assert thread_prefix("019a-thread") == "threads/019a-thread/"
    for bad in (lambda: blob_key("../x"), lambda: manifest_key("../ws", 1), lambda: manifest_key("ws_1", 0)):
        with pytest.raises(ValueError):
            bad()
    with pytest.raises(ValueError):
        thread_prefix("../../etc")
