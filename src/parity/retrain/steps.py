"""The retraining pipeline, one plain function per step, in order: :data:`RETRAIN_STEPS`.

Each step takes the run's :class:`RunContext` (with the outputs of the steps before it)
and returns its own output as a JSON-able dict, which the runner records. A step whose
output is recorded for a run id is not run again, so a run resumes where it stopped.

Example:
    >>> [step.__name__ for step in RETRAIN_STEPS]
    ['build_training_set', 'train', 'evaluate', 'gate', 'register', 'shadow', 'promote']
"""

from __future__ import annotations

import pickle
import re
from typing import TYPE_CHECKING, Any

import numpy as np

import parity.retrain.gate as gate_stats
from parity.registry.references import resolve_reference, service_pins
from parity.retrain.context import RunContext, arrow_frame, feature_matrix, read_labels
from parity.retrain.errors import ModelLoadError
from parity.retrain.model import Metric
from parity.retrain.registries.base import CHALLENGER, CHAMPION, ModelLineage
from parity.retrain.scoring import score
from parity.retrain.serving import ModelServer

if TYPE_CHECKING:
    import pandas as pd

STOP = "stop"
"""Key a step sets in its output to end the run early (the gate said no)."""


def _dataset_name(ctx: RunContext) -> str:
    # Orchestrator run ids carry ':', '+', '-'; dataset names are identifiers.
    return re.sub(r"\W", "_", f"{ctx.model.name}__{ctx.run_id}")


def _split(ctx: RunContext) -> tuple[pd.DataFrame, pd.DataFrame, tuple[str, ...]]:
    """(train rows, holdout rows, feature names) of the run's saved training set."""
    import pandas as pd

    out = ctx.outputs["build_training_set"]
    frame = ctx.features.offline.get_saved_dataset(out["dataset"]).to_pandas()
    at = pd.Timestamp(out["split_at"])
    ts = frame[ctx.model.labels.timestamp_column]
    return frame[ts < at], frame[ts >= at], tuple(out["feature_names"])


def _text(ctx: RunContext) -> tuple[str, ...]:
    return tuple(ctx.outputs["build_training_set"]["text_features"])


def build_training_set(ctx: RunContext) -> dict[str, Any]:
    """Point-in-time join of the labels with the model's pinned service; saved with lineage."""
    import pandas as pd

    from parity.errors import ObjectNotFound

    model, features = ctx.model, ctx.features
    name = _dataset_name(ctx)
    labels = read_labels(features, model, until=ctx.clock())
    try:
        saved = features.offline.get_saved_dataset(name)  # a resumed run reuses its dataset
    except ObjectNotFound:
        job = features.historical_features(
            arrow_frame(labels),
            feature_service=model.feature_service,
            timestamp_column=model.labels.timestamp_column,
        )
        saved = job.save(name)
    plan = features.serving_plan(feature_service=model.feature_service)
    served = list(plan.output_names)
    text = [
        n for n, t in zip(plan.output_names, plan.output_dtypes, strict=True) if t.name == "string"
    ]
    text += [c for c in model.labels.request_features if labels[c].dtype.kind not in "biuf"]
    cut = labels[model.labels.timestamp_column].quantile(1 - model.split.holdout_fraction)
    snapshot = features.snapshot()
    pins = service_pins(snapshot, model.feature_service)
    return {
        "dataset": name,
        "rows": int(saved.lineage.row_count),
        "split_at": pd.Timestamp(cut).isoformat(),  # type: ignore[arg-type]
        "feature_names": [*served, *model.labels.request_features],
        "text_features": text,
        "feature_service": resolve_reference(snapshot, model.feature_service).ref,
        "service_pins": [
            {
                "view": p.view,
                "version": p.view_version,
                "feature": p.feature,
                "output_name": p.output_name,
            }
            for p in pins
        ],
    }


def train(ctx: RunContext) -> dict[str, Any]:
    """Fit the model's trainer on the rows before the split instant; keep the candidate."""
    path = ctx.run_dir / "candidate.pkl"
    train_rows, _, names = _split(ctx)
    if not path.is_file():
        label = ctx.model.labels.label_column
        estimator = ctx.model.trainer(
            feature_matrix(train_rows, names, _text(ctx)), train_rows[label].to_numpy().astype(int)
        )
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(pickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL))
        temporary.replace(path)
    return {"artifact": str(path), "train_rows": len(train_rows)}


