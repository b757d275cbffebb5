"""Small definitions shared by the definition tests."""

from __future__ import annotations

from datetime import timedelta

import pytest

from parity import (
    Entity,
    FeatureView,
    Field,
    Float64,
    FreshnessPolicy,
    Int64,
    ParquetSource,
    String,
)


@pytest.fixture
def user() -> Entity:
    return Entity("user", join_keys=[Field("user_id", Int64)])


@pytest.fixture
def stats(user: Entity) -> FeatureView:
    return FeatureView(
        "user_stats",
        entities=[user],
        schema=[
            Field("spend_7d", Float64, nullable=False, min_value=0),
            Field("country", String, allowed_values=["FR", "DE"]),
        ],
        source=ParquetSource(
            "data/user_stats.parquet",
            timestamp_field="ts",
            created_timestamp_field="created",
        ),
        ttl=timedelta(days=7),
        freshness=FreshnessPolicy(timedelta(hours=2), refresh_every=timedelta(hours=1)),
        description="Spend of the user.",
        owner="fraud@example.com",
        tags={"team": "fraud", "tier": "gold"},
    )
