"""Parsing of argument values shared by several command groups (times, for now).

Example:
    >>> parse_instant("2026-11-01T00:00:00Z", "START").isoformat()
    '2026-11-01T00:00:00+00:00'
"""

from __future__ import annotations

from datetime import datetime

from parity.errors import DefinitionError
from parity.types import require_utc

__all__ = ["optional_instant", "parse_instant"]


def parse_instant(text: str, what: str) -> datetime:
    """An ISO 8601 time with a zone (``Z`` for UTC), as a UTC ``datetime``; ``what`` names
    the argument in the error.

    Example:
        >>> parse_instant("2026-11-01T09:30:00+02:00", "--start").hour
        7
    """
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise DefinitionError(
            f"{what}: {text!r} is not an ISO 8601 time. Example: 2026-11-01T00:00:00Z."
        ) from exc
    return require_utc(value, what=what)


def optional_instant(text: str | None, what: str) -> datetime | None:
    """:func:`parse_instant` of an optional argument (``None`` stays ``None``).

    Example:
        >>> optional_instant(None, "--end") is None
        True
    """
    return None if text is None else parse_instant(text, what)
