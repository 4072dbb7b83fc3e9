"""The fault suite's proofs, for bench/results.json.

Runs ``tests/reliability`` (each test injects a real fault into a real
platform and asserts what the platform did on its own) and collects what
each test measured: the fault, how it was injected, the outcome, the bound
it met and how much was lost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def run(*, soak: bool = False) -> dict[str, Any]:
    """The suite's report: ``{"passed": bool, "soak": bool, "proofs": [...]}``."""
    with tempfile.TemporaryDirectory(prefix="ccplane-reliability-") as tmp:
        report = Path(tmp) / "report.json"
        env = {**os.environ, "CCPLANE_RELIABILITY_REPORT": str(report)}
        if soak:
            env["CCPLANE_SOAK"] = "1"
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "tests/reliability",
                "-q",
                "-p",
                "no:cacheprovider",
                f"--basetemp={tmp}/pytest",
            ],
            cwd=ROOT,
            env=env,
            check=False,
        )
        proofs = json.loads(report.read_text())["proofs"] if report.is_file() else []
    return {"passed": completed.returncode == 0, "soak": soak, "proofs": proofs}
