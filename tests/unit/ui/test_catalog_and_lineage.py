"""The UI's pure parts on a real SQLite registry: search, diffs, lineage, charts, OpenAPI."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import parity as p
from parity.definitions import RepoContents
from parity.errors import BadRequest, ObjectNotFound
from parity.registry import Actor, ObjectKind, RegistrySnapshot, open_registry
from parity.registry.config import SqliteRegistryConfig
from parity.serve.catalog_api import ENDPOINTS, openapi_document, parse_window
from parity.serve.config import Scope
from parity.ui import charts
from parity.ui.catalog import (
    catalog_index,
    parse_query,
    resolve_version,
    search_catalog,
    version_diff,
)
from parity.ui.lineage import ModelFacts, build_lineage

USER = p.Entity("user", join_keys=[p.Field("user_id", p.Int64)])


def view(name: str, ttl_days: int, owner: str, **tags: str) -> p.FeatureView:
    return p.FeatureView(
        name,
        entities=[USER],
        schema=[p.Field(f"{name}_spend", p.Float64), p.Field(f"{name}_count", p.Int64)],
        source=p.ParquetSource(f"data/{name}.parquet", timestamp_field="ts"),
        ttl=timedelta(days=ttl_days),
        owner=owner,
        tags=tags,
    )


@pytest.fixture
def snapshot(tmp_path: Path) -> RegistrySnapshot:
    registry = open_registry(SqliteRegistryConfig(), repo_root=tmp_path)
    me = Actor("tester")
    first = [USER, view("stats", 2, "risk@x.org", team="risk"), view("profile", 9, "growth@x.org")]
    service = p.FeatureService("fraud", features=["stats", "profile"])
    registry.apply("t", RepoContents.build([*first, service]), actor=me, message="one")
    second = [USER, view("stats", 3, "fraud@x.org", team="risk"), first[2], service]
    registry.apply("t", RepoContents.build(second), actor=me, message="two")
    snap = registry.snapshot("t")
    registry.close()
    return snap


def names(result: dict[str, Any]) -> list[str]:
    return [row["name"] for row in result["results"]]


def test_a_search_term_may_name_its_field_and_every_term_must_match() -> None:
    assert parse_query("owner:Risk tag:team=risk amount") == [
        ("owner", "risk"),
        ("tag", "team=risk"),
        ("any", "amount"),
    ]
    assert parse_query("unknown:x") == [("any", "unknown:x")]


def test_search_finds_by_name_owner_tag_feature_and_kind(snapshot: RegistrySnapshot) -> None:
    index = catalog_index(snapshot)
    assert names(search_catalog(index, [], query="owner:fraud@")) == ["stats"]
    assert names(search_catalog(index, [], query="tag:team=risk")) == ["stats"]
    assert names(search_catalog(index, [], query="feature:profile_count")) == ["profile", "fraud"]
    assert names(search_catalog(index, ["churn"], query="kind:model")) == ["churn"]
    assert search_catalog(index, [], query="stats owner:growth")["total"] == 0
    everything = search_catalog(index, ["churn"], limit=2)
    assert everything["total"] == 5 and len(everything["results"]) == 2


def test_a_diff_uses_the_plan_change_classes(snapshot: RegistrySnapshot) -> None:
    diff = version_diff(snapshot, ObjectKind.FEATURE_VIEW, "stats", 1, 2)
    classes = {d["path"]: d["class"] for d in diff["differences"]}
    assert diff["change_class"] == "breaking"
    assert classes["ttl_seconds"] == "breaking" and classes["owner"] == "metadata"
    with pytest.raises(ObjectNotFound, match="Known: v1, v2"):
        version_diff(snapshot, ObjectKind.FEATURE_VIEW, "stats", 1, 7)


def test_a_bare_name_resolves_to_the_newest_version_when_none_serves(
    snapshot: RegistrySnapshot,
) -> None:
    assert resolve_version(snapshot, "stats", ObjectKind.FEATURE_VIEW).ref == "stats@v2"
    assert resolve_version(snapshot, "stats@v1", ObjectKind.FEATURE_VIEW).version == 1
    with pytest.raises(ObjectNotFound, match="Did you mean 'stats'"):
        resolve_version(snapshot, "stat", ObjectKind.FEATURE_VIEW)


def test_lineage_walks_from_a_deployment_to_its_sources_and_back(
    snapshot: RegistrySnapshot,
) -> None:
    model = ModelFacts("churn", ((1, "fraud@v1", "churn__r1"),), {"champion": 1})
    graph = build_lineage(snapshot, [model])
    up = graph.focus("deployment:churn:champion")
    assert {"source:data/stats.parquet", "view:stats@v1", "service:fraud@v1"} <= set(up["upstream"])
    assert "view:stats@v2" not in up["upstream"]  # the service pins v1
    down = graph.focus("source:data/stats.parquet")
    assert {"view:stats@v1", "view:stats@v2", "model:churn@v1"} <= set(down["downstream"])
    assert down["layers"]["deployment"] == ["deployment:churn:champion"]


def test_distribution_chart_compares_shares_not_counts() -> None:
    spec = charts.distribution(
        {"feature": "x", "bins": ["a", "b"], "reference_counts": [10, 30],
         "current_counts": [1.0, 1.0], "psi": 0.2, "status": "critical"}
    )  # fmt: skip
    assert spec is not None
    shares = [(v["series"], v["share"]) for v in spec["data"]["values"]]
    assert shares == [("reference", 0.25), ("reference", 0.75), ("current", 0.5), ("current", 0.5)]


def test_openapi_describes_every_route_and_only_actions_need_admin() -> None:
    document = openapi_document()
    for endpoint in ENDPOINTS:
        operation = document["paths"][endpoint.path][endpoint.method.lower()]
        assert operation["x-parity-scope"] == endpoint.scope.value
    admin = [e.path for e in ENDPOINTS if e.scope is Scope.ADMIN]
    assert admin == ["/api/actions"]


def test_window_lengths_are_checked() -> None:
    assert parse_window("30m") == timedelta(minutes=30)
    with pytest.raises(BadRequest, match="30m, 6h or 1d"):
        parse_window("soon")


def test_import_parity_does_not_import_the_ui_or_jinja2() -> None:
    code = (
        "import sys, parity, parity.cli.main; "
        "print(','.join(m for m in ('jinja2', 'parity.serve.ui_pages', 'parity.serve.catalog_api') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
