"""Paths that must never be accepted as workspace paths, and ones that must."""

from __future__ import annotations

TRAVERSAL = [
    # absolute
    "/etc/passwd",
    "/",
    "//server/share",
    "/workspace/../etc/passwd",
    # dot segments
    "..",
    "../x",
    "../../../../etc/shadow",
    "a/..",
    "a/../b",
    "a/../../b",
    ".",
    "./a",
    "a/.",
    "a/./b",
    # empty segments
    "a//b",
    "a/",
    "a/b/",
    # NUL and control characters
    "a\0b",
    "\0",
    "ok.txt\0.png",
    "line\nbreak",
    "tab\there",
    "esc\x1b[31m",
    "del\x7f",
    "c1\x85control",
    # backslashes (Windows separators)
    "..\\..\\windows\\system32",
    "a\\b",
    "C:\\Windows",
    "\\\\server\\share",
    # percent-encoded traversal, single and double
    "%2e%2e/etc/passwd",
    "%2E%2E%2Fetc%2Fpasswd",
    "..%2fetc%2fpasswd",
    "a/%2e%2e/b",
    "%252e%252e/x",
    "%25252e%25252e%25252fx",
    "..%5c..%5cwindows",
    "a%00b",
    "%2e",
    # Unicode that folds to dots or separators
    "\uff0e\uff0e/etc/passwd",  # fullwidth full stops
    "\u2025/x",  # two dot leader, NFKC ".."
    "a\uff0fb",  # fullwidth solidus
    "a\ufe68b",  # small reverse solidus
    "e\u0301",  # not NFC
    # over-long
    "n" * 256,
    "/".join(["d" * 200] * 6),
    "\u00e9" * 128 + "/x",  # 256 bytes in UTF-8
    # lone surrogate (not UTF-8)
    "a\udc80b",
    # empty
    "",
]

VALID = [
    "a",
    "README.md",
    ".gitignore",
    ".git/config",
    "src/app/main.py",
    "dir with spaces/file name.txt",
    "...",
    "..a",
    "a..",
    "a.b/c..d",
    "100%",
    "a%20b",
    "C:file",
    "\u00e9t\u00e9/\u65e5\u672c.txt",
    "n" * 255,
    "/".join(["d" * 200] * 5),
]
