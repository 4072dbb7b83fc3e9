"""Property-based testing of the REST surface with schemathesis, from the gateway's own OpenAPI document.

A bounded, deterministic run (a fixed number of examples per operation,
derandomized): no 5xx, every status documented, every JSON response valid
against its schema, every content type as documented. Operations taking a
run id run twice: with generated ids (malformed or unknown) and with a real
run's id, so the success paths are fuzzed too. Calls carry the default
tenant's admin key; the test also checks that successes were among the
answers, so a refusal of every call could not pass. Left out: the reconcile
mutations (they would settle other tests' runs).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup

from gateway import Gateway
from tests.integration.gateway.conftest import CreateRun

GENERATED_IDS = [
    "RunService_CreateRun",
    "RunService_GetRun",
    "RunService_ListRuns",
    "RunService_StopRun",
    "RunService_SendMessage",
    "RunService_ListTodos",
    "RunService_StreamRunEvents",
    "HumanLoopService_ListPendingRequests",
    "HumanLoopService_GetRequest",
    "HumanLoopService_ListRequests",
    "HumanLoopService_Reply",
    "HumanLoopService_Reply_2",
    "ReconcileService_GetMetrics",
    "WorkspaceService_CreateWorkspace",
    "WorkspaceService_GetWorkspace",
    "WorkspaceService_ListWorkspaces",
    "WorkspaceService_ListFiles",
    "WorkspaceService_ReadFile",
    "WorkspaceService_WriteFile",
    "WorkspaceService_RenameFile",
    "WorkspaceService_DeleteFile",
    "WorkspaceService_ListAuditEvents",
    "WorkspaceService_UploadFile",
]
# Operation -> which real run its run_id is ("finished": a canceled run, so streams end).
REAL_RUN_IDS = {
    "RunService_GetRun": "finished",
    "RunService_ListTodos": "finished",
    "RunService_StreamRunEvents": "finished",
    "RunService_StreamTodoEvents": "finished",
    "RunService_StopRun": "queued",
    "RunService_SendMessage": "queued",
}
EXAMPLES_PER_OPERATION = 25
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _fuzz(
    document: dict[str, Any], base_url: str, runs: dict[str, str], key: str, statuses: Counter[int]
) -> list[str]:
    schema = schemathesis.openapi.from_dict(document)
    headers = {"authorization": f"Bearer {key}"}
    plan: list[tuple[str, dict[str, str]]] = [(op, {}) for op in GENERATED_IDS]
    plan += [(op, {"run_id": runs[which]}) for op, which in REAL_RUN_IDS.items()]
    failures: list[str] = []
    for operation_id, path_parameters in plan:
        operation = schema.find_operation_by_id(operation_id)

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(path_parameters=path_parameters or None))
        def check(case: schemathesis.Case) -> None:
            response = case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=20, headers=headers)
            statuses[response.status_code] += 1

        try:
            check()
        except (Exception, FailureGroup) as exc:  # FailureGroup is a BaseExceptionGroup
            failures.append(f"{operation_id} {path_parameters}: {exc}")
    return failures


async def test_schemathesis_finds_no_server_errors_or_schema_violations(
    gateway: Gateway, client: httpx.AsyncClient, create_run: CreateRun, finished_run: str, admin_key: str
) -> None:
    document = (await client.get("/api/openapi.json")).json()
    runs = {"finished": finished_run, "queued": await create_run()}
    statuses: Counter[int] = Counter()
    # schemathesis calls synchronously: the gateway keeps serving on this loop meanwhile.
    failures = await asyncio.to_thread(_fuzz, document, gateway.url, runs, admin_key, statuses)
    assert failures == [], "\n\n".join(failures)
    assert statuses[200] >= 50 and statuses[400] > 0, f"successes and refusals both fuzzed: {statuses}"
    assert statuses[401] == 0, "every call was authenticated"
