"""Initial schema: keys, users, groups, memberships, spend, daily spend, revision.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _limits_and_budget() -> list[sa.Column[object]]:
    # Written out here, not imported from tables.py: a migration must keep creating what
    # the schema was at this revision, whatever tables.py says later.
    return [
        sa.Column("allowed_models", sa.JSON(), nullable=True),
        sa.Column("rpm", sa.Integer(), nullable=True),
        sa.Column("tpm", sa.Integer(), nullable=True),
        sa.Column("max_parallel", sa.Integer(), nullable=True),
        sa.Column("max_budget", sa.Float(), nullable=True),
        sa.Column("budget_period", sa.String(16), nullable=True),
        sa.Column("soft_budget", sa.Float(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "pllm_users",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("name", sa.String(256), nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        *_limits_and_budget(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pllm_users")),
    )
    op.create_table(
        "pllm_groups",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("name", sa.String(256), nullable=True),
        *_limits_and_budget(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pllm_groups")),
    )
    op.create_table(
        "pllm_memberships",
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("group_id", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "group_id", name=op.f("pk_pllm_memberships")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["pllm_users.id"],
            name=op.f("fk_pllm_memberships_user_id_pllm_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["pllm_groups.id"],
            name=op.f("fk_pllm_memberships_group_id_pllm_groups"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(op.f("ix_pllm_memberships_group_id"), "pllm_memberships", ["group_id"])
    op.create_table(
        "pllm_keys",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("key_prefix", sa.String(16), nullable=False),
        sa.Column("key_suffix", sa.String(8), nullable=False),
        sa.Column("alias", sa.String(256), nullable=True),
        sa.Column("user_id", sa.String(128), nullable=True),
        sa.Column("group_id", sa.String(128), nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=True),
        sa.Column("revoked_at", sa.Float(), nullable=True),
        *_limits_and_budget(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pllm_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_pllm_keys_key_hash")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["pllm_users.id"],
            name=op.f("fk_pllm_keys_user_id_pllm_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["pllm_groups.id"],
            name=op.f("fk_pllm_keys_group_id_pllm_groups"),
            ondelete="SET NULL",
        ),
    )
    op.create_index(op.f("ix_pllm_keys_user_id"), "pllm_keys", ["user_id"])
    op.create_index(op.f("ix_pllm_keys_group_id"), "pllm_keys", ["group_id"])
    op.create_table(
        "pllm_spend",
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=True),
        sa.Column("user_id", sa.String(128), nullable=True),
        sa.Column("group_ids", sa.JSON(), nullable=False),
        sa.Column("model", sa.String(256), nullable=True),
        sa.Column("deployment", sa.String(256), nullable=True),
        sa.Column("endpoint", sa.String(64), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("cached_tokens", sa.Integer(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("ttft_ms", sa.Float(), nullable=True),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("streamed", sa.Boolean(), nullable=False),
        sa.Column("cache_hit", sa.Boolean(), nullable=False),
        sa.Column("error", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_pllm_spend")),
    )
    op.create_index(op.f("ix_pllm_spend_ts"), "pllm_spend", ["ts"])
    op.create_index(op.f("ix_pllm_spend_key_id_ts"), "pllm_spend", ["key_id", "ts"])
    op.create_index(op.f("ix_pllm_spend_user_id_ts"), "pllm_spend", ["user_id", "ts"])
    op.create_table(
        "pllm_spend_daily",
        sa.Column("entity", sa.String(300), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("entity", "day", name=op.f("pk_pllm_spend_daily")),
    )
    revision_table = op.create_table(
        "pllm_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pllm_revision")),
    )
    op.bulk_insert(revision_table, [{"id": 1, "value": 0}])


def downgrade() -> None:
    for table in (
        "pllm_revision",
        "pllm_spend_daily",
        "pllm_spend",
        "pllm_keys",
        "pllm_memberships",
        "pllm_groups",
        "pllm_users",
    ):
        op.drop_table(table)
