"""Observability: the span a run's trace continues under, alerts by tenant and acknowledged.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

``agent_runs.trace_span_id``: the span of the CreateRun call, so the work
done later for the run (scheduling, lease, its session) joins one connected
trace. ``reconcile_alerts``: the run's tenant (alert filters, Alertmanager
labels) and who acknowledged the alert, when. ``executors.metrics_address``:
where each executor serves its Prometheus metrics (the manager's service
discovery lists them).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "executors", sa.Column("metrics_address", sa.Text(), nullable=False, server_default=sa.text("''"))
    )
    op.add_column(
        "agent_runs", sa.Column("trace_span_id", sa.Text(), nullable=False, server_default=sa.text("''"))
    )
    op.add_column("reconcile_alerts", sa.Column("tenant_id", sa.Text(), nullable=True))
    op.add_column("reconcile_alerts", sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "reconcile_alerts",
        sa.Column("acknowledged_by", sa.Text(), nullable=False, server_default=sa.text("''")),
    )
    op.create_index("ix_reconcile_alerts_tenant_id", "reconcile_alerts", ["tenant_id"])
    # Alerts already recorded belong to their run's tenant.
    op.execute(
        "UPDATE reconcile_alerts a SET tenant_id = r.tenant_id FROM agent_runs r WHERE r.id = a.run_id"
    )


def downgrade() -> None:
    op.drop_index("ix_reconcile_alerts_tenant_id", table_name="reconcile_alerts")
    op.drop_column("reconcile_alerts", "acknowledged_by")
    op.drop_column("reconcile_alerts", "acknowledged_at")
    op.drop_column("reconcile_alerts", "tenant_id")
    op.drop_column("agent_runs", "trace_span_id")
    op.drop_column("executors", "metrics_address")
