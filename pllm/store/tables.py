"""The database schema (SQLAlchemy Core). Alembic migrations in ``pllm/store/migrations``
create exactly this; a change here needs a new migration.

Times are UNIX seconds (float) so that SQLite and PostgreSQL compare and index them the same
way. Budgets live on the entity they limit (key, user, group): ``max_budget`` in USD over
``budget_period`` (daily, weekly, monthly, total), calendar periods in UTC.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)
from sqlalchemy.types import TypeEngine

from pllm.principal import LIMIT_FIELDS, LimitKind

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


# The column type of each kind of limit; NULL in any of them is "no limit".
_COLUMN_TYPES: dict[LimitKind, TypeEngine[Any]] = {
    "models": JSON(),  # a list of model names
    "count": Integer(),
    "money": Float(),  # USD
    "period": String(16),  # daily|weekly|monthly|total
}


def _limits_and_budget() -> list[Column[Any]]:
    """Columns every principal (key, user, group) has: one per limit field
    (``pllm.principal.LIMIT_FIELDS``), then metadata and times."""
    return [
        *(Column(f.name, _COLUMN_TYPES[f.kind], nullable=True) for f in LIMIT_FIELDS),
        Column("metadata", JSON, nullable=False, default=dict),
        Column("created_at", Float, nullable=False),
        Column("updated_at", Float, nullable=False),
    ]


users = Table(
    "pllm_users",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("email", String(320), nullable=True),
    Column("name", String(256), nullable=True),
    Column("role", String(16), nullable=False, default="member"),  # admin|member|viewer
    *_limits_and_budget(),
)

groups = Table(
    "pllm_groups",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("name", String(256), nullable=True),
    *_limits_and_budget(),
)

memberships = Table(
    "pllm_memberships",
    metadata,
    Column(
        "user_id", String(128), ForeignKey("pllm_users.id", ondelete="CASCADE"), primary_key=True
    ),
    Column(
        "group_id",
        String(128),
        ForeignKey("pllm_groups.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("role", String(16), nullable=False, default="member"),
    Index(None, "group_id"),
)

keys = Table(
    "pllm_keys",
    metadata,
    Column("id", String(64), primary_key=True),
    # SHA-256 of the whole key, hex. Keys are 256-bit random, so a fast hash is not a risk.
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("key_prefix", String(16), nullable=False),  # "sk-" + 4 chars, shown in listings
    Column("key_suffix", String(8), nullable=False),  # last 4 chars
    Column("alias", String(256), nullable=True),
    Column("user_id", String(128), ForeignKey("pllm_users.id", ondelete="SET NULL")),
    Column("group_id", String(128), ForeignKey("pllm_groups.id", ondelete="SET NULL")),
    Column("role", String(16), nullable=False, default="member"),  # admin|member|viewer
    Column("expires_at", Float, nullable=True),
    Column("revoked_at", Float, nullable=True),
    *_limits_and_budget(),
    Index(None, "user_id"),
    Index(None, "group_id"),
)

spend = Table(
    "pllm_spend",
    metadata,
    Column("request_id", String(128), primary_key=True),
    Column("ts", Float, nullable=False),
    Column("key_id", String(64), nullable=True),
    Column("user_id", String(128), nullable=True),
    Column("group_ids", JSON, nullable=False, default=list),
    Column("model", String(256), nullable=True),
    Column("deployment", String(256), nullable=True),
    Column("endpoint", String(64), nullable=False),
    Column("prompt_tokens", Integer, nullable=False, default=0),
    Column("completion_tokens", Integer, nullable=False, default=0),
    Column("cached_tokens", Integer, nullable=False, default=0),
    Column("cost", Float, nullable=False, default=0.0),
    Column("latency_ms", Float, nullable=False),
    Column("ttft_ms", Float, nullable=True),
    Column("status", Integer, nullable=False),
    Column("attempts", Integer, nullable=False, default=1),
    Column("streamed", Boolean, nullable=False, default=False),
    Column("cache_hit", Boolean, nullable=False, default=False),
    Column("error", String(128), nullable=True),
    Index(None, "ts"),
    Index(None, "key_id", "ts"),
    Index(None, "user_id", "ts"),
    # No (model, ts) index: per-model questions go to pllm_spend_daily, and every index is
    # paid on each of thousands of inserts a second.
)

# Daily totals per entity ("key:<id>", "user:<id>", "group:<id>", "model:<name>", "all"),
# maintained in the same transaction as the spend rows they count. Budgets and usage
# queries read these instead of scanning pllm_spend.
spend_daily = Table(
    "pllm_spend_daily",
    metadata,
    Column("entity", String(300), primary_key=True),
    Column("day", String(10), primary_key=True),  # YYYY-MM-DD, UTC
    # BigInteger: the "all" row of a busy gateway passes 2**31 tokens in a day.
    Column("requests", BigInteger, nullable=False, default=0),
    Column("prompt_tokens", BigInteger, nullable=False, default=0),
    Column("completion_tokens", BigInteger, nullable=False, default=0),
    Column("cost", Float, nullable=False, default=0.0),
)

# One row (id 1) whose value every admin write bumps; gateways poll it to refresh auth.
revision = Table(
    "pllm_revision",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("value", Integer, nullable=False),
)
