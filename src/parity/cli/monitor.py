"""Monitoring commands: ``status``, ``audit``, ``unblock``, ``report drift``, ``report
performance``, ``labels ingest``, ``alerts``.

Each parses, calls one method of :attr:`parity.FeatureStore.monitoring`
(:class:`parity.monitor.monitoring.Monitoring`), renders (a rich table, or ``--json``)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from parity.cli.arguments import optional_instant
from parity.cli.render import console, print_json, print_table
from parity.monitor import (
    Alert,
    AuditReport,
    ConsistencyStatus,
    DriftReport,
    DriftStatus,
    FreshnessReport,
    FreshnessStatus,
)
from parity.monitor.monitoring import drift_observations
from parity.registry import SyncSchedule
from parity.store import FeatureStore

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
AlertOption = Annotated[
    bool, typer.Option("--alert", help="Evaluate the alert rules and deliver what they raise.")
]

_STATUS_STYLE = {
    FreshnessStatus.FRESH: "green",
    FreshnessStatus.NO_POLICY: "dim",
    FreshnessStatus.STALE: "bold red",
    FreshnessStatus.MISSED_REFRESH: "bold red",
    FreshnessStatus.NEVER_SYNCED: "yellow",
}


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if abs(value) >= size:
            return f"{value / size:.1f}{unit}"
    return f"{value:.1f}s"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def render_freshness(reports: list[FreshnessReport]) -> None:
    """The freshness table of ``parity status``."""
    table = Table(title="Freshness")
    for column in (
        "view version", "state", "status", "lag", "max age", "stale entities", "missed",
        "sync delay", "last sync", "read/written/rejected",
    ):  # fmt: skip
        table.add_column(column, no_wrap=column == "view version")
    for r in reports:
        rows = (
            "-"
            if r.rows_read is None
            else f"{r.rows_read:,}/{r.rows_written or 0:,}/{r.rows_rejected or 0:,}"
        )
        table.add_row(
            r.ref,
            r.state,
            f"[{_STATUS_STYLE[r.status]}]{r.status.value}[/]",
            _seconds(r.freshness_lag_seconds),
            _seconds(r.max_age_seconds),
            "-" if r.entities is None else f"{_ratio(r.stale_entity_ratio)} of {r.entities:,}",
            "-" if r.missed_refreshes is None else str(r.missed_refreshes),
            _seconds(r.sync_delay_seconds),
            r.last_outcome or "never",
            rows,
        )
    print_table(table)


def _alert_dicts(alerts: list[Alert]) -> list[dict[str, Any]]:
    return [a.to_dict() for a in alerts]


def render_alerts(alerts: list[dict[str, Any]]) -> None:
    """One line per alert raised by ``--alert``."""
    for alert in alerts:
        console.print(f"[yellow]alert {alert['delivery']}:[/] {alert['summary']}")


def status(
    ctx: typer.Context,
    view: Annotated[
        list[str] | None, typer.Option("--view", "-v", help="Only this view; repeatable.")
    ] = None,
    as_json: JsonOption = False,
    alert: AlertOption = False,
) -> None:
    """Freshness of every live view version: lag, stale entities, missed refreshes, sync delay."""
    with FeatureStore(ctx.obj) as store:
        reports = store.monitoring.freshness(view)
        schedules = store.sync_schedules(view)
        alerts: list[dict[str, Any]] = []
        if alert:
            observations = [o for r in reports for o in r.observations()]
            alerts = _alert_dicts(store.monitoring.alert(observations))
    if as_json:
        print_json(
            {
                "freshness": [r.to_dict() for r in reports],
                "schedules": [_schedule_dict(s) for s in schedules],
                "alerts": alerts,
            }
        )
        return
    if not reports:
        console.print("No live online view versions.")
        return
    render_freshness(reports)
    render_schedules(schedules)
    render_alerts(alerts)


def _schedule_dict(schedule: SyncSchedule) -> dict[str, Any]:
    return {
        "view_version": f"{schedule.view}@v{schedule.view_version}",
        "next_due_at": None if schedule.next_due_at is None else schedule.next_due_at.isoformat(),
        "last_run_at": None if schedule.last_run_at is None else schedule.last_run_at.isoformat(),
        "missed_refreshes": schedule.missed_refreshes,
        "holder": schedule.holder,
        "decision": dict(schedule.decision),
    }


def render_schedules(schedules: list[SyncSchedule]) -> None:
    """The scheduler's next sync per view version, and why it is then."""
    if not schedules:
        return
    table = Table(title="Scheduled syncs (parity scheduler)")
    for column in ("view version", "next sync", "missed", "running on", "why"):
        table.add_column(column, no_wrap=column != "why")
    for s in schedules:
        table.add_row(
            f"{s.view}@v{s.view_version}",
            "-" if s.next_due_at is None else s.next_due_at.isoformat(timespec="seconds"),
            str(s.missed_refreshes),
            s.holder or "-",
            str(s.decision.get("reason", "-")),
        )
    print_table(table)


