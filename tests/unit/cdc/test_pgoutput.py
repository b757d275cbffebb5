"""pgoutput messages decode to the changes the capture publishes."""

from __future__ import annotations

import struct

import pytest

from parity.cdc.pgoutput import (
    PG_EPOCH_US,
    UNCHANGED,
    Column,
    Commit,
    Relation,
    RowChange,
    Truncate,
    UnsupportedColumn,
    converter_for,
    decode_message,
)


def _tuple(*values: str | None) -> bytes:
    out = struct.pack("!H", len(values))
    for value in values:
        if value is None:
            out += b"n"
        elif value is UNCHANGED:
            out += b"u"
        else:
            data = value.encode()
            out += b"t" + struct.pack("!I", len(data)) + data
    return out


def test_relation_message_names_columns_types_and_key() -> None:
    payload = (
        b"R"
        + struct.pack("!I", 16385)
        + b"public\x00orders\x00"
        + b"d"
        + struct.pack("!H", 2)
        + b"\x01"
        + b"order_id\x00"
        + struct.pack("!Ii", 20, -1)
        + b"\x00"
        + b"amount\x00"
        + struct.pack("!Ii", 701, -1)
    )
    relation = decode_message(payload)
    assert relation == Relation(
        16385,
        "public",
        "orders",
        "d",
        (Column("order_id", 20, True), Column("amount", 701, False)),
    )


def test_insert_update_delete_carry_their_new_row_or_key() -> None:
    oid = struct.pack("!I", 16385)
    assert decode_message(b"I" + oid + b"N" + _tuple("7", "2.5")) == RowChange(
        "c", 16385, ("7", "2.5")
    )
    # An update with the old key first: the new row is what counts.
    update = b"U" + oid + b"K" + _tuple("7", None) + b"N" + _tuple("7", UNCHANGED)
    assert decode_message(update) == RowChange("u", 16385, ("7", UNCHANGED))
    assert decode_message(b"D" + oid + b"K" + _tuple("7", None)) == RowChange(
        "d", 16385, ("7", None)
    )


def test_commit_and_truncate_and_skipped_kinds() -> None:
    commit = b"C" + struct.pack("!BQQq", 0, 100, 180, 5)
    assert decode_message(commit) == Commit(100, 180, 5 + PG_EPOCH_US)
    assert decode_message(b"T" + struct.pack("!IBI", 1, 0, 16385)) == Truncate((16385,))
    assert decode_message(b"O" + b"whatever") is None


def test_values_convert_by_type_and_naive_timestamps_are_refused() -> None:
    assert converter_for(Column("n", 1700, False), table="t")("12.50") == 12.5
    assert converter_for(Column("b", 16, False), table="t")("t") is True
    assert (
        converter_for(Column("at", 1184, False), table="t")("2026-01-01 00:00:00+00")
        == "2026-01-01T00:00:00+00:00"
    )
    assert converter_for(Column("j", 3802, False), table="t")('{"a": 1}') == '{"a": 1}'
    with pytest.raises(UnsupportedColumn, match="TYPE timestamptz"):
        converter_for(Column("at", 1114, False), table="t")
