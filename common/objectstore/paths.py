"""The paths a workspace may contain: normalised, relative POSIX paths.

Checked wherever a path enters ccplane — API requests, archives, manifests
read back from the store, files found on an executor's disk — so that no
path can name anything outside the workspace root. A path is refused, not
repaired: a client that sends ``a/../b`` gets an error naming its field.

Refused: empty paths, absolute paths, ``.``/``..``/empty segments (so no
leading, trailing or doubled ``/``), NUL and other control characters,
backslashes, text not in Unicode NFC, segments that Unicode compatibility
folding (NFKC) or percent-decoding turns into a separator or a dot segment
(fullwidth dots, ``%2e%2e``, ``..%2f``), names over 255 bytes and paths over 1024
bytes (UTF-8).
"""

from __future__ import annotations

import unicodedata
from urllib.parse import unquote

MAX_PATH_BYTES = 1024
MAX_NAME_BYTES = 255
_DOT_SEGMENTS = frozenset({".", ".."})
_SEPARATORS = ("/", "\\", "\0")


class InvalidPathError(ValueError):
    """The path is not an acceptable workspace path; ``str()`` says why."""


def check_path(path: str) -> str:
    """Return ``path`` unchanged when it is a valid workspace file path."""
    if not isinstance(path, str) or not path:
        raise InvalidPathError("must not be empty")
    if "\0" in path:
        raise InvalidPathError("must not contain NUL bytes")
    if any(_is_control(c) for c in path):
        raise InvalidPathError("must not contain control characters")
    try:
        encoded = path.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidPathError("must be valid UTF-8") from None
    if "\\" in path:
        raise InvalidPathError("must use '/' as the separator and contain no backslashes")
    if path.startswith("/"):
        raise InvalidPathError("must be relative to the workspace root, not absolute")
    if len(encoded) > MAX_PATH_BYTES:
        raise InvalidPathError(f"must be at most {MAX_PATH_BYTES} bytes long")
    if unicodedata.normalize("NFC", path) != path:
        raise InvalidPathError("must be in Unicode normalisation form NFC")
    for segment in path.split("/"):
        _check_segment(segment)
    return path


def check_dir_path(path: str) -> str:
    """Like :func:`check_path`, but the empty path (the root) is allowed."""
    return path if path == "" else check_path(path)


def _check_segment(segment: str) -> None:
    if segment == "":
        raise InvalidPathError("must not contain empty segments ('//', or a leading or trailing '/')")
    if segment in _DOT_SEGMENTS:
        raise InvalidPathError("must not contain '.' or '..' segments")
    if len(segment.encode("utf-8")) > MAX_NAME_BYTES:
        raise InvalidPathError(f"names must be at most {MAX_NAME_BYTES} bytes long")
    folded = unicodedata.normalize("NFKC", segment)
    if folded in _DOT_SEGMENTS or any(sep in folded for sep in _SEPARATORS):
        raise InvalidPathError("must not contain characters that stand for a separator or a dot segment")
    decoded = segment
    for _ in range(3):  # double and triple encoding too
        if "%" not in decoded:
            break
        decoded = unquote(decoded, errors="replace")
        folded = unicodedata.normalize("NFKC", decoded)
        if folded in _DOT_SEGMENTS or any(sep in folded for sep in _SEPARATORS):
            raise InvalidPathError("must not contain a percent-encoded separator or dot segment")


def _is_control(char: str) -> bool:
    code = ord(char)
    return code < 0x20 or 0x7F <= code <= 0x9F


def parent_dirs(path: str) -> list[str]:
    """The directories containing ``path``, outermost first: ``a/b/c`` → ``[a, a/b]``."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def is_within(path: str, directory: str) -> bool:
    """True when ``path`` is ``directory`` itself or below it (``""`` is the root)."""
    return directory in ("", path) or path.startswith(directory + "/")
