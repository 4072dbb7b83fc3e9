"""A session's model proxy: forwards with the real key, refuses everything else."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from common.scripted_model import ScriptedModelServer
from executor.model_proxy import ModelProxy
from executor.providers.codex.config import ModelConfig

SCENARIO = {"name": "hello", "steps": [{"output": [{"message": "hello through the proxy"}]}]}
BODY = {"model": "m", "stream": True, "input": [{"role": "user", "content": "hi"}]}


async def test_forwards_with_the_real_key_and_refuses_the_rest() -> None:
    async with ScriptedModelServer(SCENARIO) as model:
        proxy = ModelProxy(ModelConfig(base_url=model.base_url, api_key="real-key"), run_id="run_x")
        await proxy.start()
        token = proxy.token
        try:
            assert token.startswith("ccm_") and token != "real-key"
            assert "real-key" not in repr(proxy) and token not in repr(proxy)
            async with httpx.AsyncClient(timeout=10.0) as client:
                ok = await client.post(
                    f"{proxy.base_url}/responses", json=BODY, headers={"authorization": f"Bearer {token}"}
                )
                assert ok.status_code == 200, ok.text
                assert "hello through the proxy" in ok.text
                assert model.requests[-1].headers["authorization"] == "Bearer real-key"
                assert model.requests[-1].path == "/v1/responses"

                wrong = await client.post(
                    f"{proxy.base_url}/responses", json=BODY, headers={"authorization": "Bearer x"}
                )
                assert wrong.status_code == 401
                missing = await client.post(f"{proxy.base_url}/responses", json=BODY)
                assert missing.status_code == 401
                outside = await client.get(
                    f"http://127.0.0.1:{proxy.port}/admin", headers={"authorization": f"Bearer {token}"}
                )
                assert outside.status_code == 404
            assert len(model.requests) == 1, "nothing refused reached the model"
        finally:
            await proxy.stop()
        assert proxy.token == "", "the token dies with the session"


async def test_an_unreachable_model_is_502() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    proxy = ModelProxy(ModelConfig(base_url=f"http://127.0.0.1:{closed_port}/v1", api_key="k"))
    await proxy.start()
    try:
        async with httpx.AsyncClient(timeout=10.0) as client:
            down = await client.post(
                f"{proxy.base_url}/responses", json={}, headers={"authorization": f"Bearer {proxy.token}"}
            )
        assert down.status_code == 502
    finally:
        await proxy.stop()


def test_needs_a_key() -> None:
    with pytest.raises(ValueError, match="API key"):
        ModelProxy(ModelConfig(base_url="http://127.0.0.1:1/v1"))


async def test_an_answer_that_never_starts_is_504_after_the_stall_timeout() -> None:
    """Codex would wait for ever for a response head; the proxy does not."""
    step = {"output": [{"message": "too late"}], "stall": 3600, "before_headers": True}
    async with ScriptedModelServer({"name": "stall", "steps": [step]}) as model:
        proxy = ModelProxy(ModelConfig(base_url=model.base_url, api_key="k", stall_timeout=0.5))
        await proxy.start()
        try:
            async with httpx.AsyncClient(timeout=10.0) as client:
                started = asyncio.get_running_loop().time()
                stalled = await client.post(
                    f"{proxy.base_url}/responses",
                    json=BODY,
                    headers={"authorization": f"Bearer {proxy.token}"},
                )
                took = asyncio.get_running_loop().time() - started
            assert stalled.status_code == 504
            assert "CCPLANE_MODEL_STALL_TIMEOUT" in stalled.json()["error"]["message"]
            assert 0.5 <= took < 3.0
            await model.wait_for_hang_up(model.requests[0], timeout_s=5.0)
        finally:
            await proxy.stop()


async def test_a_cut_stream_stays_cut_through_the_proxy() -> None:
    """A body the model broke off must not reach the session as a clean end."""
    step = {
        "output": [{"message": "a streamed answer, broken off", "stream": True}],
        "cut": True,
        "after_events": 3,
    }
    async with ScriptedModelServer({"name": "cut", "steps": [step]}) as model:
        proxy = ModelProxy(ModelConfig(base_url=model.base_url, api_key="k"))
        await proxy.start()
        try:
            received = b""
            async with httpx.AsyncClient(timeout=10.0) as client:
                with pytest.raises(httpx.RemoteProtocolError):
                    async with client.stream(
                        "POST",
                        f"{proxy.base_url}/responses",
                        json=BODY,
                        headers={"authorization": f"Bearer {proxy.token}"},
                    ) as answer:
                        assert answer.status_code == 200
                        async for data in answer.aiter_raw():
                            received += data
            assert b"response.created" in received and b"response.completed" not in received
        finally:
            await proxy.stop()
