"""Vega-Lite specs for the UI's charts, built from the JSON API's payloads.

Each builder returns a plain dict (or None when there is nothing to draw); the page
embeds it as JSON and ``static/ui.js`` draws it with the vendored vega-embed.

Example:
    >>> sync_history([]) is None
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"  # an identifier, never fetched
_WIDTH = 560


def _spec(title: str, values: list[dict[str, Any]], **body: Any) -> dict[str, Any]:
    return {
        "$schema": _SCHEMA,
        "title": title,
        "description": title,
        "width": _WIDTH,
        "height": 160,
        "data": {"values": values},
        **body,
    }


def sync_history(syncs: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Sync delay and rejected rows per run over time, coloured by outcome.

    Example:
        >>> spec = sync_history([{"started_at": "2026-01-01T00:00:00+00:00", "outcome": "succeeded",
        ...                       "delay_seconds": 3.0, "rows_rejected": 0, "rows_written": 5}])
        >>> spec["vconcat"][0]["mark"]["type"]
        'line'
    """
    if not syncs:
        return None
    values = [
        {
            "started_at": s["started_at"],
            "outcome": s["outcome"],
            "delay_seconds": s["delay_seconds"],
            "rows_rejected": s["rows_rejected"],
            "rows_written": s["rows_written"],
        }
        for s in syncs
    ]
    x = {"field": "started_at", "type": "temporal", "title": "sync started"}
    color = {"field": "outcome", "type": "nominal", "title": "outcome"}
    return {
        "$schema": _SCHEMA,
        "description": "Sync delay and rejected rows per run",
        "data": {"values": values},
        "vconcat": [
            {
                "title": "Sync delay (seconds behind the newest event)",
                "width": _WIDTH,
                "height": 140,
                "mark": {"type": "line", "point": True},
                "encoding": {
                    "x": x,
                    "y": {"field": "delay_seconds", "type": "quantitative", "title": "delay (s)"},
                    "color": color,
                },
            },
            {
                "title": "Rows rejected per run (quarantined)",
                "width": _WIDTH,
                "height": 100,
                "mark": "bar",
                "encoding": {
                    "x": x,
                    "y": {"field": "rows_rejected", "type": "quantitative", "title": "rejected"},
                    "color": color,
                },
            },
        ],
    }


def audit_history(audits: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Mismatch rate of each consistency audit over time, coloured by status.

    Example:
        >>> audit_history([]) is None
        True
    """
    if not audits:
        return None
    values = [
        {"at": a["at"], "mismatch_rate": a["mismatch_rate"], "status": a["status"]} for a in audits
    ]
    return _spec(
        "Consistency audits: share of sampled keys differing online vs offline",
        values,
        mark={"type": "point", "filled": True, "size": 80},
        encoding={
            "x": {"field": "at", "type": "temporal", "title": "audit"},
            "y": {"field": "mismatch_rate", "type": "quantitative", "title": "mismatch rate"},
            "color": {"field": "status", "type": "nominal"},
        },
    )


def distribution(feature: Mapping[str, Any]) -> dict[str, Any] | None:
    """Reference vs current share of rows per bin of one feature.

    Example:
        >>> spec = distribution({"feature": "x", "bins": ["a", "b"], "reference_counts": [1, 3],
        ...                      "current_counts": [2, 2], "psi": 0.1, "status": "warn"})
        >>> [v["share"] for v in spec["data"]["values"]]
        [0.25, 0.75, 0.5, 0.5]
    """
    bins = feature.get("bins") or []
    if not bins:
        return None
    values = []
    for series, key in (("reference", "reference_counts"), ("current", "current_counts")):
        counts = [float(c) for c in feature.get(key) or [0] * len(bins)]
        total = sum(counts) or 1.0
        values += [
            {"bin": str(b), "order": i, "series": series, "share": c / total}
            for i, (b, c) in enumerate(zip(bins, counts, strict=False))
        ]
    psi = feature.get("psi")
    title = (
        f"{feature['feature']}: PSI {psi:.3f} ({feature.get('status')})"
        if psi is not None
        else feature["feature"]
    )
    return {
        **_spec(title, values),
        "width": 260,
        "height": 120,
        "mark": "bar",
        "encoding": {
            "x": {"field": "bin", "type": "ordinal", "sort": {"field": "order"}, "title": None},
            "xOffset": {"field": "series"},
            "y": {"field": "share", "type": "quantitative", "title": "share of rows"},
            "color": {"field": "series", "type": "nominal", "title": None},
        },
    }


def _window_starts(performance: Mapping[str, Any] | None) -> list[str]:
    if not performance:
        return []
    return [w["start"] for w in performance.get("windows", [])]


def psi_by_window(performance: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """PSI of every feature per window (the drift series of the performance report).

    Example:
        >>> psi_by_window(None) is None
        True
    """
    starts = _window_starts(performance)
    series = (performance or {}).get("drift_by_window") or {}
    values = [
        {"start": start, "feature": feature, "psi": psi}
        for feature, psis in series.items()
        for start, psi in zip(starts, psis, strict=False)
        if psi is not None
    ]
    if not values:
        return None
    return _spec(
        "PSI per window against the training reference",
        values,
        mark={"type": "line", "point": True},
        encoding={
            "x": {"field": "start", "type": "temporal", "title": "window"},
            "y": {"field": "psi", "type": "quantitative", "title": "PSI"},
            "color": {"field": "feature", "type": "nominal"},
        },
    )


def metrics_by_window(performance: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Model metrics (precision, recall, F1, AUC) per window.

    Example:
        >>> metrics_by_window({"windows": []}) is None
        True
    """
    values = [
        {"start": w["start"], "metric": name, "value": value}
        for w in (performance or {}).get("windows", [])
        for name, value in w.get("metrics", {}).items()
        if value is not None
    ]
    if not values:
        return None
    return _spec(
        "Model metrics per window (labelled predictions)",
        values,
        mark={"type": "line", "point": True},
        encoding={
            "x": {"field": "start", "type": "temporal", "title": "window"},
            "y": {"field": "value", "type": "quantitative", "title": "value"},
            "color": {"field": "metric", "type": "nominal"},
        },
    )
