"""The ccplane schema as SQLAlchemy declarative models.

These rows stay inside the data layer: domain code converts them to protos
or dataclasses before handing them on. Relationships are ``lazy="raise"``
because under asyncio an implicit lazy load fails at an arbitrary place;
load related rows explicitly (``selectinload``) or query them.

The migration in ``migrations/versions`` must describe exactly this
metadata; ``tests/integration/db/test_migrations.py`` compares the two.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stored status values. The control plane's RunStatus enum mirrors these
# (a unit test checks that they agree); the executor-manager reads them
# without importing control-plane code.
RUN_STATUSES = (
    "queued",
    "starting",
    "running",
    "waiting_human",
    "succeeded",
    "failed",
    "canceled",
    "lost",
)
HUMAN_LOOP_STATUSES = ("pending", "resolved", "expired", "canceled")
API_KEY_ROLES = ("user", "admin")

# Stable constraint names, so that migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Runs that count against a tenant's limit of unfinished runs.
UNFINISHED_RUN_STATUSES = ("queued", "starting", "running", "waiting_human", "lost")


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


def _created_at() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now())


def _jsonb_object() -> Mapped[dict[str, Any]]:
    return mapped_column(JSONB, server_default=text("'{}'::jsonb"))


def _jsonb_list() -> Mapped[list[Any]]:
    return mapped_column(JSONB, server_default=text("'[]'::jsonb"))


def _counter() -> Mapped[int]:
    return mapped_column(BigInteger, server_default=text("0"))


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        str: Text,
        datetime: DateTime(timezone=True),
        int: BigInteger,
    }


# --- tenants and API keys ---------------------------------------------------


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(unique=True)
    created_at: Mapped[datetime] = _created_at()
    # Overrides of the control plane's default limits (NULL: the default; 0: none).
    max_unfinished_runs: Mapped[int | None]
    requests_per_second: Mapped[float | None]
    # May ask for the danger_full_access sandbox and any Codex configuration key.
    allow_full_access: Mapped[bool] = mapped_column(server_default=text("false"))

    api_keys: Mapped[list[ApiKey]] = relationship(back_populates="tenant", lazy="raise")


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint(_in("role", API_KEY_ROLES), name="role"),)

    id: Mapped[str] = mapped_column(primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str]
    # sha256 hex of the secret; the secret itself is never stored.
    key_hash: Mapped[str] = mapped_column(unique=True)
    # The first characters of the secret, shown to people to tell keys apart.
    prefix: Mapped[str]
    role: Mapped[str] = mapped_column(server_default=text("'user'"))
    created_at: Mapped[datetime] = _created_at()
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    tenant: Mapped[Tenant] = relationship(back_populates="api_keys", lazy="raise")


class BrowserSession(Base):
    """A browser's sign-in: a token (stored as its SHA-256) standing for one API key."""

    __tablename__ = "browser_sessions"

    id: Mapped[str] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(unique=True)
    api_key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str]
    created_at: Mapped[datetime] = _created_at()
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


# --- runs and their logs ----------------------------------------------------


