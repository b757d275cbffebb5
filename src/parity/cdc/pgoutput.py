"""Decoding PostgreSQL's ``pgoutput`` logical replication messages (protocol version 1).

The capture asks for the text form of every column (the default of protocol 1) and turns
each value into the JSON value a stream event carries, by the column's type oid: integers,
floats, booleans and strings as themselves, ``numeric`` as a float, ``timestamptz`` as an
ISO 8601 string with its offset. A plain ``timestamp`` (no zone) is refused: parity never
guesses a zone.

Message layouts are those of the PostgreSQL 15 documentation, "Logical Replication
Message Formats": ``B`` begin, ``C`` commit, ``R`` relation, ``I`` insert, ``U`` update,
``D`` delete, ``T`` truncate; origin (``O``) and type (``Y``) messages are skipped.

Example:
    >>> import struct
    >>> begin = b"B" + struct.pack("!QqI", 0x16B3748, 0, 7)
    >>> decode_message(begin)
    Begin(final_lsn=23803720, commit_us=946684800000000, xid=7)
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from parity.errors import ParityError, Terminal

# PostgreSQL timestamps count microseconds from 2000-01-01 UTC.
PG_EPOCH_US = 946_684_800_000_000


class UnsupportedColumn(ParityError, Terminal, ValueError):
    """A captured column has a type parity cannot carry in a stream event."""


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a relation message: name, type oid, and whether it is in the key."""

    name: str
    type_oid: int
    key: bool


@dataclass(frozen=True, slots=True)
class Relation:
    """The shape of a table, sent before its first change in each session and after DDL."""

    oid: int
    namespace: str
    name: str
    replica_identity: str
    columns: tuple[Column, ...]


@dataclass(frozen=True, slots=True)
class Begin:
    """A transaction starts; ``commit_us`` is its commit time in UTC microseconds."""

    final_lsn: int
    commit_us: int
    xid: int


@dataclass(frozen=True, slots=True)
class Commit:
    """A transaction ends; ``end_lsn`` is the position to confirm once it is durable."""

    commit_lsn: int
    end_lsn: int
    commit_us: int


@dataclass(frozen=True, slots=True)
class RowChange:
    """An insert (``op="c"``), update (``"u"``) or delete (``"d"``) of one row.

    ``values`` holds the text of every column (``None`` for SQL null, :data:`UNCHANGED`
    for an unchanged TOAST value); a delete carries only the key columns.
    """

    op: str
    relation_oid: int
    values: tuple[str | None, ...]


@dataclass(frozen=True, slots=True)
class Truncate:
    """``TRUNCATE`` of the listed relations."""

    relation_oids: tuple[int, ...]


Message = Begin | Commit | Relation | RowChange | Truncate | None

# Marker of an unchanged TOASTed value in an update (pgoutput sends no value for it).
UNCHANGED = "\x00unchanged-toast"


class _Reader:
    __slots__ = ("at", "data")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 1

    def take(self, fmt: str) -> Any:
        (value,) = struct.unpack_from(fmt, self.data, self.at)
        self.at += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        end = self.data.index(b"\x00", self.at)
        text = self.data[self.at : end].decode("utf-8")
        self.at = end + 1
        return text

    def tuple_data(self) -> tuple[str | None, ...]:
        count = self.take("!H")
        out: list[str | None] = []
        for _ in range(count):
            kind = self.data[self.at : self.at + 1]
            self.at += 1
            if kind == b"n":
                out.append(None)
            elif kind == b"u":
                out.append(UNCHANGED)
            else:  # b"t" (text) or b"b" (binary, never requested)
                size = self.take("!I")
                out.append(self.data[self.at : self.at + size].decode("utf-8"))
                self.at += size
        return tuple(out)


def decode_message(payload: bytes) -> Message:
    """One pgoutput message, or ``None`` for kinds the capture ignores."""
    kind = payload[:1]
    r = _Reader(payload)
    if kind == b"B":
        final_lsn, ts, xid = struct.unpack_from("!QqI", payload, 1)
        return Begin(final_lsn, ts + PG_EPOCH_US, xid)
    if kind == b"C":
        _flags, commit_lsn, end_lsn, ts = struct.unpack_from("!BQQq", payload, 1)
        return Commit(commit_lsn, end_lsn, ts + PG_EPOCH_US)
    if kind == b"R":
        oid = r.take("!I")
        namespace, name = r.string(), r.string()
        identity = chr(r.take("!B"))
        columns = []
        for _ in range(r.take("!H")):
            flags = r.take("!B")
            column = r.string()
            type_oid = r.take("!I")
            r.take("!i")  # type modifier
            columns.append(Column(column, type_oid, bool(flags & 1)))
        return Relation(oid, namespace, name, identity, tuple(columns))
    if kind == b"I":
        oid = r.take("!I")
        r.at += 1  # b"N"
        return RowChange("c", oid, r.tuple_data())
    if kind == b"U":
        oid = r.take("!I")
        marker = payload[r.at : r.at + 1]
        r.at += 1
        if marker in (b"K", b"O"):
            r.tuple_data()  # the old key or row: the new row carries the key
            r.at += 1  # b"N"
        return RowChange("u", oid, r.tuple_data())
    if kind == b"D":
        oid = r.take("!I")
        r.at += 1  # b"K" or b"O"
        return RowChange("d", oid, r.tuple_data())
    if kind == b"T":
        count = r.take("!I")
        r.take("!B")
        return Truncate(tuple(r.take("!I") for _ in range(count)))
    return None


def _timestamptz(text: str) -> str:
    # PostgreSQL prints '2026-01-01 00:00:00.5+00' (or '+05:30'); make it ISO 8601.
    return datetime.fromisoformat(text).isoformat()


def _bool(text: str) -> bool:
    return text == "t"


# Type oid -> converter of its text form (pg_type.dat).
_CONVERTERS: dict[int, Callable[[str], Any]] = {
    16: _bool,
    20: int,
    21: int,
    23: int,
    700: float,
    701: float,
    1700: float,
    25: str,
    1042: str,
    1043: str,
    2950: str,
    1184: _timestamptz,
}


def converter_for(column: Column, *, table: str) -> Callable[[str], Any]:
    """How a column's text value becomes a JSON value: typed for the types above, the text
    itself for any other type (a view reads it as a string); refuses a timestamp without
    time zone, whose instant parity would have to guess.

    Example:
        >>> converter_for(Column("amount", 701, False), table="orders")("2.5")
        2.5
    """
    if column.type_oid == 1114:
        raise UnsupportedColumn(
            f"{table}.{column.name} is a timestamp without time zone; parity never guesses "
            "the zone of an instant. Store it as timestamptz (ALTER TABLE ... ALTER COLUMN "
            f"{column.name} TYPE timestamptz USING {column.name} AT TIME ZONE 'UTC')."
        )
    return _CONVERTERS.get(column.type_oid, str)
