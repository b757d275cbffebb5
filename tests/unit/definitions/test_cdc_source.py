"""CDC source definitions: validated on construction, canonical round trip."""

from __future__ import annotations

import pytest

import parity as p
from parity.definitions.source import source_from_dict
from parity.errors import DefinitionError

DELTA = p.DeltaSource("data/orders", timestamp_field="ts")


@pytest.mark.parametrize("cls", [p.PostgresCDCSource, p.MySQLCDCSource])
def test_cdc_source_round_trips_through_its_canonical_form(cls: type[p.PostgresCDCSource]) -> None:
    source = cls("orders_cdc", table="shop.orders", batch_source=DELTA, timestamp_column="at")
    assert source_from_dict(source.to_dict()) == source


def test_cdc_source_table_must_be_schema_dot_table() -> None:
    with pytest.raises(DefinitionError, match=r"expected schema\.table"):
        p.PostgresCDCSource("o", table="a.b.c", batch_source=DELTA)


def test_cdc_source_keeps_its_events_in_a_delta_table() -> None:
    parquet = p.ParquetSource("data/o.parquet", timestamp_field="ts")
    with pytest.raises(DefinitionError, match="expected a DeltaSource"):
        p.PostgresCDCSource("o", table="orders", batch_source=parquet)  # type: ignore[arg-type]
