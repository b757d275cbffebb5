"""Feature views: typed features keyed on entities, read from one source."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from parity import (
    DeltaSource,
    Entity,
    FeatureSelection,
    FeatureView,
    Field,
    Float64,
    FreshnessPolicy,
    Int64,
    ParquetSource,
    PushSource,
    String,
)
from parity.errors import DefinitionError

USER = Entity("user", join_keys=[Field("user_id", Int64)])
SOURCE = ParquetSource("data/v.parquet", timestamp_field="ts", created_timestamp_field="created")


def _view(**overrides: Any) -> FeatureView:
    kwargs: dict[str, Any] = {
        "entities": [USER],
        "schema": [Field("spend", Float64)],
        "source": SOURCE,
    }
    kwargs.update(overrides)
    return FeatureView(kwargs.pop("name", "v"), **kwargs)


def _message(**overrides: Any) -> str:
    with pytest.raises(DefinitionError) as info:
        _view(**overrides)
    return str(info.value)


def test_view_name_must_be_an_identifier() -> None:
    assert _message(name="user stats").startswith("FeatureView name: invalid name 'user stats'.")


@pytest.mark.parametrize("entities", [[], "user", None])
def test_entities_must_be_a_non_empty_list(entities: object) -> None:
    assert _message(entities=entities) == (
        f"FeatureView 'v'.entities: expected a non-empty list of Entity objects, got {entities!r}."
    )


def test_entities_are_entity_objects_not_names() -> None:
    assert _message(entities=["user"]) == (
        "FeatureView 'v'.entities: 'user' is not an Entity. Pass the Entity object itself, "
        "e.g. entities=[user]."
    )


def test_a_single_entity_is_accepted() -> None:
    assert _view(entities=USER).join_keys == ("user_id",)


def test_join_keys_may_not_repeat_across_entities() -> None:
    other = Entity("account", join_keys=[Field("user_id", Int64)])
    assert _message(entities=[USER, other]) == (
        "FeatureView 'v': join key(s) ['user_id'] appear in more than one entity."
    )


def test_join_keys_of_several_entities_are_in_entity_order() -> None:
    merchant = Entity("merchant", join_keys=[Field("merchant_id", Int64)])
    assert _view(entities=[merchant, USER]).join_keys == ("merchant_id", "user_id")


@pytest.mark.parametrize("schema", [[], "spend", None])
def test_schema_must_be_a_non_empty_list(schema: object) -> None:
    assert _message(schema=schema) == (
        f"FeatureView 'v'.schema: expected a non-empty list of Field, got {schema!r}."
    )


def test_schema_items_must_be_fields() -> None:
    assert _message(schema=["spend"]) == "FeatureView 'v'.schema: 'spend' is not a Field."


def test_feature_names_are_unique_within_a_view() -> None:
    message = _message(schema=[Field("spend", Float64), Field("spend", Int64)])
    assert message.startswith("FeatureView 'v'.schema: feature 'spend' is declared twice.")


def test_a_feature_may_not_be_named_like_a_join_key() -> None:
    message = _message(schema=[Field("user_id", Int64)])
    assert message.startswith(
        "FeatureView 'v'.schema: feature 'user_id' has the name of a join key."
    )


@pytest.mark.parametrize("column", ["ts", "created"])
def test_a_feature_may_not_be_named_like_a_timestamp_column(column: str) -> None:
    message = _message(schema=[Field(column, Float64)])
    assert message.startswith(
        f"FeatureView 'v': feature {column!r} has the name of the source's timestamp column."
    )


@pytest.mark.parametrize("source", ["data/v.parquet", {"type": "parquet"}, None])
def test_source_must_be_a_source_object(source: object) -> None:
    assert _message(source=source) == (
        "FeatureView 'v'.source: expected ParquetSource, DeltaSource, PushSource or a CDC "
        f"source, got {source!r}."
    )


@pytest.mark.parametrize("ttl", [timedelta(0), timedelta(hours=-1)])
def test_ttl_must_be_positive(ttl: timedelta) -> None:
    assert _message(ttl=ttl) == (
        f"FeatureView 'v'.ttl: must be greater than zero, got {ttl!r}. Use None for 'no limit'."
    )


@pytest.mark.parametrize("ttl", [3600, "7d"])
def test_ttl_must_be_a_timedelta(ttl: object) -> None:
    assert _message(ttl=ttl).startswith(
        f"FeatureView 'v'.ttl: expected a datetime.timedelta, got {type(ttl).__name__} {ttl!r}."
    )


def test_ttl_none_means_values_never_expire() -> None:
    assert _view(ttl=None).to_dict()["ttl_seconds"] is None


def test_freshness_must_be_a_policy_or_a_timedelta() -> None:
    assert _message(freshness=60) == (
        "FeatureView 'v'.freshness: expected a FreshnessPolicy or a timedelta, got 60."
    )


def test_freshness_given_as_a_timedelta_must_be_positive() -> None:
    assert _message(freshness=timedelta(0)).startswith(
        "FeatureView 'v'.freshness: must be greater than zero, got datetime.timedelta(0)."
    )


def test_freshness_timedelta_is_a_policy_with_that_max_age() -> None:
    view = _view(freshness=timedelta(hours=1))
    assert view.freshness == FreshnessPolicy(timedelta(hours=1))
    assert view == _view(freshness=FreshnessPolicy(timedelta(hours=1)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_age": timedelta(0)}, "FreshnessPolicy.max_age: must be greater than zero"),
        ({"max_age": 60}, "FreshnessPolicy.max_age: expected a datetime.timedelta, got int 60"),
        (
            {"max_age": timedelta(hours=1), "refresh_every": timedelta(0)},
            "FreshnessPolicy.refresh_every: must be greater than zero",
        ),
    ],
)
def test_freshness_policy_durations_must_be_positive_timedeltas(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(DefinitionError) as info:
        FreshnessPolicy(**kwargs)
    assert str(info.value).startswith(message)


def test_freshness_policy_canonical_form_is_in_seconds() -> None:
    policy = FreshnessPolicy(timedelta(minutes=5), refresh_every=timedelta(seconds=30))
    assert policy.to_dict() == {"max_age_seconds": 300.0, "refresh_every_seconds": 30.0}


def test_online_must_be_a_bool() -> None:
    assert _message(online="yes") == "FeatureView 'v'.online: expected True or False, got 'yes'."


@pytest.mark.parametrize("attribute", ["description", "owner"])
def test_metadata_text_must_be_a_string(attribute: str) -> None:
    assert _message(**{attribute: 1}) == f"FeatureView 'v'.{attribute}: expected a string, got 1."


def test_tags_must_be_strings() -> None:
    assert _message(tags={"tier": 1}) == (
        "FeatureView 'v'.tags: keys and values must be strings, got 'tier': 1."
    )


def test_field_lookup_suggests_close_feature_names() -> None:
    view = _view(schema=[Field("spend_7d", Float64), Field("count_7d", Int64)])
    assert view.field("count_7d").dtype == Int64
    with pytest.raises(DefinitionError) as info:
        view.field("spend_7")
    assert str(info.value) == (
        "FeatureView 'v' has no feature 'spend_7'. Did you mean 'spend_7d'? "
        "Features: spend_7d, count_7d."
    )


def test_select_checks_the_feature_names() -> None:
    view = _view(schema=[Field("spend", Float64), Field("country", String)])
    assert view.select("country", "spend") == FeatureSelection("v", features=("country", "spend"))
    expected = re.escape("no feature 'spent'. Did you mean 'spend'?")
    with pytest.raises(DefinitionError, match=expected):
        view.select("spent")


def test_select_of_nothing_is_refused() -> None:
    with pytest.raises(DefinitionError, match="the feature list is empty"):
        _view().select()


def test_semantic_dict_leaves_out_metadata(stats: FeatureView) -> None:
    semantic = stats.semantic_dict()
    assert not {"description", "owner", "tags"} & set(semantic)
    assert semantic["features"] == stats.to_dict()["features"]


def test_view_to_dict_is_canonical(stats: FeatureView) -> None:
    assert stats.to_dict() == {
        "kind": "feature_view",
        "name": "user_stats",
        "entities": [{"name": "user", "join_keys": [{"name": "user_id", "dtype": "int64"}]}],
        "features": [
            {
                "name": "spend_7d",
                "dtype": "float64",
                "nullable": False,
                "contract": {"min_value": 0},
                "description": "",
                "tags": {},
            },
            {
                "name": "country",
                "dtype": "string",
                "nullable": True,
                "contract": {"allowed_values": ["DE", "FR"]},
                "description": "",
                "tags": {},
            },
        ],
        "source": {
            "type": "parquet",
            "path": "data/user_stats.parquet",
            "timestamp_field": "ts",
            "created_timestamp_field": "created",
            "field_mapping": {},
            "description": "",
        },
        "ttl_seconds": 604800.0,
        "freshness": {"max_age_seconds": 7200.0, "refresh_every_seconds": 3600.0},
        "online": True,
        "description": "Spend of the user.",
        "owner": "fraud@example.com",
        "tags": {"team": "fraud", "tier": "gold"},
    }


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"ttl": timedelta(days=1, seconds=1), "online": False},
        {"freshness": FreshnessPolicy(timedelta(hours=1))},
        {"source": DeltaSource("d", field_mapping={"s": "spend"})},
        {"source": PushSource("push", batch_source=ParquetSource("p", timestamp_field="t"))},
        {"tags": {"b": "1", "a": "2"}, "description": "d", "owner": "o"},
    ],
)
def test_view_round_trips_through_its_canonical_form(overrides: dict[str, Any]) -> None:
    view = _view(**overrides)
    again = FeatureView.from_dict(view.to_dict())
    assert again == view
    assert again.to_dict() == view.to_dict()
    assert again.fingerprint == view.fingerprint


def test_fixture_view_round_trips(stats: FeatureView) -> None:
    assert FeatureView.from_dict(stats.to_dict()) == stats


def test_views_are_equal_when_their_canonical_forms_are() -> None:
    a = _view(schema=[Field("spend", Float64)], tags={"x": "1", "y": "2"})
    b = _view(schema=[Field("spend", "float64")], tags={"y": "2", "x": "1"})
    assert a == b
    assert hash(a) == hash(b)
    assert a != _view(schema=[Field("spend", Int64)])
    assert a != _view(ttl=timedelta(days=1))
    assert a != "v"


def test_feature_order_is_part_of_the_definition() -> None:
    a = _view(schema=[Field("x", Int64), Field("y", Int64)])
    b = _view(schema=[Field("y", Int64), Field("x", Int64)])
    assert a != b
    assert a.fingerprint != b.fingerprint


def test_views_are_frozen() -> None:
    view = _view()
    with pytest.raises(AttributeError):
        view.ttl = timedelta(days=1)  # type: ignore[misc]
