"""Rendering for people (rich tables) and machines (``--json``).

Commands parse, call the public API, and hand the result to one of these functions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, is_dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from parity.registry import AuditEntry, ChangeClass, Plan, ServicePin, VersionRecord

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

_CLASS_STYLE = {
    ChangeClass.UNCHANGED: "dim",
    ChangeClass.METADATA: "cyan",
    ChangeClass.COMPATIBLE: "green",
    ChangeClass.BREAKING: "yellow",
    ChangeClass.REFUSED: "bold red",
    ChangeClass.NEW: "bold green",
}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def print_table(table: Table, *, on: Console | None = None) -> None:
    """Print ``table`` whole when it fits the terminal; otherwise one block per row, each
    cell on its own ``header: value`` line, wrapped, so no value is ever cut off.

    Example:
        >>> table = Table(title="Sync runs")
        >>> for column in ("view version", "outcome", "written"):
        ...     table.add_column(column)
        >>> table.add_row("fraud_signals@v12", "succeeded", "1,204,331")
        >>> print_table(table, on=Console(width=36, color_system=None))
        Sync runs
        view version: fraud_signals@v12
        outcome: succeeded
        written: 1,204,331
    """
    target = on or console
    natural = Measurement.get(target, target.options.update_width(10_000), table).maximum
    if natural <= target.width:
        target.print(table)
        return
    if table.title:
        target.print(f"[bold]{table.title}[/]")
    cells = [list(column.cells) for column in table.columns]
    for row in range(table.row_count):
        if row:
            target.print()
        for column, values in zip(table.columns, cells, strict=True):
            value = values[row]
            text = Text.from_markup(value) if isinstance(value, str) else Text(str(value))
            target.print(Text.assemble((f"{column.header}: ", "dim"), text), overflow="fold")


def print_json(data: Any) -> None:
    """Machine output: one JSON document on stdout."""
    print(json.dumps(_plain(data), indent=2, sort_keys=True, default=str))


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, default=str, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"


_MARK = {
    ChangeClass.UNCHANGED: " ",
    ChangeClass.METADATA: "~",
    ChangeClass.COMPATIBLE: "~",
    ChangeClass.BREAKING: "+",
    ChangeClass.REFUSED: "!",
    ChangeClass.NEW: "+",
}


def render_plan(plan: Plan, *, verbose: bool = True) -> None:
    """The readable diff, one block per object (like a terraform plan)."""
    console.print(f"[bold]Plan for project {plan.project!r}[/]")
    for change in plan.changes:
        if change.change_class is ChangeClass.UNCHANGED and not change.notes:
            continue
        style = _CLASS_STYLE[change.change_class]
        if change.from_version in (None, change.to_version):
            version = f"v{change.to_version}"
        else:
            version = f"v{change.from_version} -> v{change.to_version}"
        state = f" ({change.state.value})" if change.state and change.creates_version else ""
        console.print(
            f"[{style}]{_MARK[change.change_class]} {change.kind.label} {change.name}"
            f"  {change.change_class.value}  {version}{state}[/]"
        )
        if not verbose:
            continue
        for diff in change.differences:
            moved = f"{_short(diff.old, 40)} -> {_short(diff.new, 40)}"
            console.print(
                f"    [{_CLASS_STYLE[diff.change_class]}]{diff.change_class.value:<10}[/] "
                f"{diff.path}: {moved}  [dim]({diff.reason})[/]"
            )
        for note in change.notes:
            console.print(f"    [dim]note[/]       {note}")
    unchanged = sum(1 for c in plan.changes if c.change_class is ChangeClass.UNCHANGED)
    counts = {cls: sum(1 for c in plan.changes if c.change_class is cls) for cls in ChangeClass}
    summary = ", ".join(
        f"{n} {cls.value}" for cls, n in counts.items() if n and cls is not ChangeClass.UNCHANGED
    )
    console.print(f"{summary or 'No changes'}; {unchanged} unchanged.")
    for kind, name in plan.not_in_repo:
        console.print(
            f"[dim]{kind.label} {name!r} is registered but not in the repository (left as is).[/]"
        )


def render_records(records: Sequence[VersionRecord], *, title: str) -> None:
    """A table of versions."""
    table = Table(title=title)
    for column in ("name", "version", "state", "fingerprint", "updated (UTC)"):
        table.add_column(column, no_wrap=column == "name")
    for r in records:
        table.add_row(
            r.name,
            f"v{r.version}" + (f".{r.revision}" if r.revision else ""),
            r.state.value,
            r.fingerprint[:12],
            r.updated_at.strftime("%Y-%m-%d %H:%M"),
        )
    print_table(table)


def render_pins(pins: Iterable[ServicePin]) -> None:
    """The canonical feature order of a service version."""
    table = Table(title="Canonical feature order")
    for column in ("#", "output column", "view version", "feature"):
        table.add_column(column)
    for p in pins:
        table.add_row(str(p.position), p.output_name, f"{p.view}@v{p.view_version}", p.feature)
    print_table(table)


def render_history(entries: Sequence[AuditEntry]) -> None:
    """The audit log, newest first."""
    table = Table(title="History")
    for column in ("at", "actor", "action", "change", "message"):
        table.add_column(column)
    for e in entries:
        table.add_row(e.at.strftime("%Y-%m-%d %H:%M:%S"), e.actor, e.action, e.summary, e.message)
    print_table(table)
