"""Synchronization commands: ``materialize`` and ``materialize-incremental``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from parity.cli.arguments import optional_instant, parse_instant
from parity.cli.render import console, print_json, print_table
from parity.store import FeatureStore
from parity.sync.report import SyncOutcome, SyncReport
from parity.sync.run import Progress as ProgressCallback

ViewOption = Annotated[
    list[str] | None,
    typer.Option("--view", "-v", help="Only this view (NAME or NAME@vN); repeatable."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@contextmanager
def progress_bars(*, enabled: bool) -> Iterator[Callable[[str], ProgressCallback] | None]:
    if not enabled:
        yield None
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )

    def for_view(ref: str) -> ProgressCallback:
        task = bar.add_task(f"{ref} read", total=None)

        def update(phase: str, done: int, total: int) -> None:
            bar.update(task, description=f"{ref} {phase}", completed=done, total=total or None)

        return update

    with bar:
        yield for_view


def _validation_text(report: SyncReport) -> str:
    v = report.validation
    if v is None:
        return "-"
    if v.passed:
        return f"ok ({v.sampled} keys)" + (", promoted" if report.promoted else "")
    return f"FAILED: {v.mismatches} mismatches, {v.reject_ratio:.1%} rejected"


def render_sync_reports(reports: list[SyncReport]) -> None:
    """A table of sync runs, then every error and rejection reason."""
    table = Table(title="Sync runs")
    for column in ("view version", "outcome", "read", "rejected", "written", "validation"):
        table.add_column(column, no_wrap=column == "view version")
    for r in reports:
        style = "green" if r.outcome is SyncOutcome.SUCCEEDED else "bold red"
        table.add_row(
            r.ref,
            f"[{style}]{r.outcome.value}[/]",
            f"{r.rows_read:,}",
            f"{r.rows_rejected:,}",
            f"{r.rows_written:,}",
            _validation_text(r),
        )
    print_table(table)
    for r in reports:
        if r.error:
            console.print(f"[bold red]{r.ref}: {r.error}[/]")
        for rule, count in sorted(r.rejections.items()):
            console.print(f"[yellow]{r.ref}: {count} row(s) rejected: {rule}[/] (see quarantine)")


def _render(reports: list[SyncReport], as_json: bool) -> None:
    if as_json:
        print_json(reports)
    else:
        render_sync_reports(reports)
    if any(r.outcome is not SyncOutcome.SUCCEEDED for r in reports):
        raise typer.Exit(1)


def materialize(
    ctx: typer.Context,
    start: Annotated[
        str,
        typer.Argument(help="Event time start (inclusive), ISO 8601; UTC without offset."),
    ],
    end: Annotated[
        str,
        typer.Argument(help="Event time end (exclusive), ISO 8601; UTC without offset."),
    ],
    view: ViewOption = None,
    as_json: JsonOption = False,
) -> None:
    """Validate and publish rows with event time in [START, END) to the online store."""
    with FeatureStore(ctx.obj) as store, progress_bars(enabled=not as_json) as progress:
        reports = store.materialize(
            parse_instant(start, "START"), parse_instant(end, "END"), views=view, progress=progress
        )
    _render(reports, as_json)


def materialize_incremental(
    ctx: typer.Context,
    end: Annotated[
        str | None,
        typer.Argument(help="Written-time end (default: now), ISO 8601."),
    ] = None,
    view: ViewOption = None,
    as_json: JsonOption = False,
) -> None:
    """Validate and publish rows written since each view version's watermark."""
    with FeatureStore(ctx.obj) as store, progress_bars(enabled=not as_json) as progress:
        reports = store.materialize_incremental(
            optional_instant(end, "END"), views=view, progress=progress
        )
    _render(reports, as_json)


def register(app: typer.Typer) -> None:
    """Add this group's commands to the app."""
    app.command()(materialize)
    app.command("materialize-incremental")(materialize_incremental)
