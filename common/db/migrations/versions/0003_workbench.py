"""Browser sessions, and a per-tenant feed of human-loop changes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

``browser_sessions`` holds the sessions the gateway's ``POST /api/session``
starts: only the token's SHA-256 is stored; a session stands for one API key
and ends with it.

Every insert of a human-loop request, and every change of its status, takes
the next position of its tenant's feed (``human_loop_feeds``) into
``human_loop_requests.feed_seq``, in a trigger so that no code path can
forget it. The trigger is deferred to commit: the feed row is the last lock
a transaction takes and is held only while it commits, so positions become
visible in order (a reader that resumes after a position misses nothing)
and no transaction waits for a run's lock while holding it (no deadlock
with the run-row locks every human-loop change takes first). It also
NOTIFYs ``ccplane_run_events`` with ``human_loop:<tenant>``, which wakes the
tenant's readers at commit.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FEED_FUNCTION = """
CREATE FUNCTION ccplane_human_loop_feed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  next_seq bigint;
BEGIN
  INSERT INTO human_loop_feeds AS f (tenant_id, last_seq) VALUES (NEW.tenant_id, 1)
  ON CONFLICT (tenant_id) DO UPDATE SET last_seq = f.last_seq + 1
  RETURNING f.last_seq INTO next_seq;
  UPDATE human_loop_requests SET feed_seq = next_seq WHERE question_id = NEW.question_id;
  PERFORM pg_notify('ccplane_run_events', 'human_loop:' || NEW.tenant_id);
  RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "browser_sessions",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("token_hash", sa.Text(), nullable=False, unique=True),
        sa.Column("api_key_id", sa.Text(), sa.ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_browser_sessions_api_key_id", "browser_sessions", ["api_key_id"])
    op.create_table(
        "human_loop_feeds",
        sa.Column("tenant_id", sa.Text(), primary_key=True),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
    )
    op.add_column("human_loop_requests", sa.Column("feed_seq", sa.BigInteger(), nullable=True))
    op.create_index(
        "ix_human_loop_requests_tenant_feed_seq", "human_loop_requests", ["tenant_id", "feed_seq"]
    )
    op.execute(_FEED_FUNCTION)
    op.execute(
        "CREATE CONSTRAINT TRIGGER human_loop_feed_insert AFTER INSERT ON human_loop_requests "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ccplane_human_loop_feed()"
    )
    op.execute(
        "CREATE CONSTRAINT TRIGGER human_loop_feed_status AFTER UPDATE OF status ON human_loop_requests "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) "
        "EXECUTE FUNCTION ccplane_human_loop_feed()"
    )
    # Requests recorded before the feed existed: positions in creation order.
    op.execute(
        """
        WITH numbered AS (
          SELECT question_id, tenant_id,
                 row_number() OVER (PARTITION BY tenant_id ORDER BY created_at, question_id) AS n
          FROM human_loop_requests
        )
        UPDATE human_loop_requests r SET feed_seq = numbered.n
        FROM numbered WHERE numbered.question_id = r.question_id
        """
    )
    op.execute(
        "INSERT INTO human_loop_feeds (tenant_id, last_seq) "
        "SELECT tenant_id, max(feed_seq) FROM human_loop_requests GROUP BY tenant_id"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER human_loop_feed_status ON human_loop_requests")
    op.execute("DROP TRIGGER human_loop_feed_insert ON human_loop_requests")
    op.execute("DROP FUNCTION ccplane_human_loop_feed()")
    op.drop_index("ix_human_loop_requests_tenant_feed_seq", table_name="human_loop_requests")
    op.drop_column("human_loop_requests", "feed_seq")
    op.drop_table("human_loop_feeds")
    op.drop_index("ix_browser_sessions_api_key_id", table_name="browser_sessions")
    op.drop_table("browser_sessions")
