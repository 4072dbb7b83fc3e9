"""Where workspace snapshots and thread state live in the object store.

- ``blobs/<sha256>``: file contents, content-addressed, shared by every
  version (and tenant) that has the same bytes. Never overwritten with other
  content; an unreferenced blob is harmless garbage.
- ``manifests/<workspace>/<version>.json``: the manifest of a recorded
  version. Written only by the control plane, while it holds the
  workspace's row lock, just before it commits the ``workspace_versions``
  row that points at it — so a recorded manifest is never overwritten.
- ``staged/<workspace>/<run>/<version>.json``: a manifest an executor
  produced by syncing a run's changes. The control plane validates it and
  copies it to ``manifests/`` when it records the version; a stray executor
  (a run thought lost) can therefore never overwrite a recorded version.
- ``uploads/<id>``: an upload in flight, moved to ``blobs/`` once its hash
  is known; removed when the upload fails.
- ``threads/<thread id>/<path under the thread-state dir>``: Codex thread
  state (the rollout file), so another executor can resume the thread.
"""

from __future__ import annotations

import re

_SHA256 = re.compile(r"[0-9a-f]{64}")
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,127}")


def _safe(kind: str, value: str) -> str:
    if not _SAFE_ID.fullmatch(value):
        raise ValueError(f"invalid {kind} {value!r}")
    return value


def is_sha256(value: str) -> bool:
    return _SHA256.fullmatch(value) is not None


def blob_key(sha256: str) -> str:
    if not is_sha256(sha256):
        raise ValueError(f"invalid sha256 {sha256!r}")
    return f"blobs/{sha256}"


def manifest_key(workspace_id: str, version: int) -> str:
    if version < 1:
        raise ValueError("version 0 has no manifest")
    return f"manifests/{_safe('workspace id', workspace_id)}/{version}.json"


def staged_manifest_key(workspace_id: str, run_id: str, version: int) -> str:
    if version < 1:
        raise ValueError("a staged version is at least 1")
    return f"staged/{_safe('workspace id', workspace_id)}/{_safe('run id', run_id)}/{version}.json"


def upload_key(upload_id: str) -> str:
    return f"uploads/{_safe('upload id', upload_id)}"


def thread_prefix(thread_id: str) -> str:
    return f"threads/{_safe('thread id', thread_id)}/"


def is_thread_id(value: str) -> bool:
    return _SAFE_ID.fullmatch(value) is not None