def drift(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Saved training dataset.")],
    service: Annotated[str | None, typer.Option(help="Only requests of this service.")] = None,
    start: Annotated[
        str | None,
        typer.Option(help="Window start (ISO 8601, inclusive; UTC without offset)."),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(help="Window end (ISO 8601, exclusive; UTC without offset)."),
    ] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Write an HTML report here.")] = None,
    as_json: JsonOption = False,
    alert: AlertOption = False,
) -> None:
    """Drift of served values (the request log) against a training dataset's profile."""
    from parity.monitor.report_html import render_drift_html

    with FeatureStore(ctx.obj) as store:
        report = store.monitoring.served_drift(
            dataset,
            service=service,
            start=optional_instant(start, "--start"),
            end=optional_instant(end, "--end"),
        )
        alerts: list[dict[str, Any]] = []
        if alert:
            alerts = _alert_dicts(store.monitoring.alert(drift_observations(report)))
    if html is not None:
        html.write_text(render_drift_html(report))
    if as_json:
        print_json({**report.to_dict(), "alerts": alerts})
        return
    render_drift(report)
    render_alerts(alerts)
    if html is not None:
        console.print(f"HTML report: {html}")


_DRIFT_STYLE = {
    DriftStatus.OK: "green",
    DriftStatus.WARN: "yellow",
    DriftStatus.CRITICAL: "bold red",
    DriftStatus.INSUFFICIENT_DATA: "dim",
}


def render_drift(report: DriftReport) -> None:
    """The drift table."""
    table = Table(title=f"Drift against {report.dataset} ({report.current_rows:,} rows)")
    for column in ("feature", "status", "PSI", "JS", "test", "p", "p (BH)", "null ref/now"):
        table.add_column(column)

    def num(value: float | None) -> str:
        return "-" if value is None else f"{value:.3g}"

    for f in sorted(report.features, key=lambda f: -f.psi):
        table.add_row(
            f.feature,
            f"[{_DRIFT_STYLE[f.status]}]{f.status.value}[/]",
            num(f.psi),
            num(f.js_distance),
            f.test,
            num(f.p_value),
            num(f.p_adjusted),
            f"{f.reference_null_rate:.1%}/{f.current_null_rate:.1%}",
        )
    print_table(table)


def audit(
    ctx: typer.Context,
    view: Annotated[str, typer.Argument(help="View version to audit: NAME or NAME@vN.")],
    sample: Annotated[
        int | None, typer.Option(help="Entity keys to sample (default from monitoring.yaml).")
    ] = None,
    served: Annotated[
        bool, typer.Option("--served", help="Sample served requests from the request log.")
    ] = False,
    as_json: JsonOption = False,
    alert: AlertOption = False,
) -> None:
    """Compare sampled online (or, --served, served) values with offline point-in-time
    values at the same instants; store the audit and apply the view's policy."""
    with FeatureStore(ctx.obj) as store:
        report, raised = store.monitoring.audit(view, sample=sample, served=served)
        alerts = _alert_dicts(raised)
        if alert and not raised:
            alerts = _alert_dicts(store.monitoring.alert(report.observations()))
    if as_json:
        print_json({**report.to_dict(), "alerts": alerts})
    else:
        render_audit(report)
        render_alerts(alerts)
    if report.status is ConsistencyStatus.INCONSISTENT:
        raise typer.Exit(1)


