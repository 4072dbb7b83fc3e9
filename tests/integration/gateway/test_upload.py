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
    for name, value in (("mode", str(2**32)), ("size", "-1"), ("expectedVersion", str(2**63))):
        out_of_range = await client.post(
            f"/api/workspaces/{workspace}/files:upload", params={"path": "a", name: value}, content=b"x"
        )
        assert out_of_range.status_code == 400, (name, out_of_range.text)
        assert name in out_of_range.json()["message"] and "between 0 and" in out_of_range.json()["message"]
    no_file = await client.post(
        f"/api/workspaces/{workspace}/files:upload", data={"path": "a"}, files={"x": ("a", b"")}
    )
    assert no_file.status_code == 400
    missing = await client.post(
        "/api/workspaces/ws_01ABCDEFGHJKMNPQRSTVWXYZ01/files:upload", params={"path": "a"}, content=b"x"
    )
    assert missing.status_code == 404


async def test_file_routes(client: httpx.AsyncClient) -> None:
    workspace = await _workspace(client)
    base = f"/api/workspaces/{workspace}"
    written = await client.put(
        f"{base}/file", json={"path": "src/app.py", "content": base64.b64encode(b"print(1)\n").decode()}
    )
    assert written.status_code == 200, written.text
    version = int(written.json()["version"])

    listing = await client.get(f"{base}/files", params={"path": "src"})
    assert [(e["name"], e["type"]) for e in listing.json()["entries"]] == [("app.py", "FILE_TYPE_FILE")]
    root = await client.get(f"{base}/files")
    assert [(e["name"], e["type"]) for e in root.json()["entries"]] == [("src", "FILE_TYPE_DIRECTORY")]

    edit = {
        "path": "src/app.py",
        "content": base64.b64encode(b"print(2)\n").decode(),
        "expectedVersion": str(version),
    }
    edited = await client.put(f"{base}/file", json=edit)
    assert edited.status_code == 200, edited.text
    late = {**edit, "content": base64.b64encode(b"print(3)\n").decode()}
    stale = await client.put(f"{base}/file", json=late)
    assert stale.status_code == 409, "an edit based on the old version is stale now"
    assert stale.json()["code"] == 10
    version = int(edited.json()["version"])

    renamed = await client.post(f"{base}/files:rename", json={"path": "src/app.py", "newPath": "src/main.py"})
    assert renamed.status_code == 200, renamed.text
    gone = await client.get(f"{base}/file", params={"path": "src/app.py"})
    assert gone.status_code == 404
    deleted = await client.delete(f"{base}/file", params={"path": "src/main.py"})
    assert deleted.status_code == 200, deleted.text
    audit = await client.get(f"{base}/audit")
    actions = [e["action"] for e in audit.json()["events"]]
    assert actions[:3] == ["AUDIT_ACTION_DELETE", "AUDIT_ACTION_RENAME", "AUDIT_ACTION_WRITE"]
    workspace_now = await client.get(base)
    assert int(workspace_now.json()["workspace"]["currentVersion"]) == version + 2
