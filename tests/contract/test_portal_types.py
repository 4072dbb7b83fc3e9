"""The portal's API types are generated from the contract and committed:
``portal/src/lib/api/openapi.json`` (the gateway's OpenAPI document) and
``portal/src/lib/api/schema.ts`` (openapi-typescript of it). Either one
stale fails here, like gen/ does: run ``make gen``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
API_DIR = ROOT / "portal" / "src" / "lib" / "api"
OPENAPI_TYPESCRIPT = ROOT / "portal" / "node_modules" / ".bin" / "openapi-typescript"


@pytest.fixture(scope="module")
def dumped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("portal-api") / "openapi.json"
    subprocess.run([sys.executable, "-m", "gateway.openapi", str(out)], cwd=ROOT, check=True, timeout=120)
    return out


def test_openapi_json_is_fresh(dumped: Path) -> None:
    committed = (API_DIR / "openapi.json").read_text()
    assert dumped.read_text() == committed, "portal/src/lib/api/openapi.json is stale: run `make gen`"


def test_schema_ts_is_fresh(dumped: Path) -> None:
    assert OPENAPI_TYPESCRIPT.exists(), "portal dependencies are missing: run `make install`"
    out = dumped.with_name("schema.ts")
    result = subprocess.run(
        [str(OPENAPI_TYPESCRIPT), str(dumped), "--output", str(out)],
        cwd=ROOT / "portal",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    committed = (API_DIR / "schema.ts").read_text()
    assert out.read_text() == committed, "portal/src/lib/api/schema.ts is stale: run `make gen`"
