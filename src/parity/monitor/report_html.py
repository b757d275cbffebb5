"""A drift report as one self-contained HTML page: a summary table, then per feature the
reference and current histograms (inline SVG, no JavaScript, no external files).

Example:
    >>> import pyarrow as pa
    >>> from parity.monitor.drift import compare_to_reference
    >>> from parity.monitor.profile import profile_table
    >>> window = pa.table({"plan": ["a", "b"] * 500})
    >>> html = render_drift_html(compare_to_reference(profile_table(window), window))
    >>> html.startswith("<!doctype html>")
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from parity.monitor.drift import DriftReport, DriftStatus, FeatureDrift

_COLORS = {
    DriftStatus.OK: "#2e7d32",
    DriftStatus.WARN: "#e0a800",
    DriftStatus.CRITICAL: "#c62828",
    DriftStatus.INSUFFICIENT_DATA: "#757575",
}
_REFERENCE = "#90a4ae"
_CURRENT = "#1e88e5"

_STYLE = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 22px; margin-bottom: 4px; } .sub { color: #555; margin-bottom: 18px; }
table { border-collapse: collapse; margin-bottom: 24px; font-size: 14px; }
th, td { border-bottom: 1px solid #ddd; padding: 6px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.badge { color: white; border-radius: 4px; padding: 2px 8px; font-size: 12px; font-weight: 600; }
.cards { display: flex; flex-wrap: wrap; gap: 16px; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 12px; width: 560px; }
.card h2 { font-size: 16px; margin: 0 0 6px 0; } .stats { font-size: 13px; color: #444; }
.legend span { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 12px; }
"""


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.2e}"
    return f"{value:.{digits}f}"


def _badge(status: DriftStatus) -> str:
    label = status.value.replace("_", " ")
    return f'<span class="badge" style="background:{_COLORS[status]}">{label}</span>'


def _shares(counts: Sequence[float]) -> list[float]:
    total = float(sum(counts))
    return [float(c) / total if total else 0.0 for c in counts]


def histogram_svg(feature: FeatureDrift, *, width: int = 540, height: int = 240) -> str:
    """Grouped bars: the reference share and the current share of each bin."""
    reference = _shares(feature.reference_counts)
    current = _shares(feature.current_counts)
    top = max([*reference, *current, 1e-9])
    left, bottom, right, head = 44, 64, 8, 10
    plot_w, plot_h = width - left - right, height - bottom - head
    slot = plot_w / max(len(feature.bins), 1)
    bar = max(slot * 0.38, 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="histogram of {escape(feature.feature)}">'
    ]
    for tick in (0.0, 0.5, 1.0):
        y = head + plot_h * (1 - tick)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">'
            f"{tick * top:.0%}</text>"
        )
    for i, label in enumerate(feature.bins):
        x = left + i * slot + slot * 0.1
        for offset, share, color in ((0, reference[i], _REFERENCE), (bar, current[i], _CURRENT)):
            h = plot_h * share / top
            parts.append(
                f'<rect x="{x + offset:.1f}" y="{head + plot_h - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{color}">'
                f"<title>{escape(label)}: {share:.2%}</title></rect>"
            )
        cx = left + i * slot + slot / 2
        text = escape(label if len(label) <= 18 else label[:17] + "…")
        parts.append(
            f'<text x="{cx:.1f}" y="{head + plot_h + 10}" font-size="10" text-anchor="end" '
            f'transform="rotate(-40 {cx:.1f} {head + plot_h + 10})">{text}</text>'
        )
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{head + plot_h}" y2="{head + plot_h}" '
        'stroke="#999"/></svg>'
    )
    return "".join(parts)


def _row(f: FeatureDrift) -> str:
    cells = [
        escape(f.feature), _badge(f.status), _fmt(f.psi), _fmt(f.js_distance),
        f.test, _fmt(f.p_value), _fmt(f.p_adjusted),
        f"{f.reference_null_rate:.1%}", f"{f.current_null_rate:.1%}",
    ]  # fmt: skip
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _card(f: FeatureDrift) -> str:
    return (
        f'<div class="card"><h2>{escape(f.feature)} {_badge(f.status)}</h2>'
        f'<div class="stats">{f.kind} · PSI {_fmt(f.psi)} · JS {_fmt(f.js_distance)} · '
        f"{f.test} p {_fmt(f.p_value)} (BH {_fmt(f.p_adjusted)}) · "
        f"rows {f.reference_rows:,} reference, {f.current_rows:,} current</div>"
        f'<div class="legend"><span style="background:{_REFERENCE}"></span>reference'
        f'<span style="background:{_CURRENT}"></span>current</div>'
        f"{histogram_svg(f)}</div>"
    )


def render_drift_html(report: DriftReport, *, title: str | None = None) -> str:
    """The whole page."""
    heading = title or f"Feature drift against {report.dataset}"
    t = report.thresholds
    header = (
        "<tr><th>feature</th><th>status</th><th>PSI</th><th>JS distance</th><th>test</th>"
        "<th>p-value</th><th>p (BH)</th><th>null ref</th><th>null now</th></tr>"
    )
    worst = sorted(report.features, key=lambda f: -f.psi)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(heading)}</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>{escape(heading)} {_badge(report.status)}</h1>"
        f'<div class="sub">{report.current_rows:,} current rows · PSI warn {t.psi_warn}, '
        f"critical {t.psi_critical} · KS alpha {t.ks_alpha} · chi-square alpha {t.chi2_alpha} "
        f"(Benjamini-Hochberg across features) · at least {t.min_rows} rows for a verdict</div>"
        f"<table>{header}{''.join(_row(f) for f in worst)}</table>"
        f'<div class="cards">{"".join(_card(f) for f in worst)}</div></body></html>'
    )
