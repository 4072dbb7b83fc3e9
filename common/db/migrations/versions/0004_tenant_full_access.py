"""Which tenants may run agents with full access.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

``tenants.allow_full_access``: only tenants an admin has marked so may ask
for the ``danger_full_access`` sandbox or set Codex configuration keys
beyond the safe ones (``control_plane/runs/permissions.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "tenants",
        sa.Column("allow_full_access", sa.Boolean(), nullable=False, server_default=sa.text("false")),
    )


def downgrade() -> None:
    op.drop_column("tenants", "allow_full_access")
