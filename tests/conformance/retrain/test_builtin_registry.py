"""The built-in model registry on SQLite and PostgreSQL: versions with lineage, idempotent
registration by run id, aliases, one-transaction promote and rollback, checked artifacts."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from parity.retrain.errors import ModelLoadError, ModelNotFound
from parity.retrain.registries.base import CHALLENGER, CHAMPION, PREVIOUS, ModelLineage
from parity.retrain.registries.builtin import BuiltinModelRegistry


def _lineage(run_id: str) -> ModelLineage:
    return ModelLineage(
        feature_service="fraud_detection@v1",
        service_pins=({"view": "merchant_risk", "version": 1, "feature": "risk_score"},),
        training_dataset=f"fraud_model__{run_id}",
        metrics={"roc_auc": 0.8},
        code_fingerprint="abc123",
        run_id=run_id,
        feature_names=("risk_score", "country"),
        text_features=("country",),
    )


@pytest.fixture
def registry(engine: Engine, tmp_path: Path) -> BuiltinModelRegistry:
    return BuiltinModelRegistry(engine, project="p", root=tmp_path / "models")


def _aliases(registry: BuiltinModelRegistry) -> dict[str, int | None]:
    found = {a: registry.alias("m", a) for a in (CHAMPION, PREVIOUS, CHALLENGER)}
    return {a: None if v is None else v.version for a, v in found.items()}


def test_registration_is_idempotent_by_run_id_and_keeps_lineage(
    registry: BuiltinModelRegistry,
) -> None:
    v1 = registry.register("m", {"w": 1}, lineage=_lineage("r1"))
    assert registry.register("m", {"w": 999}, lineage=_lineage("r1")).version == v1.version == 1
    v2 = registry.register("m", {"w": 2}, lineage=_lineage("r2"))
    assert [v.version for v in registry.versions("m")] == [1, 2]
    assert v2.lineage == _lineage("r2")
    assert registry.load(v1) == {"w": 1} and registry.load(v2) == {"w": 2}
    assert v2.created_at is not None and v2.created_at.utcoffset() is not None


def test_promote_and_rollback_move_every_alias_together(registry: BuiltinModelRegistry) -> None:
    for run in ("r1", "r2"):
        registry.register("m", run, lineage=_lineage(run))
    registry.promote("m", 1)
    registry.set_alias("m", CHALLENGER, 2)
    assert _aliases(registry) == {CHAMPION: 1, PREVIOUS: None, CHALLENGER: 2}
    registry.promote("m", 2)
    assert _aliases(registry) == {CHAMPION: 2, PREVIOUS: 1, CHALLENGER: None}
    registry.promote("m", 2)  # re-running a promotion changes nothing
    assert _aliases(registry) == {CHAMPION: 2, PREVIOUS: 1, CHALLENGER: None}
    assert registry.rollback("m").version == 1
    assert _aliases(registry) == {CHAMPION: 1, PREVIOUS: 2, CHALLENGER: None}


def test_a_failed_promotion_leaves_the_aliases_untouched(registry: BuiltinModelRegistry) -> None:
    registry.register("m", "one", lineage=_lineage("r1"))
    registry.promote("m", 1)
    with pytest.raises(ModelNotFound, match="Known versions: v1"):
        registry.promote("m", 5)  # fails after 'previous' was written: rolled back with it
    assert _aliases(registry) == {CHAMPION: 1, PREVIOUS: None, CHALLENGER: None}
    with pytest.raises(ModelNotFound, match="no previous champion"):
        registry.rollback("m")


def test_a_changed_artifact_fails_to_load(registry: BuiltinModelRegistry) -> None:
    version = registry.register("m", "one", lineage=_lineage("r1"))
    Path(version.artifact_uri.removeprefix("file://")).write_bytes(b"garbage")
    with pytest.raises(ModelLoadError, match="SHA-256"):
        registry.load(version)


def test_concurrent_promotions_end_as_one_serial_order(
    registry: BuiltinModelRegistry, engine: Engine, tmp_path: Path
) -> None:
    import threading

    for run in ("r1", "r2", "r3"):
        registry.register("m", run, lineage=_lineage(run))
    registry.promote("m", 1)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def promote(version: int) -> None:
        # Each thread its own registry (as each process would), on the same database.
        own = BuiltinModelRegistry(engine, project="p", root=tmp_path / "models")
        barrier.wait()
        try:
            own.promote("m", version)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=promote, args=(v,)) for v in (2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # 1 -> 2 -> 3 or 1 -> 3 -> 2: 'previous' is the other new version, never 1 again.
    assert _aliases(registry) in (
        {CHAMPION: 3, PREVIOUS: 2, CHALLENGER: None},
        {CHAMPION: 2, PREVIOUS: 3, CHALLENGER: None},
    )


def test_concurrent_registrations_get_distinct_versions_and_intact_artifacts(
    registry: BuiltinModelRegistry, engine: Engine, tmp_path: Path
) -> None:
    import threading

    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def register(run: str) -> None:
        own = BuiltinModelRegistry(engine, project="p", root=tmp_path / "models")
        barrier.wait()
        try:
            own.register("m", {"run": run}, lineage=_lineage(run))
        except BaseException as exc:
            errors.append(exc)

    # Two runs race for the first version number; a third repeats one of them.
    threads = [threading.Thread(target=register, args=(r,)) for r in ("a", "b", "a")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    versions = registry.versions("m")
    assert sorted(v.lineage.run_id for v in versions) == ["a", "b"]
    assert [v.version for v in versions] == [1, 2]
    for v in versions:
        assert registry.load(v) == {"run": v.lineage.run_id}  # SHA-256 checked


def test_names_lists_each_model_of_the_project_once_in_order(
    registry: BuiltinModelRegistry, engine: Engine, tmp_path: Path
) -> None:
    assert registry.names() == []
    registry.register("zeta", {"w": 1}, lineage=_lineage("r1"))
    registry.register("alpha", {"w": 1}, lineage=_lineage("r2"))
    registry.register("alpha", {"w": 2}, lineage=_lineage("r3"))
    other = BuiltinModelRegistry(engine, project="other", root=tmp_path / "other")
    other.register("beta", {"w": 1}, lineage=_lineage("r4"))
    assert registry.names() == ["alpha", "zeta"]
    assert other.names() == ["beta"]


def test_all_versions_and_all_aliases_match_the_per_model_reads(
    registry: BuiltinModelRegistry,
) -> None:
    registry.register("m", {"w": 1}, lineage=_lineage("r1"))
    registry.register("m", {"w": 2}, lineage=_lineage("r2"))
    registry.register("n", {"w": 1}, lineage=_lineage("r3"))
    registry.promote("m", 1)
    registry.promote("m", 2)
    assert registry.all_versions() == {n: list(registry.versions(n)) for n in ("m", "n")}
    assert registry.all_aliases() == {"m": {CHAMPION: 2, PREVIOUS: 1}}