def evaluate(ctx: RunContext) -> dict[str, Any]:
    """Score candidate and champion on the same time-split holdout rows."""
    _, holdout, names = _split(ctx)
    features = feature_matrix(holdout, names, _text(ctx))
    y = holdout[ctx.model.labels.label_column].to_numpy().astype(int)
    candidate = pickle.loads((ctx.run_dir / "candidate.pkl").read_bytes())
    scores = {"y": y, "candidate": score(candidate, features)}
    champion = ctx.registry.alias(ctx.model.name, CHAMPION)
    if champion is not None:
        estimator = ctx.registry.load(champion)  # ModelLoadError fails the run, alerted
        if tuple(champion.lineage.feature_names) != names:
            raise ModelLoadError(
                f"Champion {champion.ref} reads {champion.lineage.feature_names}, the candidate "
                f"{names}: they cannot be compared on one holdout. Retrain on the same service."
            )
        scores["champion"] = score(estimator, features)
    np.savez(ctx.run_dir / "holdout_scores.npz", **scores)  # type: ignore[arg-type]
    ones = np.ones((1, len(y)))
    metrics = {
        who: {m: float(gate_stats.metric_values(m, y, s, ones)[0]) for m in Metric}
        for who, s in scores.items()
        if who != "y"
    }
    return {
        "holdout_rows": len(y),
        "metrics": metrics,
        "champion": None if champion is None else champion.version,
    }


def gate(ctx: RunContext) -> dict[str, Any]:
    """Paired bootstrap of candidate vs champion plus hard floors; stops the run on a loss."""
    policy = ctx.model.policy
    data = np.load(ctx.run_dir / "holdout_scores.npz")
    result = gate_stats.gate(
        ctx.model.metric,
        data["y"],
        data["candidate"],
        data["champion"] if "champion" in data.files else None,
        min_delta=policy.min_delta,
        floors=policy.floors,
        n_resamples=policy.bootstrap_resamples,
        confidence=policy.confidence,
    )
    out = result.to_dict()
    if not result.passed:
        out[STOP] = "rejected by the gate: " + "; ".join(result.reasons)
    return out


def register(ctx: RunContext) -> dict[str, Any]:
    """Register the candidate with its lineage; it becomes the challenger."""
    built = ctx.outputs["build_training_set"]
    metrics = ctx.outputs["evaluate"]["metrics"]["candidate"]
    lineage = ModelLineage(
        feature_service=built["feature_service"],
        service_pins=tuple(built["service_pins"]),
        training_dataset=built["dataset"],
        metrics=metrics,
        code_fingerprint=ctx.model.code_fingerprint(),
        run_id=ctx.run_id,
        feature_names=tuple(built["feature_names"]),
        text_features=_text(ctx),
    )
    estimator = pickle.loads((ctx.run_dir / "candidate.pkl").read_bytes())
    version = ctx.registry.register(ctx.model.name, estimator, lineage=lineage)
    ctx.registry.set_alias(ctx.model.name, CHALLENGER, version.version)
    return {"version": version.version, "ref": version.ref}


def shadow(ctx: RunContext) -> dict[str, Any]:
    """Run the challenger beside the champion on the serving path for recent entities."""
    _, holdout, _ = _split(ctx)
    policy = ctx.model.policy
    keys = [*ctx.model.labels.entity_keys, *ctx.model.labels.request_features]
    recent = holdout[keys].tail(max(policy.shadow_min_requests, 50))
    rows = [{str(k): v for k, v in row.items()} for row in recent.to_dict("records")]
    server = ModelServer(ctx.features, ctx.registry, clock=ctx.clock)
    try:
        report = server.shadow_check(ctx.model.name, rows)
    finally:
        server.close()
    out: dict[str, Any] = dict(report)
    if report["errors"] or report["requests"] < policy.shadow_min_requests:
        out[STOP] = (
            f"shadow: {report['errors']} errors in {report['requests']} requests "
            f"(need {policy.shadow_min_requests} without error)"
        )
        ctx.registry.set_alias(ctx.model.name, CHALLENGER, None)
    return out


def promote(ctx: RunContext) -> dict[str, Any]:
    """Make the challenger the champion (atomic alias move; the old one becomes previous)."""
    version = ctx.outputs["register"]["version"]
    promoted = ctx.registry.promote(ctx.model.name, version)
    return {"champion": promoted.ref}


RETRAIN_STEPS = (build_training_set, train, evaluate, gate, register, shadow, promote)
"""The pipeline, in order."""