def render_audit(report: AuditReport) -> None:
    """The per-feature comparison table."""
    table = Table(
        title=f"Consistency of {report.ref}: {report.sampled:,} online keys, "
        f"{report.missing_online:,} of {report.offline_sampled:,} offline keys missing online, "
        f"{report.mismatch_rate:.2%} disagree (max {report.max_mismatch_rate:.2%})"
    )
    for column in ("feature", "total", "both null", "online null", "offline null", "mismatch",
                   "mean SMAPE"):  # fmt: skip
        table.add_column(column)
    for f in report.features:
        table.add_row(
            f.feature, f"{f.total:,}", f"{f.both_null:,}", f"{f.left_null:,}",
            f"{f.right_null:,}", f"{f.mismatches:,}",
            "-" if f.mean_smape is None else f"{f.mean_smape:.4f}",
        )  # fmt: skip
    print_table(table)
    style = "green" if report.status.value == "consistent" else "bold red"
    console.print(
        f"[{style}]{report.status.value}[/]" + (f": {report.action}" if report.action else "")
    )
    for example in report.examples:
        console.print(f"  [dim]{example}[/]")


def labels_ingest(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Parquet or CSV: request_id, label[, row_index].")],
    as_json: JsonOption = False,
) -> None:
    """Store late labels; they join logged predictions by request id."""
    with FeatureStore(ctx.obj) as store:
        result = store.monitoring.ingest_labels(file)
    if as_json:
        print_json({"rows": result.rows, "matched": result.matched, "unmatched": result.unmatched})
        return
    console.print(
        f"Ingested {result.rows:,} labels: {result.matched:,} match a logged prediction, "
        f"{result.unmatched:,} do not (yet)."
    )


def alerts(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="Newest alerts to show.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Stored alerts, newest first, with what was done with each."""
    with FeatureStore(ctx.obj) as store:
        stored = store.monitoring.stored_alerts()
    rows = stored.slice(0, limit).to_pylist()
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"Alerts ({stored.num_rows:,} stored)")
    for column in ("at (UTC)", "severity", "delivery", "summary"):
        table.add_column(column)
    for row in rows:
        style = "bold red" if row["severity"] == "critical" else "yellow"
        table.add_row(
            row["at"].strftime("%Y-%m-%d %H:%M:%S"),
            f"[{style}]{row['severity']}[/]",
            row["delivery"],
            row["summary"],
        )
    print_table(table)


def _validation_metrics(given: list[str] | None) -> dict[str, float] | None:
    """``--validation f1=0.8`` values; None (the champion's metrics) when none is given."""
    if not given:
        return None
    metrics = {}
    for item in given:
        name, _, value = item.partition("=")
        try:
            metrics[name.strip()] = float(value)
        except ValueError:
            raise typer.BadParameter(
                f"--validation {item!r}: expected METRIC=NUMBER, e.g. --validation f1=0.81."
            ) from None
    return metrics


