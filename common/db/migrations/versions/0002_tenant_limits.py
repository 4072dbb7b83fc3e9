"""Per-tenant limits, and an index to count a tenant's unfinished runs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

``tenants.max_unfinished_runs`` and ``tenants.requests_per_second`` override
the control plane's defaults for one tenant (NULL: the default; 0: no limit).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNFINISHED = "status IN ('queued', 'starting', 'running', 'waiting_human', 'lost')"


def upgrade() -> None:
    op.add_column("tenants", sa.Column("max_unfinished_runs", sa.BigInteger(), nullable=True))
    op.add_column("tenants", sa.Column("requests_per_second", sa.Float(), nullable=True))
    op.create_index(
        "ix_agent_runs_tenant_unfinished",
        "agent_runs",
        ["tenant_id"],
        postgresql_where=sa.text(_UNFINISHED),
    )


def downgrade() -> None:
    op.drop_index("ix_agent_runs_tenant_unfinished", table_name="agent_runs")
    op.drop_column("tenants", "requests_per_second")
    op.drop_column("tenants", "max_unfinished_runs")
