"""Uploading files over HTTP: raw and multipart bodies stream into UploadFile."""

from __future__ import annotations

import base64

import httpx


async def _workspace(client: httpx.AsyncClient) -> str:
    response = await client.post("/api/workspaces", json={"name": "uploads"})
    assert response.status_code == 200, response.text
    return str(response.json()["workspace"]["id"])


async def test_raw_body_upload(client: httpx.AsyncClient) -> None:
    workspace = await _workspace(client)
    content = bytes(range(256)) * 8192  # 2 MiB: several chunks
    response = await client.post(
        f"/api/workspaces/{workspace}/files:upload", params={"path": "data/blob.bin"}, content=content
    )
    assert response.status_code == 200, response.text
    uploaded = response.json()
    assert uploaded["file"]["path"] == "data/blob.bin"
    assert int(uploaded["file"]["size"]) == len(content)
    read = await client.get(f"/api/workspaces/{workspace}/file", params={"path": "data/blob.bin"})
    assert base64.b64decode(read.json()["content"]) == content

    audit = await client.get(f"/api/workspaces/{workspace}/audit", params={"path": "data/blob.bin"})
    assert [e["action"] for e in audit.json()["events"]] == ["AUDIT_ACTION_UPLOAD"]


async def test_multipart_upload_with_expected_version(client: httpx.AsyncClient) -> None:
    workspace = await _workspace(client)
    first = await client.post(
        f"/api/workspaces/{workspace}/files:upload",
        files={"file": ("notes.md", b"# notes\n")},
        data={"path": "notes.md"},
    )
    assert first.status_code == 200, first.text
    version = int(first.json()["version"])
    second = await client.post(
        f"/api/workspaces/{workspace}/files:upload",
        params={"path": "notes.md", "expectedVersion": str(version)},
        content=b"# notes, edited\n",
    )
    assert second.status_code == 200, second.text
    current = int(second.json()["version"])
    stale = await client.post(
        f"/api/workspaces/{workspace}/files:upload",
        params={"path": "notes.md", "expectedVersion": str(version)},
        content=b"late",
    )
    assert stale.status_code == 409, stale.text
    assert stale.json()["code"] == 10  # ABORTED, naming the current version
    assert str(current) in stale.json()["message"]


async def test_bad_uploads_are_400(client: httpx.AsyncClient) -> None:
    workspace = await _workspace(client)
    traversal = await client.post(
        f"/api/workspaces/{workspace}/files:upload", params={"path": "../escape"}, content=b"x"
    )
    assert traversal.status_code == 400
    assert "path" in traversal.json()["message"]
    not_a_number = await client.post(
        f"/api/workspaces/{workspace}/files:upload",
        params={"path": "a", "expectedVersion": "soon"},
        content=b"x",
    )
    assert not_a_number.status_code == 400
    assert "expectedVersion" in not_a_number.json()["message"]
    no_file = await client.post(
        f"/api/workspaces/{workspace}/files:upload", data={"path": "a"}, files={"x": ("a", b"")}
    )
    assert no_file.status_code == 400
    missing = await client.post(
        "/api/workspaces/ws_01ABCDEFGHJKMNPQRSTVWXYZ01/files:upload", params={"path": "a"}, content=b"x"
    )
    assert missing.status_code == 404
