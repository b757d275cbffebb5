"""``parity report performance``: a model's metrics per window and its drift-error links.

:func:`performance_overview` gathers the per-window performance of a model's labeled
predictions (precision, recall, F1, AUC, label coverage, drop against the validation
metrics) and, given the training dataset whose reference profile to compare with, the
PSI of every feature in the same windows (served values from the request log) and the
drift-error link of each feature (Spearman between its PSI and the model's error,
``1 - F1`` by default). :func:`render_performance_html` makes one self-contained page of
it (inline SVG, no JavaScript); ``to_dict()`` is the same data as JSON.

Example:
    >>> overview = performance_overview(offline_path, model="fraud_model",
    ...                                 window=timedelta(days=1))  # doctest: +SKIP
    >>> overview.to_dict()["windows"][0]["metrics"]["f1"]  # doctest: +SKIP
    0.74
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any

from parity.monitor.drift import DriftThresholds
from parity.monitor.link import DriftErrorLink, LinkVerdict, drift_by_window, drift_error_link
from parity.monitor.performance import (
    METRICS,
    PerformanceReport,
    error_by_window,
    performance,
    window_starts,
)
from parity.monitor.records import monitoring_root

_SERIES_COLORS = {
    "precision": "#1e88e5",
    "recall": "#43a047",
    "f1": "#e53935",
    "roc_auc": "#8e24aa",
}
_VERDICT_COLORS = {
    LinkVerdict.HARMFUL: "#c62828",
    LinkVerdict.BENIGN: "#2e7d32",
    LinkVerdict.INSUFFICIENT_DATA: "#757575",
}
_STYLE = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; }
.sub { color: #555; margin-bottom: 18px; }
table { border-collapse: collapse; margin-bottom: 24px; font-size: 14px; }
th, td { border-bottom: 1px solid #ddd; padding: 6px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.badge { color: white; border-radius: 4px; padding: 2px 8px; font-size: 12px; font-weight: 600; }
.worse { color: #c62828; font-weight: 600; }
.legend span { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 12px; }
"""


