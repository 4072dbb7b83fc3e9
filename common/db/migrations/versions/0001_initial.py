"""Initial schema.

Revision ID: 0001
Revises:
Create Date: 2026-11-24

Written out by hand (started from an autogenerate draft): a migration is a
frozen record of the schema at one point and must not follow later changes
to ``common.db.models``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(name: str, *, nullable: bool = False, default: str | None = None) -> sa.Column[str]:
    server_default = None if default is None else sa.text(f"'{default}'")
    return sa.Column(name, sa.Text(), server_default=server_default, nullable=nullable)


def _bigint(name: str, *, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def _counter(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), server_default=sa.text("0"), nullable=False)


def _int_counter(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), server_default=sa.text("0"), nullable=False)


def _timestamp(name: str, *, nullable: bool = True) -> sa.Column[sa.DateTime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _now(name: str) -> sa.Column[sa.DateTime]:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False)


def _jsonb(name: str, default: str | None) -> sa.Column[dict[str, object]]:
    server_default = None if default is None else sa.text(f"'{default}'::jsonb")
    return sa.Column(
        name,
        postgresql.JSONB(astext_type=sa.Text()),
        server_default=server_default,
        nullable=default is None,
    )


def _fk(column: str, table: str, referred: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{referred}.id"],
        name=op.f(f"fk_{table}_{column}_{referred}"),
        ondelete="CASCADE",
    )


def _newest_first(*columns: str) -> list[sa.ColumnElement[object] | str]:
    first, *rest = columns
    return [first, *(sa.literal_column(f"{c} DESC") for c in rest)]


def upgrade() -> None:
    # --- tenants and API keys ----------------------------------------------
    op.create_table(
        "tenants",
        _text("id"),
        _text("name"),
        _now("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("name", name=op.f("uq_tenants_name")),
    )
    op.create_table(
        "api_keys",
        _text("id"),
        _text("tenant_id"),
        _text("name"),
        _text("key_hash"),
        _text("prefix"),
        _text("role", default="user"),
        _now("created_at"),
        _timestamp("last_used_at"),
        _timestamp("revoked_at"),
        sa.CheckConstraint("role IN ('user', 'admin')", name=op.f("ck_api_keys_role")),
        _fk("tenant_id", "api_keys", "tenants"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_index(op.f("ix_api_keys_tenant_id"), "api_keys", ["tenant_id"])

    # --- runs and their logs -----------------------------------------------
    op.create_table(
        "agent_runs",
        _text("id"),
        _text("tenant_id"),
        _text("workspace_id", nullable=True),
        _bigint("workspace_version", nullable=True),
        _text("status", default="queued"),
        _text("provider"),
        _text("model", default=""),
        _text("prompt"),
        _jsonb("settings", "{}"),
        sa.Column("require_human_loop", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        _text("resume_thread_id", nullable=True),
        _text("thread_id", nullable=True),
        _text("executor_id", nullable=True),
        _text("lease_id", nullable=True),
        _text("owner_id", nullable=True),
        _text("executor_address", nullable=True),
        _jsonb("labels", "{}"),
        _text("trace_id", default=""),
        _text("error", nullable=True),
        _text("error_reason", nullable=True),
        _counter("last_seq"),
        _counter("executor_seq"),
        _counter("input_tokens"),
        _counter("cached_input_tokens"),
        _counter("output_tokens"),
        _counter("reasoning_output_tokens"),
        _counter("total_tokens"),
        _now("created_at"),
        _now("updated_at"),
        _timestamp("started_at"),
        _timestamp("finished_at"),
        sa.CheckConstraint(
            "status IN ('queued', 'starting', 'running', 'waiting_human', "
            "'succeeded', 'failed', 'canceled', 'lost')",
            name=op.f("ck_agent_runs_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_runs")),
    )
    op.create_index(
        "ix_agent_runs_tenant_created",
        "agent_runs",
        _newest_first("tenant_id", "created_at", "id"),
    )
    op.create_index("ix_agent_runs_status", "agent_runs", ["status"])
    op.create_index("ix_agent_runs_workspace_id", "agent_runs", ["workspace_id"])
    op.create_index("ix_agent_runs_thread_id", "agent_runs", ["thread_id"])

    op.create_table(
        "run_events",
        _text("run_id"),
        _bigint("seq"),
        _text("type"),
        _jsonb("payload", "{}"),
        _text("trace_id", default=""),
        _text("turn_id", nullable=True),
        _now("created_at"),
        _fk("run_id", "run_events", "agent_runs"),
        sa.PrimaryKeyConstraint("run_id", "seq", name=op.f("pk_run_events")),
    )

    op.create_table(
        "human_loop_requests",
        _text("question_id"),
        _text("run_id"),
        _text("tenant_id"),
        _text("workspace_id", nullable=True),
        _text("kind"),
        _text("status", default="pending"),
        _jsonb("details", "{}"),
        _jsonb("answer", None),
        _text("answer_request_id", nullable=True),
        _text("resolved_by", nullable=True),
        _text("turn_id", nullable=True),
        _text("item_id", nullable=True),
        _bigint("request_seq", nullable=True),
        _now("created_at"),
        _timestamp("resolved_at"),
        _timestamp("expires_at"),
        _timestamp("delivered_at"),
        sa.CheckConstraint(
            "status IN ('pending', 'resolved', 'expired', 'canceled')",
            name=op.f("ck_human_loop_requests_status"),
        ),
        _fk("run_id", "human_loop_requests", "agent_runs"),
        sa.PrimaryKeyConstraint("question_id", name=op.f("pk_human_loop_requests")),
    )
    op.create_index("ix_human_loop_requests_run_status", "human_loop_requests", ["run_id", "status"])
    op.create_index("ix_human_loop_requests_status_expires", "human_loop_requests", ["status", "expires_at"])
    op.create_index(
        "ix_human_loop_requests_tenant_status_created",
        "human_loop_requests",
        ["tenant_id", "status", "created_at"],
    )

    op.create_table(
        "run_todos",
        _text("run_id"),
        sa.Column("version", sa.Integer(), nullable=False),
        _jsonb("items", "[]"),
        _text("explanation", nullable=True),
        _text("turn_id", nullable=True),
        _bigint("seq"),
        _now("created_at"),
        _fk("run_id", "run_todos", "agent_runs"),
        sa.PrimaryKeyConstraint("run_id", "version", name=op.f("pk_run_todos")),
    )

    op.create_table(
        "usage_logs",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        _text("run_id"),
        _text("tenant_id"),
        _text("turn_id", nullable=True),
        _text("model", default=""),
        _counter("input_tokens"),
        _counter("cached_input_tokens"),
        _counter("output_tokens"),
        _counter("reasoning_output_tokens"),
        _counter("total_tokens"),
        _now("created_at"),
        _fk("run_id", "usage_logs", "agent_runs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_logs")),
    )
    op.create_index(op.f("ix_usage_logs_run_id"), "usage_logs", ["run_id"])

    # --- workspaces ----------------------------------------------------------
    op.create_table(
        "workspaces",
        _text("id"),
        _text("tenant_id"),
        _text("name"),
        _counter("current_version"),
        _text("locked_by_run_id", nullable=True),
        _counter("size_bytes"),
        _counter("file_count"),
        _jsonb("labels", "{}"),
        _now("created_at"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspaces")),
    )
    op.create_index(
        "ix_workspaces_tenant_created",
        "workspaces",
        _newest_first("tenant_id", "created_at", "id"),
    )

    op.create_table(
        "workspace_versions",
        _text("workspace_id"),
        _bigint("version"),
        _text("manifest_key"),
        _bigint("parent_version", nullable=True),
        _text("run_id", nullable=True),
        _text("actor_key_id", nullable=True),
        _counter("size_bytes"),
        _counter("file_count"),
        _now("created_at"),
        _fk("workspace_id", "workspace_versions", "workspaces"),
        sa.PrimaryKeyConstraint("workspace_id", "version", name=op.f("pk_workspace_versions")),
    )

    op.create_table(
        "file_audit_logs",
        _text("id"),
        _text("tenant_id"),
        _text("workspace_id"),
        _bigint("version"),
        _text("actor_key_id", nullable=True),
        _text("action"),
        _text("path"),
        _text("new_path", nullable=True),
        _text("old_sha256", nullable=True),
        _text("new_sha256", nullable=True),
        _bigint("size_bytes", nullable=True),
        _text("request_id", nullable=True),
        _text("run_id", nullable=True),
        _now("created_at"),
        _fk("workspace_id", "file_audit_logs", "workspaces"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_audit_logs")),
    )
    op.create_index(
        "ix_file_audit_logs_workspace_created",
        "file_audit_logs",
        ["workspace_id", sa.literal_column("created_at DESC"), sa.literal_column("id DESC")],
    )

    # --- executors -----------------------------------------------------------
    op.create_table(
        "executors",
        _text("id"),
        _text("address"),
        _text("backend"),
        _text("state"),
        _int_counter("slots_total"),
        _int_counter("slots_used"),
        _jsonb("providers", "[]"),
        _jsonb("labels", "{}"),
        _text("version", default=""),
        _now("registered_at"),
        _now("last_heartbeat_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_executors")),
    )

    op.create_table(
        "executor_leases",
        _text("id"),
        _text("executor_id"),
        _text("run_id"),
        _text("tenant_id"),
        _now("acquired_at"),
        _timestamp("expires_at", nullable=False),
        _timestamp("released_at"),
        _fk("executor_id", "executor_leases", "executors"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_executor_leases")),
    )
    op.create_index(op.f("ix_executor_leases_executor_id"), "executor_leases", ["executor_id"])
    op.create_index(op.f("ix_executor_leases_run_id"), "executor_leases", ["run_id"])

    # --- operations ----------------------------------------------------------
    op.create_table(
        "reconcile_alerts",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        _text("kind"),
        _text("severity"),
        _text("run_id", nullable=True),
        _text("message"),
        _jsonb("details", "{}"),
        _now("created_at"),
        _timestamp("resolved_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconcile_alerts")),
    )
    op.create_index(op.f("ix_reconcile_alerts_run_id"), "reconcile_alerts", ["run_id"])

    op.create_table(
        "run_commands",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        _text("run_id"),
        _text("kind"),
        _text("body", default=""),
        _text("request_id", default=""),
        _now("created_at"),
        _timestamp("delivered_at"),
        sa.Column("result_code", sa.Integer(), nullable=True),
        _text("result_message", nullable=True),
        sa.CheckConstraint("kind IN ('inject', 'interrupt', 'stop')", name=op.f("ck_run_commands_kind")),
        sa.ForeignKeyConstraint(
            ["run_id"], ["agent_runs.id"], name=op.f("fk_run_commands_run_id_agent_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_commands")),
    )
    op.create_index("ix_run_commands_run_pending", "run_commands", ["run_id", "delivered_at"])

    op.create_table(
        "idempotency_keys",
        _text("tenant_id"),
        _text("scope"),
        _text("request_id"),
        _text("request_hash"),
        _text("resource_id"),
        _now("created_at"),
        sa.PrimaryKeyConstraint("tenant_id", "scope", "request_id", name=op.f("pk_idempotency_keys")),
    )


def downgrade() -> None:
    # Dropping a table drops its indexes and constraints; children first.
    for table in (
        "idempotency_keys",
        "run_commands",
        "reconcile_alerts",
        "executor_leases",
        "executors",
        "file_audit_logs",
        "workspace_versions",
        "workspaces",
        "usage_logs",
        "run_todos",
        "human_loop_requests",
        "run_events",
        "agent_runs",
        "api_keys",
        "tenants",
    ):
        op.drop_table(table)
