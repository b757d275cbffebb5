"""Property tests: canonical forms round-trip and fingerprints ignore meaningless order."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parity import (
    Array,
    Bool,
    DeltaSource,
    Entity,
    FeatureSelection,
    FeatureService,
    FeatureView,
    Field,
    Float32,
    Float64,
    FreshnessPolicy,
    Int32,
    Int64,
    ParquetSource,
    PushSource,
    String,
    Timestamp,
    Vector,
)
from parity.definitions import parse_feature_ref
from parity.definitions.canonical import canonical_json
from parity.types import DType

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True)
text = st.text(max_size=20)
tags = st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=5)
# Views are large examples: fewer of them, and no per-example deadline on slow machines.
VIEW_SETTINGS = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
durations = st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=20_000))


@st.composite
def fields(draw: st.DrawFn, name: str | None = None) -> Field:
    kind = draw(st.sampled_from(["int", "float", "string", "bool", "other"]))
    kwargs: dict[str, Any] = {
        "nullable": draw(st.booleans()),
        "description": draw(text),
        "tags": draw(tags),
    }
    dtype: DType
    if kind == "int":
        dtype = draw(st.sampled_from([Int32, Int64]))
        bounds = sorted(draw(st.lists(st.integers(-(2**31), 2**31 - 1), min_size=2, max_size=2)))
        kwargs["min_value"], kwargs["max_value"] = draw(
            st.sampled_from([(None, None), (bounds[0], None), (None, bounds[1]), tuple(bounds)])
        )
        if draw(st.booleans()):
            kwargs["allowed_values"] = draw(st.lists(st.integers(-1000, 1000), min_size=1))
    elif kind == "float":
        dtype = draw(st.sampled_from([Float32, Float64]))
        finite = st.floats(allow_nan=False, allow_infinity=False)
        bounds = sorted(draw(st.lists(finite, min_size=2, max_size=2)))
        kwargs["min_value"], kwargs["max_value"] = bounds
    elif kind == "string":
        dtype = String
        if draw(st.booleans()):
            kwargs["allowed_values"] = draw(st.lists(text, min_size=1, max_size=6))
        if draw(st.booleans()):
            kwargs["regex"] = draw(st.sampled_from([r"^\w+$", "[A-Z]{2}", ".*"]))
    elif kind == "bool":
        dtype = Bool
        if draw(st.booleans()):
            kwargs["allowed_values"] = draw(st.lists(st.booleans(), min_size=1))
    else:
        dtype = draw(st.sampled_from([Timestamp, Array(String), Vector(16), Vector(3, Float64)]))
    return Field(name or draw(names), dtype, **kwargs)


@st.composite
def sources(draw: st.DrawFn) -> ParquetSource | DeltaSource | PushSource:
    cls = draw(st.sampled_from([ParquetSource, DeltaSource]))
    timestamp, created = draw(st.lists(names, min_size=2, max_size=2, unique=True))
    batch = cls(
        draw(st.text(min_size=1, max_size=30).filter(str.strip)),
        timestamp_field=f"ts_{timestamp}",
        created_timestamp_field=draw(st.sampled_from([None, f"ts_{created}"])),
        field_mapping={
            f"src_{k}": f"dst_{k}" for k in draw(st.lists(names, max_size=3, unique=True))
        },
        description=draw(text),
    )
    if draw(st.booleans()):
        return PushSource(draw(names), batch_source=batch, description=draw(text))
    return batch


@st.composite
def views(draw: st.DrawFn) -> FeatureView:
    key_names = draw(st.lists(names, min_size=1, max_size=2, unique=True))
    entities = [
        Entity(f"e_{key}", join_keys=[Field(f"k_{key}", draw(st.sampled_from([Int64, String])))])
        for key in key_names
    ]
    feature_names = draw(st.lists(names, min_size=1, max_size=5, unique=True))
    freshness = draw(
        st.one_of(
            st.none(),
            durations,
            st.builds(FreshnessPolicy, durations, refresh_every=st.one_of(st.none(), durations)),
        )
    )
    return FeatureView(
        draw(names),
        entities=entities,
        schema=[draw(fields(f"f_{n}")) for n in feature_names],
        source=draw(sources()),
        ttl=draw(st.one_of(st.none(), durations)),
        freshness=freshness,
        online=draw(st.booleans()),
        description=draw(text),
        owner=draw(text),
        tags=draw(tags),
    )


selections = st.builds(
    FeatureSelection,
    names,
    features=st.one_of(st.none(), st.lists(names, min_size=1, max_size=4, unique=True).map(tuple)),
    version=st.one_of(st.none(), st.integers(1, 10_000)),
)


def _json_round_trip(data: dict[str, Any]) -> dict[str, Any]:
    return json.loads(canonical_json(data))  # type: ignore[no-any-return]


@given(fields())
def test_field_canonical_json_round_trips(field: Field) -> None:
    again = Field.from_dict(_json_round_trip(field.to_dict()))
    assert again == field
    assert canonical_json(again.to_dict()) == canonical_json(field.to_dict())


@VIEW_SETTINGS
@given(views())
def test_view_canonical_json_round_trips_with_the_same_fingerprint(view: FeatureView) -> None:
    again = FeatureView.from_dict(_json_round_trip(view.to_dict()))
    assert again == view
    assert again.fingerprint == view.fingerprint
    assert again.ttl == view.ttl
    assert again.freshness == view.freshness


@given(st.lists(selections, min_size=1, max_size=5, unique_by=lambda s: s.view_name), st.booleans())
def test_service_canonical_json_round_trips(
    refs: list[FeatureSelection], full_feature_names: bool
) -> None:
    service = FeatureService("svc", features=refs, full_feature_names=full_feature_names)
    again = FeatureService.from_dict(_json_round_trip(service.to_dict()))
    assert again == service
    assert again.fingerprint == service.fingerprint


@given(selections)
def test_a_selection_ref_parses_back_to_the_selection(selection: FeatureSelection) -> None:
    assert parse_feature_ref(selection.ref) == selection


@VIEW_SETTINGS
@given(views(), st.randoms(use_true_random=False))
def test_view_fingerprint_ignores_tag_order(view: FeatureView, random: Any) -> None:
    items = list(view.tags.items())
    random.shuffle(items)
    reordered = FeatureView.from_dict({**view.to_dict(), "tags": dict(items)})
    assert reordered.fingerprint == view.fingerprint
    assert reordered == view


@given(tags, st.randoms(use_true_random=False))
def test_entity_fingerprint_ignores_tag_order(entity_tags: dict[str, str], random: Any) -> None:
    items = list(entity_tags.items())
    random.shuffle(items)
    key = [Field("id", Int64)]
    assert (
        Entity("e", join_keys=key, tags=entity_tags).fingerprint
        == Entity("e", join_keys=key, tags=dict(items)).fingerprint
    )


@given(st.lists(text, min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_allowed_values_order_and_repeats_do_not_change_a_field(
    values: list[str], random: Any
) -> None:
    shuffled = values + values[:1]
    random.shuffle(shuffled)
    assert Field("c", String, allowed_values=values) == Field("c", String, allowed_values=shuffled)


@VIEW_SETTINGS
@given(views(), text)
def test_metadata_changes_the_fingerprint_but_not_the_semantic_form(
    view: FeatureView, description: str
) -> None:
    changed = FeatureView.from_dict({**view.to_dict(), "description": description})
    assert changed.semantic_dict() == view.semantic_dict()
    assert (changed == view) == (description == view.description)
    assert (changed.fingerprint == view.fingerprint) == (description == view.description)
