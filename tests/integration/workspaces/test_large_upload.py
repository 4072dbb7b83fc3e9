"""A 200 MB file streamed through UploadFile with bounded memory.

The upload runs in a process of its own (``upload_probe``), server and
client together, so that the memory it measures is this upload's alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import libpq_url

SIZE = 200 * 1024 * 1024
MAX_GROWTH = 60 * 1024 * 1024
MAX_SECONDS = 30.0


@pytest.mark.slow
def test_200mb_upload_streams_with_bounded_memory(db_url: str, tmp_path: Path) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.integration.workspaces.upload_probe",
            libpq_url(db_url),
            str(tmp_path),
            str(SIZE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[3],
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    print(result)
    assert result["sha_ok"], result
    assert result["stored"] == SIZE
    assert result["version"] == 2
    assert result["sampled_growth"] < MAX_GROWTH, result
    assert result["maxrss_growth"] < MAX_GROWTH, result
    assert result["seconds"] < MAX_SECONDS, result
