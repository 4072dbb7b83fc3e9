"""The workspace path rules, one case at a time."""

from __future__ import annotations

import pytest

from common.objectstore.paths import InvalidPathError, check_dir_path, check_path, is_within, parent_dirs
from tests.unit.workspaces.corpus import TRAVERSAL, VALID


def test_the_corpus_is_large_enough() -> None:
    assert len(TRAVERSAL) >= 40
    assert len(set(TRAVERSAL)) == len(TRAVERSAL)


@pytest.mark.parametrize("path", TRAVERSAL)
def test_refused(path: str) -> None:
    with pytest.raises(InvalidPathError):
        check_path(path)


@pytest.mark.parametrize("path", VALID)
def test_accepted(path: str) -> None:
    assert check_path(path) == path


def test_reasons_say_what_is_wrong() -> None:
    cases = {
        "/abs": "relative",
        "a/../b": "'..'",
        "a//b": "empty segments",
        "a\0b": "NUL",
        "a\\b": "backslash",
        "%2e%2e/x": "percent-encoded",
        "n" * 256: "255 bytes",
    }
    for path, words in cases.items():
        with pytest.raises(InvalidPathError, match=words):
            check_path(path)


def test_directories() -> None:
    assert check_dir_path("") == ""
    assert check_dir_path("a/b") == "a/b"
    with pytest.raises(InvalidPathError):
        check_dir_path("a/")
    assert parent_dirs("a/b/c") == ["a", "a/b"]
    assert parent_dirs("a") == []
    assert is_within("a/b", "a") and is_within("a", "a") and is_within("x", "")
    assert not is_within("ab", "a")
