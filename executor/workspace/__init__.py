"""The executor's side of workspaces: restore a version into a directory,
sync changes back, keep Codex thread state in the object store.

Blobs are fetched through a local content-addressed cache, so a restore
downloads only what this executor has not seen; a sync uploads only
changed content and stages the next manifest for the control plane to
record.
"""

from executor.workspace.restore import RestoreResult, load_manifest, restore
from executor.workspace.session import WorkspaceSession, prepare_resume
from executor.workspace.sync import SyncResult, sync
from executor.workspace.threads import restore_thread_state, save_thread_state

__all__ = [
    "RestoreResult",
    "SyncResult",
    "WorkspaceSession",
    "load_manifest",
    "prepare_resume",
    "restore",
    "restore_thread_state",
    "save_thread_state",
    "sync",
]
