"""What a tenant may ask of a run's agent: full access and configuration overrides."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import struct_pb2

from ccplane.v1 import runs_pb2
from common.errors import ServiceError
from control_plane.auth import Caller
from control_plane.runs.permissions import SAFE_OVERRIDES, check_run_settings

ORDINARY = Caller(tenant_id="acme")
PERMITTED = Caller(tenant_id="lab", full_access=True)


def settings(sandbox: int = 0, **overrides: object) -> runs_pb2.RunSettings:
    out = runs_pb2.RunSettings(sandbox_mode=sandbox)  # type: ignore[arg-type]
    for key, value in overrides.items():
        out.config_overrides[key.replace("__", ".")].CopyFrom(_value(value))
    return out


def _value(value: object) -> struct_pb2.Value:
    v = struct_pb2.Value()
    if isinstance(value, str):
        v.string_value = value
    elif isinstance(value, bool):
        v.bool_value = value
    else:
        raise TypeError(value)
    return v


def test_full_access_needs_the_tenant_setting() -> None:
    full = settings(runs_pb2.SANDBOX_MODE_DANGER_FULL_ACCESS)
    with pytest.raises(ServiceError) as refused:
        check_run_settings(full, ORDINARY)
    assert refused.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert refused.value.reason == "FULL_ACCESS_NOT_ALLOWED"
    assert refused.value.metadata["field"] == "settings.sandbox_mode"
    check_run_settings(full, PERMITTED)
    for ordinary in (runs_pb2.SANDBOX_MODE_WORKSPACE_WRITE, runs_pb2.SANDBOX_MODE_READ_ONLY, 0):
        check_run_settings(settings(ordinary), ORDINARY)


@pytest.mark.parametrize(
    "key",
    [
        "sandbox_mode",
        "sandbox_workspace_write.network_access",
        "model_provider",
        "model_providers.evil.base_url",
        "model_providers.evil.env_key",
        "shell_environment_policy.inherit",
        "approval_policy",
        "profile",
    ],
)
def test_overrides_that_reach_past_the_sandbox_are_refused_by_name(key: str) -> None:
    overrides = runs_pb2.RunSettings()
    overrides.config_overrides[key].string_value = "x"
    with pytest.raises(ServiceError) as refused:
        check_run_settings(overrides, ORDINARY)
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.reason == "CONFIG_OVERRIDE_NOT_ALLOWED"
    assert [v.field for v in refused.value.violations] == [f"settings.config_overrides[{key!r}]"]
    check_run_settings(overrides, PERMITTED)


def test_safe_overrides_are_allowed() -> None:
    check_run_settings(settings(model_reasoning_summary="detailed", hide_agent_reasoning=True), ORDINARY)
    safe = runs_pb2.RunSettings()
    for key in SAFE_OVERRIDES:
        safe.config_overrides[key].bool_value = True
    check_run_settings(safe, ORDINARY)
