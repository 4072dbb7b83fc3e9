"""Debian's Chromium as the browser suite and the workbench benchmark drive it.

Playwright cannot download its own browser builds here, so both launch
``/usr/bin/chromium`` (``tools/setup-system.sh`` installs it) with these
flags: headless, and none of the background traffic a closed network refuses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

CHROMIUM: Final = Path("/usr/bin/chromium")
CHROMIUM_ARGS: Final = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)