class AgentRun(Base):
    __tablename__ = "agent_runs"
    __table_args__ = (
        CheckConstraint(_in("status", RUN_STATUSES), name="status"),
        Index(
            "ix_agent_runs_tenant_created",
            "tenant_id",
            text("created_at DESC"),
            text("id DESC"),
        ),
        Index("ix_agent_runs_status", "status"),
        Index(
            "ix_agent_runs_tenant_unfinished",
            "tenant_id",
            postgresql_where=text(_in("status", UNFINISHED_RUN_STATUSES)),
        ),
        Index("ix_agent_runs_workspace_id", "workspace_id"),
        Index("ix_agent_runs_thread_id", "thread_id"),
    )

    id: Mapped[str] = mapped_column(primary_key=True)  # run_<ULID>
    tenant_id: Mapped[str]
    workspace_id: Mapped[str | None]
    workspace_version: Mapped[int | None]
    # Written only by control_plane.runs.state_machine.transition.
    status: Mapped[str] = mapped_column(server_default=text("'queued'"))
    provider: Mapped[str]
    model: Mapped[str] = mapped_column(server_default=text("''"))
    prompt: Mapped[str]
    settings: Mapped[dict[str, Any]] = _jsonb_object()
    require_human_loop: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    resume_thread_id: Mapped[str | None]
    thread_id: Mapped[str | None]
    executor_id: Mapped[str | None]
    lease_id: Mapped[str | None]
    # The control-plane instance that drives the live session.
    owner_id: Mapped[str | None]
    # host:port of the executor holding the live session.
    executor_address: Mapped[str | None]
    labels: Mapped[dict[str, Any]] = _jsonb_object()
    trace_id: Mapped[str] = mapped_column(server_default=text("''"))
    # The span of the call that created the run (16 hex digits): later work
    # on the run (scheduling, its session) continues the trace under it.
    trace_span_id: Mapped[str] = mapped_column(server_default=text("''"))
    error: Mapped[str | None]
    error_reason: Mapped[str | None]
    # Highest seq written to run_events; bumped to allocate new seqs.
    last_seq: Mapped[int] = _counter()
    # Highest executor-side seq persisted; where Attach resumes from.
    executor_seq: Mapped[int] = _counter()
    input_tokens: Mapped[int] = _counter()
    cached_input_tokens: Mapped[int] = _counter()
    output_tokens: Mapped[int] = _counter()
    reasoning_output_tokens: Mapped[int] = _counter()
    total_tokens: Mapped[int] = _counter()
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class RunEvent(Base):
    __tablename__ = "run_events"
    __table_args__ = (PrimaryKeyConstraint("run_id", "seq"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("agent_runs.id", ondelete="CASCADE"))
    seq: Mapped[int]
    type: Mapped[str]
    # The event's payload message (the oneof member that is set) as JSON.
    payload: Mapped[dict[str, Any]] = _jsonb_object()
    trace_id: Mapped[str] = mapped_column(server_default=text("''"))
    turn_id: Mapped[str | None]
    created_at: Mapped[datetime] = _created_at()


class HumanLoopRequest(Base):
    __tablename__ = "human_loop_requests"
    __table_args__ = (
        CheckConstraint(_in("status", HUMAN_LOOP_STATUSES), name="status"),
        Index("ix_human_loop_requests_run_status", "run_id", "status"),
        Index("ix_human_loop_requests_status_expires", "status", "expires_at"),
        Index("ix_human_loop_requests_tenant_status_created", "tenant_id", "status", "created_at"),
        Index("ix_human_loop_requests_tenant_feed_seq", "tenant_id", "feed_seq"),
    )

    question_id: Mapped[str] = mapped_column(primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("agent_runs.id", ondelete="CASCADE"))
    tenant_id: Mapped[str]
    workspace_id: Mapped[str | None]
    kind: Mapped[str]
    status: Mapped[str] = mapped_column(server_default=text("'pending'"))
    details: Mapped[dict[str, Any]] = _jsonb_object()
    answer: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    answer_request_id: Mapped[str | None]
    resolved_by: Mapped[str | None]
    turn_id: Mapped[str | None]
    item_id: Mapped[str | None]
    # seq of the human_loop.requested event.
    request_seq: Mapped[int | None]
    created_at: Mapped[datetime] = _created_at()
    resolved_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    # When the answer was handed to the executor.
    delivered_at: Mapped[datetime | None]
    # Position of the latest change in the tenant's human-loop feed; set by a
    # trigger on insert and on every status change (migration 0003).
    feed_seq: Mapped[int | None] = mapped_column(BigInteger)


class HumanLoopFeed(Base):
    """The last position of each tenant's feed of human-loop changes."""

    __tablename__ = "human_loop_feeds"

    tenant_id: Mapped[str] = mapped_column(primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)


class RunTodos(Base):
    """One version of a run's todo list (the agent's plan)."""

    __tablename__ = "run_todos"
    __table_args__ = (PrimaryKeyConstraint("run_id", "version"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("agent_runs.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    items: Mapped[list[Any]] = _jsonb_list()
    explanation: Mapped[str | None]
    turn_id: Mapped[str | None]
    # seq of the todos.updated event that reported this version.
    seq: Mapped[int]
    created_at: Mapped[datetime] = _created_at()


class UsageLog(Base):
    __tablename__ = "usage_logs"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("agent_runs.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str]
    turn_id: Mapped[str | None]
    model: Mapped[str] = mapped_column(server_default=text("''"))
    input_tokens: Mapped[int] = _counter()
    cached_input_tokens: Mapped[int] = _counter()
    output_tokens: Mapped[int] = _counter()
    reasoning_output_tokens: Mapped[int] = _counter()
    total_tokens: Mapped[int] = _counter()
    created_at: Mapped[datetime] = _created_at()


# --- workspaces -------------------------------------------------------------


class Workspace(Base):
    __tablename__ = "workspaces"
    __table_args__ = (
        Index(
            "ix_workspaces_tenant_created",
            "tenant_id",
            text("created_at DESC"),
            text("id DESC"),
        ),
    )

    id: Mapped[str] = mapped_column(primary_key=True)  # ws_<ULID>
    tenant_id: Mapped[str]
    name: Mapped[str]
    current_version: Mapped[int] = _counter()
    locked_by_run_id: Mapped[str | None]
    size_bytes: Mapped[int] = _counter()
    file_count: Mapped[int] = _counter()
    labels: Mapped[dict[str, Any]] = _jsonb_object()
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())

    versions: Mapped[list[WorkspaceVersion]] = relationship(
        back_populates="workspace", lazy="raise", passive_deletes=True
    )


class WorkspaceVersion(Base):
    __tablename__ = "workspace_versions"
    __table_args__ = (PrimaryKeyConstraint("workspace_id", "version"),)

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    version: Mapped[int]
    # Object-store key of this version's manifest.
    manifest_key: Mapped[str]
    parent_version: Mapped[int | None]
    run_id: Mapped[str | None]
    actor_key_id: Mapped[str | None]
    size_bytes: Mapped[int] = _counter()
    file_count: Mapped[int] = _counter()
    created_at: Mapped[datetime] = _created_at()

    workspace: Mapped[Workspace] = relationship(back_populates="versions", lazy="raise")


class FileAuditLog(Base):
    __tablename__ = "file_audit_logs"
    __table_args__ = (
        Index(
            "ix_file_audit_logs_workspace_created",
            "workspace_id",
            text("created_at DESC"),
            text("id DESC"),
        ),
    )

    id: Mapped[str] = mapped_column(primary_key=True)  # aud_<ULID>
    tenant_id: Mapped[str]
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    version: Mapped[int]
    # Null when no API key acted (for example a change synced by a run).
    actor_key_id: Mapped[str | None]
    action: Mapped[str]
    path: Mapped[str]
    new_path: Mapped[str | None]
    old_sha256: Mapped[str | None]
    new_sha256: Mapped[str | None]
    size_bytes: Mapped[int | None]
    request_id: Mapped[str | None]
    run_id: Mapped[str | None]
    created_at: Mapped[datetime] = _created_at()


# --- executors --------------------------------------------------------------


class Executor(Base):
    __tablename__ = "executors"

    id: Mapped[str] = mapped_column(primary_key=True)
    address: Mapped[str]
    backend: Mapped[str]
    state: Mapped[str]
    slots_total: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    slots_used: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    providers: Mapped[list[Any]] = _jsonb_list()
    labels: Mapped[dict[str, Any]] = _jsonb_object()
    version: Mapped[str] = mapped_column(server_default=text("''"))
    # host:port of its Prometheus /metrics endpoint ("" when it serves none).
    metrics_address: Mapped[str] = mapped_column(server_default=text("''"))
    registered_at: Mapped[datetime] = _created_at()
    last_heartbeat_at: Mapped[datetime] = _created_at()

    leases: Mapped[list[ExecutorLease]] = relationship(
        back_populates="executor", lazy="raise", passive_deletes=True
    )


class ExecutorLease(Base):
    __tablename__ = "executor_leases"

    id: Mapped[str] = mapped_column(primary_key=True)
    executor_id: Mapped[str] = mapped_column(ForeignKey("executors.id", ondelete="CASCADE"), index=True)
    run_id: Mapped[str] = mapped_column(index=True)
    tenant_id: Mapped[str]
    acquired_at: Mapped[datetime] = _created_at()
    expires_at: Mapped[datetime]
    released_at: Mapped[datetime | None]

    executor: Mapped[Executor] = relationship(back_populates="leases", lazy="raise")


# --- operations -------------------------------------------------------------


class ReconcileAlert(Base):
    __tablename__ = "reconcile_alerts"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    kind: Mapped[str]
    severity: Mapped[str]
    run_id: Mapped[str | None] = mapped_column(index=True)
    # The tenant of the run the alert is about (None: a platform alert).
    tenant_id: Mapped[str | None] = mapped_column(index=True)
    message: Mapped[str]
    details: Mapped[dict[str, Any]] = _jsonb_object()
    created_at: Mapped[datetime] = _created_at()
    # Set when the condition cleared, or when someone acknowledged the alert.
    resolved_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str] = mapped_column(server_default=text("''"))


RUN_COMMAND_KINDS = ("inject", "interrupt", "stop")


class RunCommand(Base):
    """An action on a live run, stored until the run's owner delivers it.

    Any control-plane process may accept the action; the process that owns
    the run's session delivers it (woken by NOTIFY, the row being the truth)
    and records the executor's answer.
    """

    __tablename__ = "run_commands"
    __table_args__ = (
        CheckConstraint(_in("kind", RUN_COMMAND_KINDS), name="kind"),
        Index("ix_run_commands_run_pending", "run_id", "delivered_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("agent_runs.id", ondelete="CASCADE"))
    kind: Mapped[str]
    # The message of an inject, the reason of an interrupt or stop.
    body: Mapped[str] = mapped_column(server_default=text("''"))
    request_id: Mapped[str] = mapped_column(server_default=text("''"))
    created_at: Mapped[datetime] = _created_at()
    delivered_at: Mapped[datetime | None]
    result_code: Mapped[int | None] = mapped_column(Integer)
    result_message: Mapped[str | None]


class IdempotencyKey(Base):
    """An AIP-155 request id already served, and the resource it created."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "scope", "request_id"),)

    tenant_id: Mapped[str]
    # The operation, for example "CreateRun".
    scope: Mapped[str]
    request_id: Mapped[str]
    # Hash of the request, to refuse the same request id with another body.
    request_hash: Mapped[str]
    resource_id: Mapped[str]
    created_at: Mapped[datetime] = _created_at()
