"""Authentication, tenants and limits as HTTP clients see them through the gateway."""

from __future__ import annotations

import asyncio
import contextlib

import httpx

from common.db.engine import Database
from control_plane import api_keys
from gateway import Gateway
from tests.conftest import RunFactory
from tests.integration.human_loop.conftest import ask
from tests.keys import create_key, set_limits


def as_key(gateway: Gateway, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=gateway.url, timeout=20.0, headers={"authorization": f"Bearer {key}"})


def reason(response: httpx.Response) -> str:
    body = response.json()
    (info,) = [d for d in body["details"] if d["@type"].endswith("google.rpc.ErrorInfo")]
    return str(info["reason"])


async def test_no_key_or_a_bad_key_is_401(anonymous: httpx.AsyncClient, gateway: Gateway) -> None:
    for path in ("/api/runs", "/api/workspaces", "/api/human-loop/pending", "/api/runs/run_x/events"):
        missing = await anonymous.get(path)
        assert missing.status_code == 401, path
        assert missing.headers["www-authenticate"].startswith("Bearer")
        assert missing.json()["code"] == 16 and reason(missing) == "MISSING_CREDENTIALS"
    async with as_key(gateway, "ccp_" + "0" * 43) as bad:
        refused = await bad.post("/api/runs", json={"prompt": "hi"})
    assert refused.status_code == 401 and reason(refused) == "INVALID_API_KEY"
    # Health, metrics and the API description stay open.
    for path in ("/healthz", "/metrics", "/api/openapi.json"):
        assert (await anonymous.get(path)).status_code == 200, path


async def test_another_tenants_resources_are_404(
    gateway: Gateway, database: Database, make_run: RunFactory
) -> None:
    async with (
        as_key(gateway, await create_key(database, "http-owner", "user")) as owner,
        as_key(gateway, await create_key(database, "http-intruder", "admin")) as intruder,
    ):
        workspace = (await owner.post("/api/workspaces", json={"name": "mine"})).json()["workspace"]
        run = (await owner.post("/api/runs", json={"prompt": "mine", "workspaceId": workspace["id"]})).json()[
            "run"
        ]
        waiting = await make_run("waiting_human", tenant_id="http-owner", workspace_id=workspace["id"])
        question_id = await ask(database, waiting)

        for method, path, body in (
            ("GET", f"/api/runs/{run['id']}", None),
            ("GET", f"/api/runs/{run['id']}/events", None),
            ("GET", f"/api/runs/{run['id']}/events:list", None),
            ("POST", f"/api/runs/{run['id']}/stop", {}),
            ("POST", f"/api/runs/{waiting}:interrupt", {}),
            ("GET", f"/api/human-loop/requests/{question_id}", None),
            (
                "POST",
                f"/api/runs/{waiting}/human-loop/{question_id}/reply",
                {"approval": {"decision": "APPROVAL_DECISION_ACCEPT"}},
            ),
            ("GET", f"/api/workspaces/{workspace['id']}", None),
            ("GET", f"/api/workspaces/{workspace['id']}/files", None),
            ("GET", f"/api/workspaces/{workspace['id']}/audit", None),
        ):
            response = await intruder.request(method, path, json=body)
            assert response.status_code == 404, (path, response.text)
            assert response.json()["code"] == 5 and reason(response).endswith("_NOT_FOUND")
        assert (await owner.get(f"/api/runs/{run['id']}")).status_code == 200
        assert (await owner.get(f"/api/human-loop/requests/{question_id}")).status_code == 200
        # The intruder's human-loop feed leaves the owner's request out.
        seen = ""
        async with intruder.stream("GET", "/api/human-loop/events?pendingOnly=true") as feed:
            assert feed.status_code == 200
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    async for text in feed.aiter_text():
                        seen += text
        assert "keep-alive" in seen and question_id not in seen


async def test_reconcile_with_a_user_key_is_403(gateway: Gateway, database: Database) -> None:
    async with as_key(gateway, await create_key(database, "http-users", "user")) as user:
        response = await user.post("/api/reconcile/runs", json={"dryRun": True})
    assert response.status_code == 403 and reason(response) == "ADMIN_REQUIRED"


async def test_limits_are_429_with_retry_after(gateway: Gateway, database: Database) -> None:
    await set_limits(database, "http-quota", max_runs=1, rps=2)
    async with as_key(gateway, await create_key(database, "http-quota", "user")) as client:
        assert (await client.post("/api/runs", json={"prompt": "one"})).status_code == 200
        over = await client.post("/api/runs", json={"prompt": "two"})
        assert over.status_code == 429 and reason(over) == "RUN_QUOTA_EXCEEDED"
        assert int(over.headers["retry-after"]) >= 1
        assert any(d["@type"].endswith("google.rpc.QuotaFailure") for d in over.json()["details"])

        responses = await asyncio.gather(*(client.get("/api/runs") for _ in range(10)))
        limited = [r for r in responses if r.status_code == 429]
        assert limited and all(reason(r) == "RATE_LIMITED" for r in limited)
        assert limited[0].headers["retry-after"] == "1"
        retry = [d for d in limited[0].json()["details"] if d["@type"].endswith("google.rpc.RetryInfo")]
        assert retry and retry[0]["retryDelay"].endswith("s")


async def test_full_access_and_unsafe_overrides_need_the_tenant_setting(
    gateway: Gateway, database: Database
) -> None:
    full = {"prompt": "go", "settings": {"sandboxMode": "SANDBOX_MODE_DANGER_FULL_ACCESS"}}
    unsafe = {"prompt": "go", "settings": {"configOverrides": {"model_providers.x.env_key": "CCPLANE_X"}}}
    safe = {"prompt": "go", "settings": {"configOverrides": {"model_reasoning_summary": "detailed"}}}
    async with as_key(gateway, await create_key(database, "http-sandboxed", "admin")) as client:
        refused = await client.post("/api/runs", json=full)
        assert refused.status_code == 403 and reason(refused) == "FULL_ACCESS_NOT_ALLOWED"
        assert "settings.sandbox_mode" in refused.json()["message"]
        bad = await client.post("/api/runs", json=unsafe)
        assert bad.status_code == 400 and reason(bad) == "CONFIG_OVERRIDE_NOT_ALLOWED"
        (violations,) = [d for d in bad.json()["details"] if d["@type"].endswith("BadRequest")]
        assert (
            violations["fieldViolations"][0]["field"]
            == "settings.config_overrides['model_providers.x.env_key']"
        )
        assert (await client.post("/api/runs", json=safe)).status_code == 200
        listed = (await client.get("/api/runs")).json()["runs"]
        assert len(listed) == 1, "refused runs were not created"

        async with database.session() as session, session.begin():
            await api_keys.set_tenant_limits(session, "http-sandboxed", allow_full_access=True)
        assert (await client.post("/api/runs", json=full)).status_code == 200
        assert (await client.post("/api/runs", json=unsafe)).status_code == 200
