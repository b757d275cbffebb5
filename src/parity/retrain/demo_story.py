"""The closed loop as a story, for ``parity demo``: degrade, detect, retrain, gate, promote.

Given the example repository applied, materialized and promoted (see ``cli/demo.py``),
:func:`run_retrain_story` writes a label table whose second half follows a new fraud
pattern (a concept shift, plus inflated amounts: drift), trains and registers v1 on the
first half, serves predictions with it, detects the degradation from late labels, and
lets the loop retrain, gate, shadow and promote v2. A simulated clock moves the story
through time; the rate limit and the lock are real.

Example:
    >>> result = run_retrain_story(store.retraining)  # doctest: +SKIP
    >>> result.after[result.metric] > result.before[result.metric]  # doctest: +SKIP
    True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from parity.registry.references import resolve_reference
from parity.retrain.context import arrow_frame, feature_matrix
from parity.retrain.gate import metric_values
from parity.retrain.model import LabelSource, Model, RetrainPolicy
from parity.retrain.registries.base import CHAMPION
from parity.retrain.runner import RunReport, evaluate_triggers, run_retrain
from parity.retrain.scoring import score
from parity.retrain.serving import ModelServer
from parity.retrain.triggers import Decision, PerformanceEvidence
from parity.retrain.wiring import open_loop

if TYPE_CHECKING:
    import pandas as pd

    from parity.retrain.features import FeatureAccess

LABELS_PATH = "data/retrain_labels.parquet"


@dataclass(frozen=True)
class StoryResult:
    """Before/after metrics of the story and what happened on the way.

    ``before``: v1 on the shifted holdout; ``after``: v2 on the same rows.

    Example:
        >>> StoryResult("roc_auc", {"roc_auc": 0.6}, {"roc_auc": 0.8}, "fraud_model@v2").metric
        'roc_auc'
    """

    metric: str
    before: dict[str, float]
    after: dict[str, float]
    champion: str
    decision: Decision | None = None
    runs: tuple[RunReport, ...] = ()
    predictions: list[float] = field(default_factory=list)
    alerts: int = 0


def shift_labels(
    features: pd.DataFrame, amount: np.ndarray[Any, Any], rng: np.random.Generator
) -> np.ndarray[Any, Any]:
    """New fraud labels under a changed pattern (vectorised): a ring targeting everyday shops.

    Risky merchants stop mattering; large tickets at grocery and restaurant merchants on
    accounts from three countries now carry the fraud.

    Example:
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"category": ["grocery", "travel"], "country": ["BR", "DE"],
        ...                       "amount_mean_7d": [20.0, 20.0], "risk_score": [0.0, 0.9]})
        >>> shift_labels(frame, np.array([400.0, 5.0]), np.random.default_rng(0)).tolist()
        [True, False]
    """
    category = features["category"].to_numpy(dtype=object)
    country = features["country"].to_numpy(dtype=object)
    mean = features["amount_mean_7d"].fillna(30.0).to_numpy(dtype=float)
    everyday = np.isin(category, ["grocery", "restaurants", "gas"])
    ring = np.isin(country, ["BR", "IN", "NL"])
    large = np.log(np.maximum(amount, 0.5) / np.maximum(mean, 1.0))
    risk = features["risk_score"].fillna(0.0).to_numpy(dtype=float)
    logit = -5.0 + 2.5 * everyday * (large > 0.2) + 2.0 * ring + 0.8 * large - 3.0 * risk
    labels: np.ndarray[Any, Any] = rng.random(len(amount)) < 1 / (1 + np.exp(-logit))
    return labels


def _write_labels(features: FeatureAccess, service: str, seed: int) -> tuple[datetime, datetime]:
    """Labels = the example transactions, concept-shifted after the midpoint; (mid, end)."""
    import pandas as pd

    txns = pd.read_parquet(features.repo_root / "data" / "transactions.parquet")
    ts = txns["event_timestamp"]
    mid = ts.min() + (ts.max() - ts.min()) / 2
    late = txns[ts >= mid].copy()
    late["amount"] = np.round(late["amount"] * 1.3, 2)  # drift: tickets grow
    feats = features.historical_features(
        arrow_frame(late[["user_id", "merchant_id", "event_timestamp"]]), feature_service=service
    ).to_pandas()
    late["is_fraud"] = shift_labels(feats, late["amount"].to_numpy(), np.random.default_rng(seed))
    labels = pd.concat([txns[ts < mid], late], ignore_index=True)
    labels.to_parquet(features.repo_root / LABELS_PATH, index=False)
    return mid.to_pydatetime(), ts.max().to_pydatetime()


def _holdout_metrics(
    features: FeatureAccess, loop: Any, model: Model, version_ref: str, dataset: str, split_at: str
) -> dict[str, float]:
    import pandas as pd

    version = next(v for v in loop.registry.versions(model.name) if v.ref == version_ref)
    frame = features.offline.get_saved_dataset(dataset).to_pandas()
    rows = frame[frame[model.labels.timestamp_column] >= pd.Timestamp(split_at)]
    lineage = version.lineage
    scores = score(
        loop.registry.load(version),
        feature_matrix(rows, lineage.feature_names, lineage.text_features),
    )
    y = rows[model.labels.label_column].to_numpy().astype(int)
    ones = np.ones((1, len(y)))
    return {
        m: float(metric_values(m, y, scores, ones)[0]) for m in ("roc_auc", "average_precision")
    }


def _live_metrics(
    features: FeatureAccess, loop: Any, model: Model, version_ref: str, *, since: datetime
) -> dict[str, float]:
    """The champion's metrics on the late-labelled traffic since ``since`` (monitor's job)."""
    import pandas as pd

    version = next(v for v in loop.registry.versions(model.name) if v.ref == version_ref)
    labels = pd.read_parquet(features.repo_root / LABELS_PATH)
    labels = labels[labels[model.labels.timestamp_column] >= pd.Timestamp(since)]
    frame = features.historical_features(
        arrow_frame(labels), feature_service=version.lineage.feature_service
    ).to_pandas()
    lineage = version.lineage
    scores = score(
        loop.registry.load(version),
        feature_matrix(frame, lineage.feature_names, lineage.text_features),
    )
    y = frame[model.labels.label_column].to_numpy().astype(int)
    ones = np.ones((1, len(y)))
    return {
        m: float(metric_values(m, y, scores, ones)[0]) for m in ("roc_auc", "average_precision")
    }


def run_retrain_story(
    features: FeatureAccess,
    *,
    seed: int = 0,
    say: Callable[[str], None] | None = None,
) -> StoryResult:
    """Run the closed loop on the example repository; return before/after metrics.

    Example:
        >>> run_retrain_story(store.retraining, say=print).champion  # doctest: +SKIP
        'fraud_model@v2'
    """
    tell = say or (lambda _text: None)
    service = resolve_reference(features.snapshot(), "fraud_detection").ref
    mid, end = _write_labels(features, service, seed)
    tell(f"labels: {LABELS_PATH}, fraud pattern shifts at {mid:%Y-%m-%d %H:%M}")
    model = Model(
        "fraud_model",
        feature_service=service,
        labels=LabelSource(
            LABELS_PATH,
            entity_keys=("user_id", "merchant_id"),
            label_column="is_fraud",
            request_features=("amount",),
        ),
        policy=RetrainPolicy(
            bootstrap_resamples=500, floors={"roc_auc": 0.6}, shadow_min_requests=20
        ),
    )
    now = [mid]
    loop = open_loop(features, clock=lambda: now[0])
    try:
        first = run_retrain(loop, model, trigger="initial")
        v1 = first.outputs["register"]["ref"]
        tell(f"trained and registered {v1} on the first half: {first.state.value}")
        server = ModelServer(features, loop.registry, alerts=loop.alerts, clock=lambda: now[0])
        rows = [
            {"user_id": 1, "merchant_id": 1, "amount": 25.0},
            {"user_id": 2, "merchant_id": 3, "amount": 900.0},
        ]
        served = server.predict(model.name, rows)
        server.close()
        tell(f"served {served.model}@v{served.version}: scores {np.round(served.scores, 4)}")
        now[0] = end + timedelta(days=1)
        # Late labels of the second half arrive: the monitor's performance evidence.
        live = _live_metrics(features, loop, model, v1, since=mid)
        validation = first.outputs["evaluate"]["metrics"]["candidate"][model.metric.value]
        evidence = PerformanceEvidence(model.metric.value, live[model.metric.value], validation)
        decision = evaluate_triggers(loop, model, performance=evidence)
        tell(f"decision: {decision.action.value}: {'; '.join(decision.reasons)}")
        second = run_retrain(loop, model, trigger="performance")
        tell(
            f"retrain run {second.run_id}: {second.state.value}; gate "
            f"{second.outputs.get('gate', {}).get('reasons')}"
        )
        champion = loop.registry.alias(model.name, CHAMPION)
        assert champion is not None
        built = second.outputs["build_training_set"]
        before = _holdout_metrics(features, loop, model, v1, built["dataset"], built["split_at"])
        after = _holdout_metrics(
            features, loop, model, champion.ref, built["dataset"], built["split_at"]
        )
        return StoryResult(
            model.metric.value,
            before,
            after,
            champion.ref,
            decision,
            (first, second),
            served.scores,
            len(loop.ledger.alerts(model.name)),
        )
    finally:
        loop.close()
