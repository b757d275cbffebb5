"""A service's references resolve to exact view versions (registry/pins.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from parity.errors import DefinitionError, FeatureViewNotFound
from parity.registry import VersionState
from parity.registry.pins import ViewCatalog, pick_version, resolve_pins

SERVING, PENDING = VersionState.SERVING, VersionState.PENDING
DEPRECATED, RETIRED = VersionState.DEPRECATED, VersionState.RETIRED


def spec(*features: str) -> Mapping[str, Any]:
    return {"features": [{"name": f} for f in features]}


def select(view: str, version: int | None = None, features: Sequence[str] | None = None) -> Any:
    return {"view": view, "version": version, "features": features}


def catalog(*versions: tuple[int, VersionState]) -> ViewCatalog:
    return {"stats": [(n, state, spec("a", "b")) for n, state in versions]}


def test_a_bare_reference_pins_the_newest_serving_version_over_a_newer_pending_one() -> None:
    assert pick_version("stats", catalog((1, SERVING), (2, PENDING)), service="s")[0] == 1
    assert pick_version("stats", catalog((1, SERVING), (2, SERVING)), service="s")[0] == 2


def test_with_nothing_serving_a_bare_reference_pins_the_newest_pending_version() -> None:
    assert pick_version("stats", catalog((1, DEPRECATED), (2, PENDING)), service="s")[0] == 2


def test_a_view_with_only_deprecated_or_retired_versions_cannot_be_pinned() -> None:
    with pytest.raises(FeatureViewNotFound, match=r"deprecated or retired.*'stats@vN'"):
        pick_version("stats", catalog((1, DEPRECATED), (2, RETIRED)), service="s")


def test_an_unknown_view_says_did_you_mean() -> None:
    with pytest.raises(FeatureViewNotFound, match=r"unknown feature view 'stat'\. Did you mean"):
        pick_version("stat", catalog((1, SERVING)), service="s")


def test_an_exact_reference_pins_that_version_even_when_another_serves() -> None:
    pins = resolve_pins(
        "s", [select("stats", 1)], catalog((1, DEPRECATED), (2, SERVING)), full_feature_names=False
    )
    assert {p.view_version for p in pins} == {1}


def test_exact_references_to_retired_or_missing_versions_are_refused() -> None:
    with pytest.raises(DefinitionError, match=r"stats@v1, which is retired"):
        resolve_pins("s", [select("stats", 1)], catalog((1, RETIRED)), full_feature_names=False)
    with pytest.raises(FeatureViewNotFound, match=r"stats@v3, which does not exist.*stats@v1"):
        resolve_pins("s", [select("stats", 3)], catalog((1, SERVING)), full_feature_names=False)


def test_pins_follow_the_selection_order_and_name_outputs() -> None:
    pins = resolve_pins(
        "s", [select("stats", None, ["b", "a"])], catalog((1, SERVING)), full_feature_names=True
    )
    assert [(p.position, p.feature, p.output_name) for p in pins] == [
        (0, "b", "stats__b"),
        (1, "a", "stats__a"),
    ]


def test_an_unknown_feature_or_a_colliding_output_is_refused() -> None:
    cat = {**catalog((1, SERVING)), "other": [(1, SERVING, spec("a"))]}
    with pytest.raises(DefinitionError, match="has no feature 'c'"):
        resolve_pins("s", [select("stats", None, ["c"])], cat, full_feature_names=False)
    with pytest.raises(DefinitionError, match="output column 'a' comes from both"):
        resolve_pins("s", [select("stats"), select("other")], cat, full_feature_names=False)
    assert (
        len(resolve_pins("s", [select("stats"), select("other")], cat, full_feature_names=True))
        == 3
    )
