"""Browser sessions through the gateway: the cookie, its expiry and revocation, CSRF, tenants."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import grpc
import httpx
import pytest
import pytest_asyncio
from google.protobuf import duration_pb2
from sqlalchemy import func, select, update

from ccplane.v1 import sessions_pb2, sessions_pb2_grpc
from common.credentials import authorized_channel
from common.db.engine import Database
from common.db.models import AgentRun, BrowserSession
from control_plane import api_keys
from control_plane.app import ControlPlane
from gateway import Gateway
from gateway.session import COOKIE
from tests.integration.gateway.sse import frames
from tests.keys import create_key


def reason(response: httpx.Response) -> str:
    (info,) = [d for d in response.json()["details"] if d["@type"].endswith("google.rpc.ErrorInfo")]
    return str(info["reason"])


@pytest_asyncio.fixture(loop_scope="session")
async def browser(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    """A client that behaves like the workbench's page: same origin, cookies, no bearer header."""
    async with httpx.AsyncClient(base_url=gateway.url, timeout=20.0, headers={"origin": gateway.url}) as http:
        yield http


async def sign_in(http: httpx.AsyncClient, key: str) -> httpx.Response:
    return await http.post("/api/session", json={"apiKey": key})


async def test_sign_in_sets_an_http_only_cookie_that_never_holds_the_key(
    browser: httpx.AsyncClient, database: Database
) -> None:
    key = await create_key(database, "cookie-tenant", "user")
    response = await sign_in(browser, key)
    assert response.status_code == 200, response.text
    set_cookie = response.headers["set-cookie"]
    attributes = {part.strip().split("=", 1)[0].lower() for part in set_cookie.split(";")}
    assert {"httponly", "path", "max-age", "samesite"} <= attributes
    assert "samesite=strict" in set_cookie.lower() and "path=/" in set_cookie.lower()
    token = browser.cookies[COOKIE]
    assert token.startswith("ccs_") and token != key
    assert key not in response.text and token not in response.text
    session = response.json()
    assert (session["tenantId"], session["role"]) == ("cookie-tenant", "user")
    assert session["sessionId"].startswith("ses_") and session["expireTime"]
    assert response.headers["cache-control"] == "no-store"

    whoami = await browser.get("/api/session")
    assert whoami.status_code == 200
    assert whoami.json()["session"]["sessionId"] == session["sessionId"]
    assert (await browser.get("/api/runs")).status_code == 200


async def test_a_bad_key_is_refused_without_a_cookie(browser: httpx.AsyncClient) -> None:
    wrong = await sign_in(browser, "ccp_" + "x" * 43)
    assert wrong.status_code == 401 and reason(wrong) == "INVALID_API_KEY"
    assert "set-cookie" not in wrong.headers
    empty = await browser.post("/api/session", json={"apiKey": "  "})
    assert empty.status_code == 400
    (bad,) = [d for d in empty.json()["details"] if d["@type"].endswith("BadRequest")]
    assert bad["fieldViolations"][0]["field"] == "api_key"
    not_json = await browser.post("/api/session", content=b"{")
    assert not_json.status_code == 400
    assert (await browser.get("/api/session")).status_code == 401


async def test_unsafe_cookie_requests_must_come_from_the_own_origin(
    gateway: Gateway, database: Database
) -> None:
    key = await create_key(database, "csrf-tenant", "user")
    async with httpx.AsyncClient(base_url=gateway.url, timeout=20.0) as http:
        assert (await sign_in(http, key)).status_code == 200
        before = await _runs_of(database, "csrf-tenant")
        no_origin = await http.post("/api/runs", json={"prompt": "forged"})
        assert no_origin.status_code == 403 and reason(no_origin) == "CSRF_CHECK_FAILED"
        elsewhere = await http.post(
            "/api/runs", json={"prompt": "forged"}, headers={"origin": "http://evil.example"}
        )
        assert elsewhere.status_code == 403 and reason(elsewhere) == "CSRF_CHECK_FAILED"
        referer_elsewhere = await http.post(
            "/api/runs", json={"prompt": "forged"}, headers={"referer": "http://evil.example/page"}
        )
        assert referer_elsewhere.status_code == 403
        assert await _runs_of(database, "csrf-tenant") == before, "a refused request changes nothing"

        same = await http.post("/api/runs", json={"prompt": "mine"}, headers={"origin": gateway.url})
        assert same.status_code == 200, same.text
        by_referer = await http.post(
            "/api/runs", json={"prompt": "mine"}, headers={"referer": f"{gateway.url}/runs"}
        )
        assert by_referer.status_code == 200
        # Reads need no origin: they change nothing.
        assert (await http.get("/api/runs")).status_code == 200
        # A bearer header is not ambient authority: no origin check.
        http.cookies.clear()
        bearer = await http.post(
            "/api/runs", json={"prompt": "cli"}, headers={"authorization": f"Bearer {key}"}
        )
        assert bearer.status_code == 200
        # Signing in from elsewhere is refused too (login CSRF).
        login = await http.post(
            "/api/session", json={"apiKey": key}, headers={"origin": "http://evil.example"}
        )
        assert login.status_code == 403 and "set-cookie" not in login.headers


