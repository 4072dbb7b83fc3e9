"""The internal credential: where it comes from, who it admits."""

from __future__ import annotations

import stat
from pathlib import Path

import grpc
import pytest

from common.credentials import INTERNAL_KEY_FILE, INTERNAL_TOKEN_ENV, InternalAuth, internal_token
from common.errors import ServiceError


def test_the_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(INTERNAL_TOKEN_ENV, "cci_from_env")
    assert internal_token(tmp_path) == "cci_from_env"
    assert not (tmp_path / INTERNAL_KEY_FILE).exists()


def test_otherwise_one_token_per_data_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(INTERNAL_TOKEN_ENV, raising=False)
    first = internal_token(tmp_path / "data")
    path = tmp_path / "data" / INTERNAL_KEY_FILE
    assert first.startswith("cci_") and len(first) > 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert internal_token(tmp_path / "data") == first, "processes sharing a data directory share it"
    assert internal_token(tmp_path / "other") != first


class _Context:
    def __init__(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self._metadata = metadata

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        ((), "MISSING_CREDENTIALS"),
        ((("authorization", "Bearer ccp_a-user-key"),), "INVALID_CREDENTIALS"),
        ((("authorization", "Basic cci_right"),), "MISSING_CREDENTIALS"),
        ((("authorization", "Bearer cci_wrong"),), "INVALID_CREDENTIALS"),
    ],
)
async def test_only_the_internal_token_is_admitted(
    metadata: tuple[tuple[str, str], ...], reason: str
) -> None:
    guard = InternalAuth("cci_right")
    with pytest.raises(ServiceError) as err:
        await guard.admit("/ccplane.v1.ExecutorService/GetStatus", _Context(metadata))  # type: ignore[arg-type]
    assert (err.value.code, err.value.reason) == (grpc.StatusCode.UNAUTHENTICATED, reason)
    await guard.admit("/m", _Context((("authorization", "bearer  cci_right "),)))  # type: ignore[arg-type]