def performance_report(
    ctx: typer.Context,
    model: Annotated[str, typer.Option("--model", "-m", help="Model whose predictions to score.")],
    window: Annotated[str, typer.Option(help="Window length: 30m, 6h, 1d, 7d.")] = "1d",
    dataset: Annotated[
        str | None,
        typer.Option("--dataset", "-d", help="Training dataset: adds the drift-error links."),
    ] = None,
    service: Annotated[str | None, typer.Option(help="Only requests of this service.")] = None,
    validation: Annotated[
        list[str] | None,
        typer.Option(help="Validation metric METRIC=VALUE (repeatable; default: champion's)."),
    ] = None,
    threshold: Annotated[float, typer.Option(help="Score threshold for a positive.")] = 0.5,
    start: Annotated[
        str | None,
        typer.Option(help="Window start (ISO 8601, inclusive; UTC without offset)."),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(help="Window end (ISO 8601, exclusive; UTC without offset)."),
    ] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Write an HTML report here.")] = None,
    as_json: JsonOption = False,
    alert: AlertOption = False,
) -> None:
    """Model performance per window (precision, recall, F1, AUC, label coverage, drop
    against validation) and, with --dataset, which features' drift tracks the error."""
    from parity.monitor.performance_report import render_performance_html

    length = _window(window)
    metrics = _validation_metrics(validation)
    with FeatureStore(ctx.obj) as store:
        overview = store.monitoring.performance(
            model, window=length, validation=metrics, threshold=threshold,
            start=optional_instant(start, "--start"), end=optional_instant(end, "--end"),
            dataset=dataset, service=service,
        )  # fmt: skip
        alerts: list[dict[str, Any]] = []
        if alert:
            alerts = _alert_dicts(store.monitoring.alert(overview.report.observations()))
    if html is not None:
        html.write_text(render_performance_html(overview))
    if as_json:
        print_json({**overview.to_dict(), "alerts": alerts})
        return
    render_performance(overview)
    render_alerts(alerts)
    if html is not None:
        console.print(f"HTML report: {html}")


def _window(text: str) -> timedelta:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = text[:-1], text[-1:]
    if unit not in units or not number.replace(".", "", 1).isdigit() or float(number) <= 0:
        raise typer.BadParameter(
            f"--window {text!r}: expected a positive number and a unit (s, m, h, d), e.g. 1d."
        )
    return timedelta(seconds=float(number) * units[unit])


def render_performance(overview: Any) -> None:
    """The per-window table and the links table."""
    report = overview.report
    table = Table(title=f"Performance of {report.model} ({len(report.windows)} windows)")
    for column in ("window start", "predictions", "labeled", "coverage", "precision", "recall",
                   "F1", "AUC", "F1 drop"):  # fmt: skip
        table.add_column(column)

    def num(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    for w in report.windows:
        table.add_row(
            w.start.strftime("%Y-%m-%d %H:%M"), f"{w.predictions:,}", f"{w.labeled:,}",
            _ratio(w.label_coverage), num(w.metrics.get("precision")),
            num(w.metrics.get("recall")), num(w.metrics.get("f1")), num(w.metrics.get("roc_auc")),
            num(w.drops.get("f1")),
        )  # fmt: skip
    print_table(table)
    if overview.links:
        links = Table(title=f"Drift-error links against {overview.dataset}")
        for column in ("feature", "verdict", "windows", "correlation", "p"):
            links.add_column(column)
        for link in overview.links:
            links.add_row(link.feature, link.verdict.value, str(link.windows),
                          num(link.correlation), num(link.p_value))  # fmt: skip
        print_table(links)


def unblock(
    ctx: typer.Context,
    view: Annotated[str, typer.Argument(help="Blocked view version: NAME or NAME@vN.")],
    message: Annotated[str, typer.Option("--message", "-m", help="Why it may serve again.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Let a view version the block policy stopped serve again (feature servers notice
    within monitoring.serving.block_refresh_seconds)."""
    with FeatureStore(ctx.obj) as store:
        done = store.monitoring.unblock(view, message=message)
    if as_json:
        print_json(
            {"ref": done.ref, "was_blocked": done.was_blocked, "unblocked": done.was_blocked}
        )
        return
    if done.was_blocked:
        console.print(f"[green]{done.ref} unblocked[/]: servers serve it again.")
    else:
        others = ", ".join(done.blocked) or "none"
        console.print(f"{done.ref} is not blocked; nothing to do. Blocked: {others}.")


report_app = typer.Typer(help="Monitoring reports.", no_args_is_help=True)
labels_app = typer.Typer(help="Late labels for model performance.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this group's commands to the app."""
    app.command()(status)
    app.command()(audit)
    app.command()(alerts)
    app.command()(unblock)
    report_app.command("drift")(drift)
    report_app.command("performance")(performance_report)
    app.add_typer(report_app, name="report")
    labels_app.command("ingest")(labels_ingest)
    app.add_typer(labels_app, name="labels")
