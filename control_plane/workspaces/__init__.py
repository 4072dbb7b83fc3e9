"""Workspaces: versioned file trees kept in the object store.

A workspace is a sequence of immutable versions. A version is a manifest
(path → sha256, size, mode) over content-addressed blobs; a
``workspace_versions`` row points at it, and every change is one new
version plus ``file_audit_logs`` rows, written in one transaction.
"""
