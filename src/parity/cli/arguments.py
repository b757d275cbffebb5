"""Parsing of argument values shared by several command groups (times, for now).

Times on the command line are ISO 8601 dates or date-times. A value without an offset
(``2026-01-01``, ``2026-01-01T12:00``) is read as UTC, and the command says so on stderr;
``Z`` or ``+02:00`` give the zone explicitly.

Example:
    >>> parse_instant("2026-11-01T00:00:00Z", "START").isoformat()
    '2026-11-01T00:00:00+00:00'
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from parity.cli.render import err_console
from parity.errors import DefinitionError

__all__ = ["optional_instant", "parse_instant"]

_EXAMPLES = "2026-01-01, 2026-01-01T12:00 (both UTC), 2026-01-01T12:00:00+02:00 or ...Z"


def _say_on_stderr(message: str) -> None:
    err_console.print(f"[dim]note:[/] {message}", highlight=False)


def parse_instant(
    text: str, what: str, *, note: Callable[[str], None] = _say_on_stderr
) -> datetime:
    """An ISO 8601 date or date-time as a UTC ``datetime``; ``what`` names the argument in
    messages. Without an offset the value is UTC, and ``note`` is told so.

    Example:
        >>> parse_instant("2026-11-01T09:30:00+02:00", "--start").hour
        7
        >>> parse_instant("2026-01-01", "START", note=print).isoformat()
        START 2026-01-01 has no UTC offset: read as 2026-01-01T00:00:00Z (UTC).
        '2026-01-01T00:00:00+00:00'
    """
    stripped = text.strip()
    try:
        value = datetime.fromisoformat(stripped.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError as exc:
        raise DefinitionError(
            f"{what}: {text!r} is not a date or time. Use ISO 8601: {_EXAMPLES}."
        ) from exc
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        value = value.replace(tzinfo=UTC)
        shown = value.strftime("%Y-%m-%dT%H:%M:%S") + "Z"
        note(f"{what} {stripped} has no UTC offset: read as {shown} (UTC).")
        return value
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise DefinitionError(
            f"{what}: {text!r} is outside the years 1-9999 once converted to UTC. "
            f"Use ISO 8601: {_EXAMPLES}."
        ) from exc


def optional_instant(text: str | None, what: str) -> datetime | None:
    """:func:`parse_instant` of an optional argument (``None`` stays ``None``).

    Example:
        >>> optional_instant(None, "--end") is None
        True
    """
    return None if text is None else parse_instant(text, what)