@dataclass(frozen=True)
class PerformanceOverview:
    """Performance per window plus, when a dataset was given, drift per window and links.

    Example:
        >>> from parity.monitor.performance import PerformanceReport, WindowPerformance
        >>> from datetime import datetime, timedelta, timezone
        >>> at = datetime(2026, 1, 1, tzinfo=timezone.utc)
        >>> day = WindowPerformance(at, at + timedelta(days=1), predictions=4, labeled=4,
        ...                         metrics={"f1": 0.75})
        >>> report = PerformanceReport("fraud@3", 0.5, {"f1": 0.81}, (day,))
        >>> PerformanceOverview(report).links
        ()
    """

    report: PerformanceReport
    dataset: str | None = None
    error_metric: str = "f1"
    drift: Mapping[str, Sequence[float | None]] = field(default_factory=dict)
    links: tuple[DriftErrorLink, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: the performance report, the drift series and the links."""
        return {
            **self.report.to_dict(),
            "dataset": self.dataset,
            "error_metric": self.error_metric,
            "drift_by_window": {k: list(v) for k, v in self.drift.items()},
            "links": [link.to_dict() for link in self.links],
        }


def performance_overview(
    offline_path: Path,
    *,
    model: str,
    window: timedelta,
    validation: Mapping[str, float] | None = None,
    threshold: float = 0.5,
    start: datetime | None = None,
    end: datetime | None = None,
    dataset: str | None = None,
    service: str | None = None,
    error_metric: str = "f1",
    thresholds: DriftThresholds | None = None,
    request_log: Path | None = None,
) -> PerformanceOverview:
    """Performance of ``model`` per ``window``; with ``dataset``, the drift-error links.

    ``request_log``: the server's request log folder; its ``/predict`` predictions count
    too, and it is where served values are read from (default: the default folder).

    Example:
        >>> performance_overview(path, model="m", window=timedelta(hours=1),
        ...                      dataset="m_train")  # doctest: +SKIP
    """
    report = performance(
        monitoring_root(offline_path), model=model, window=window, validation=validation,
        threshold=threshold, start=start, end=end, request_log=request_log,
    )  # fmt: skip
    if dataset is None or not report.windows:
        return PerformanceOverview(report, dataset, error_metric)
    from parity.monitor.profile import PROFILE_FILE, load_profile, save_profile
    from parity.monitor.served import served_window
    from parity.offline.saved_dataset import load_saved_dataset

    thresholds = DriftThresholds() if thresholds is None else thresholds
    saved = load_saved_dataset(offline_path, dataset)
    if (saved.path / PROFILE_FILE).is_file():
        profile = load_profile(saved.path)
    else:
        profile = save_profile(saved, sample_rows=thresholds.sample_rows)
    starts = window_starts(report)
    served = served_window(
        offline_path,
        kinds={f.name: f.kind for f in profile.features},
        service=service,
        start=starts[0],
        end=starts[-1] + window,
        log_root=request_log,
    )
    drift = drift_by_window(
        profile, served, time_column="served_at", starts=starts, window=window,
        thresholds=thresholds,
    )  # fmt: skip
    links = drift_error_link(drift, error_by_window(report, metric=error_metric))
    return PerformanceOverview(report, dataset, error_metric, drift, links)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _drop(value: float | None) -> str:
    if value is None:
        return "-"
    css = ' class="worse"' if value > 0 else ""
    return f"<span{css}>{value:+.3f}</span>"


def metrics_svg(report: PerformanceReport, *, width: int = 720, height: int = 260) -> str:
    """One line per metric over the windows (0..1), dashed lines at the validation values.

    Example:
        >>> from parity.monitor.performance import PerformanceReport, WindowPerformance
        >>> from datetime import datetime, timedelta, timezone
        >>> at = datetime(2026, 1, 1, tzinfo=timezone.utc)
        >>> day = WindowPerformance(at, at + timedelta(days=1), predictions=4, labeled=4,
        ...                         metrics={"f1": 0.75})
        >>> report = PerformanceReport("fraud@3", 0.5, {"f1": 0.81}, (day,))
        >>> metrics_svg(report).startswith("<svg")
        True
    """
    left, right, top, bottom = 40, 10, 10, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(report.windows)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h * (1 - v)

    parts = [f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">']
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            f'stroke="#eee"/><text x="4" y="{y(tick) + 4:.1f}" font-size="11">{tick:.2f}</text>'
        )
    for name, color in _SERIES_COLORS.items():
        points = [
            (x(i), y(float(value)))
            for i, w in enumerate(report.windows)
            if (value := w.metrics.get(name)) is not None
        ]
        if points:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" '
                         'stroke-width="2"/>')  # fmt: skip
            parts += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{color}"/>'
                      for px, py in points]  # fmt: skip
        reference = report.validation.get(name)
        if reference is not None:
            parts.append(
                f'<line x1="{left}" x2="{width - right}" y1="{y(reference):.1f}" '
                f'y2="{y(reference):.1f}" stroke="{color}" stroke-dasharray="4 4"/>'
            )
    if n:
        for i in sorted({0, n - 1}):
            label = report.windows[i].start.strftime("%Y-%m-%d %H:%M")
            parts.append(f'<text x="{x(i):.1f}" y="{height - 8}" font-size="11" '
                         f'text-anchor="middle">{label}</text>')  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def _window_rows(report: PerformanceReport) -> str:
    rows = []
    for w in report.windows:
        cells = [
            w.start.strftime("%Y-%m-%d %H:%M"), f"{w.predictions:,}", f"{w.labeled:,}",
            f"{w.label_coverage:.1%}",
            *(_fmt(w.metrics.get(m)) for m in METRICS),
            *(_drop(w.drops.get(m)) for m in METRICS),
        ]  # fmt: skip
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return "".join(rows)


def _link_rows(links: Sequence[DriftErrorLink]) -> str:
    rows = []
    for link in sorted(links, key=lambda k: -(k.correlation or -2.0)):
        badge = (
            f'<span class="badge" style="background:{_VERDICT_COLORS[link.verdict]}">'
            f"{link.verdict.value.replace('_', ' ')}</span>"
        )
        cells = [escape(link.feature), badge, str(link.windows), _fmt(link.correlation),
                 _fmt(link.p_value, 4)]  # fmt: skip
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return "".join(rows)


def render_performance_html(overview: PerformanceOverview) -> str:
    """The whole page: metrics over time, the per-window table, the drift-error links.

    Example:
        >>> Path("performance.html").write_text(render_performance_html(overview))  # doctest: +SKIP
    """
    report = overview.report
    heading = f"Model performance of {report.model}"
    validation = ", ".join(f"{k} {v:.3f}" for k, v in report.validation.items()) or "none given"
    legend = "".join(f'<span style="background:{c}"></span>{n}' for n, c in _SERIES_COLORS.items())
    metric_heads = "".join(f"<th>{m}</th>" for m in METRICS)
    drop_heads = "".join(f"<th>{m} drop</th>" for m in METRICS)
    links = (
        "<p>No dataset given: pass --dataset to link feature drift with the model's error.</p>"
        if overview.dataset is None
        else (
            f"<p>Spearman correlation between each feature's PSI against {escape(overview.dataset)}"
            f" and 1 - {escape(overview.error_metric)}, per window.</p><table><tr><th>feature"
            "</th><th>verdict</th><th>windows</th><th>correlation</th><th>p-value</th></tr>"
            f"{_link_rows(overview.links)}</table>"
        )
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(heading)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{escape(heading)}</h1>"
        f'<div class="sub">{len(report.windows)} windows · decision threshold '
        f"{report.threshold} · validation metrics: {escape(validation)} · a drop is validation "
        "minus window (positive: worse)</div>"
        f'<div class="legend">{legend} (dashed: validation)</div>{metrics_svg(report)}'
        "<h2>Windows</h2><table><tr><th>window start (UTC)</th><th>predictions</th>"
        f"<th>labeled</th><th>label coverage</th>{metric_heads}{drop_heads}</tr>"
        f"{_window_rows(report)}</table><h2>Drift-error links</h2>{links}</body></html>"
    )