async def _runs_of(database: Database, tenant: str) -> int:
    async with database.session() as session:
        count = await session.scalar(select(func.count()).where(AgentRun.tenant_id == tenant))
    return int(count or 0)


async def test_sign_out_ends_the_session(
    gateway: Gateway, browser: httpx.AsyncClient, database: Database
) -> None:
    assert (await sign_in(browser, await create_key(database, "signout-tenant", "user"))).status_code == 200
    token = browser.cookies[COOKIE]
    out = await browser.delete("/api/session")
    assert out.status_code == 200
    assert COOKIE not in browser.cookies, "the cookie is cleared"
    async with httpx.AsyncClient(base_url=gateway.url, timeout=20.0) as replay:
        replay.cookies.set(COOKIE, token)
        refused = await replay.get("/api/runs")
    assert refused.status_code == 401 and reason(refused) == "SESSION_EXPIRED"
    # Signing out again (or without a session) still answers 200.
    assert (await browser.delete("/api/session")).status_code == 200


async def test_expired_sessions_and_revoked_keys_end_sessions(
    browser: httpx.AsyncClient, database: Database
) -> None:
    key = await create_key(database, "expiry-tenant", "user")
    signed_in = await sign_in(browser, key)
    session_id = signed_in.json()["sessionId"]
    assert (await browser.get("/api/runs")).status_code == 200
    async with database.session() as session, session.begin():
        await session.execute(
            update(BrowserSession)
            .where(BrowserSession.id == session_id)
            .values(expires_at=func.now() - timedelta(seconds=1))
        )
    expired = await browser.get("/api/runs")
    assert expired.status_code == 401 and reason(expired) == "SESSION_EXPIRED"

    await sign_in(browser, key)
    assert (await browser.get("/api/runs")).status_code == 200
    async with database.session() as session, session.begin():
        (info,) = [k for k in await api_keys.list_keys(session, "expiry-tenant")]
        await api_keys.revoke(session, info.key_id)
    revoked = await browser.get("/api/runs")
    assert revoked.status_code == 401, "a revoked key ends its sessions"


async def test_tenants_are_isolated_through_cookies(gateway: Gateway, database: Database) -> None:
    async with (
        httpx.AsyncClient(base_url=gateway.url, timeout=20.0, headers={"origin": gateway.url}) as owner,
        httpx.AsyncClient(base_url=gateway.url, timeout=20.0, headers={"origin": gateway.url}) as intruder,
    ):
        await sign_in(owner, await create_key(database, "cookie-owner", "user"))
        await sign_in(intruder, await create_key(database, "cookie-intruder", "admin"))
        run = (await owner.post("/api/runs", json={"prompt": "mine"})).json()["run"]
        assert (await owner.get(f"/api/runs/{run['id']}")).status_code == 200
        assert (await intruder.get(f"/api/runs/{run['id']}")).status_code == 404
        listed = (await intruder.get("/api/runs")).json().get("runs", [])
        assert run["id"] not in {r["id"] for r in listed}
        stop = await intruder.post(f"/api/runs/{run['id']}/stop", json={})
        assert stop.status_code == 404
        # Streams read the cookie too (an EventSource sends no header): the owner's opens.
        async with owner.stream("GET", f"/api/runs/{run['id']}/events") as events:
            assert events.status_code == 200
            async for frame in frames(events):
                if not frame.comment:
                    assert frame.json["runId"] == run["id"]
                    break


async def test_a_session_cannot_start_another_and_ttl_is_capped(
    control_plane: ControlPlane, database: Database
) -> None:
    key = await create_key(database, "grpc-session-tenant", "user")
    async with authorized_channel(control_plane.address, key) as channel:
        stub = sessions_pb2_grpc.SessionServiceStub(channel)
        asked = duration_pb2.Duration(seconds=10 * 365 * 86400)
        created = await stub.CreateSession(sessions_pb2.CreateSessionRequest(ttl=asked))
        lasts = created.session.expire_time.ToDatetime() - (await _db_now(database))
        assert lasts <= timedelta(seconds=control_plane.settings.session_ttl + 5)
        with pytest.raises(grpc.aio.AioRpcError) as bad_ttl:
            await stub.CreateSession(sessions_pb2.CreateSessionRequest(ttl=duration_pb2.Duration(seconds=-1)))
        assert bad_ttl.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.aio.AioRpcError) as not_a_session:
            await stub.DeleteSession(sessions_pb2.DeleteSessionRequest())
        assert not_a_session.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    async with authorized_channel(control_plane.address, created.token) as channel:
        stub = sessions_pb2_grpc.SessionServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as nested:
            await stub.CreateSession(sessions_pb2.CreateSessionRequest())
        assert nested.value.code() == grpc.StatusCode.PERMISSION_DENIED
        me = await stub.GetSession(sessions_pb2.GetSessionRequest())
        assert me.session.session_id == created.session.session_id


async def _db_now(database: Database) -> datetime:
    async with database.session() as session:
        now = await session.scalar(select(func.now()))
    assert now is not None
    return now.replace(tzinfo=None)
