"""Transformations written once: windowed aggregations and row-level transforms.

An :class:`Aggregation` is one feature of a feature view computed from the view's raw
events. The value at instant ``t`` aggregates the events of the entity whose event time
lies in ``(t - window, t]`` (the left end open, ``t`` itself in). Null input values are
ignored, as in SQL; over an empty window ``count`` and ``count_distinct`` are 0 and the
other functions are null. The offline engine computes it with SQL window functions, the
stream processor incrementally from exact per-entity state; tests prove they agree.

``last`` is the value of the newest event in the window; events with the same event time
tie-break on the greatest value, so the result never depends on arrival order.

:class:`RowTransform` (a vectorised function over the columns of a request or a feature
row, ``amount / avg_amount_30d``) lives in :mod:`parity.definitions.row_transform` and is
re-exported here.

Example:
    >>> from datetime import timedelta
    >>> spend = Aggregation("amount", "sum", timedelta(days=7), name="spend_7d")
    >>> spend.output_dtype.name, spend.to_dict()["window_seconds"]
    ('float64', 604800.0)
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from datetime import timedelta
from typing import Any

from parity.definitions.canonical import check_name
from parity.definitions.field import Field
from parity.definitions.row_transform import RowTransform as RowTransform
from parity.definitions.row_transform import TransformSpec as TransformSpec
from parity.errors import DefinitionError, did_you_mean
from parity.types import DType, Float64, Int64, parse_dtype, require_positive_duration

_ONE_US = timedelta(microseconds=1)


class AggregationFunction(enum.StrEnum):
    """What an :class:`Aggregation` computes over the events of its window."""

    # Number of events whose input value is not null.
    COUNT = "count"
    # Sum of the non-null values (int64 for integer input, float64 otherwise).
    SUM = "sum"
    # Arithmetic mean of the non-null values, float64.
    MEAN = "mean"
    # Smallest non-null value.
    MIN = "min"
    # Greatest non-null value.
    MAX = "max"
    # Value of the newest event (ties on event time: the greatest value).
    LAST = "last"
    # Exact number of distinct non-null values.
    COUNT_DISTINCT = "count_distinct"


_NUMERIC_ONLY = frozenset({AggregationFunction.SUM, AggregationFunction.MEAN})
_ORDERED_KINDS = frozenset({"int32", "int64", "float32", "float64", "string", "timestamp", "bool"})


def _function(value: object, what: str) -> AggregationFunction:
    if isinstance(value, AggregationFunction):
        return value
    names = [f.value for f in AggregationFunction]
    if isinstance(value, str) and value.lower() in names:
        return AggregationFunction(value.lower())
    raise DefinitionError(
        f"{what}.function: unknown aggregation {value!r}.{did_you_mean(str(value), names)} "
        f"Known: {', '.join(names)}."
    )


def _window_name(window: timedelta) -> str:
    seconds = window // _ONE_US / 1_000_000
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{window // _ONE_US}us"


@dataclass(frozen=True)
class Aggregation:
    """One windowed aggregation of an event column, as a feature of a view.

    ``dtype`` is the type of the *input* column in the raw events (default float64);
    the feature's type follows from it and the function (:attr:`output_dtype`). ``name``
    defaults to ``{column}_{function}_{window}``, e.g. ``amount_sum_7d``.

    Example:
        >>> Aggregation("merchant", "count_distinct", timedelta(hours=1), dtype="string").name
        'merchant_count_distinct_1h'
    """

    column: str
    function: AggregationFunction | str
    window: timedelta
    _: KW_ONLY
    name: str = ""
    dtype: DType | str = Float64
    # Fixed windows (#18): None slides (the value at ``t`` covers ``(t - window, t]``);
    # a hop makes windows ``[k * hop, k * hop + window)`` aligned to the Unix epoch, and the
    # value at ``t`` is that of the latest window ended at or before ``t``. ``hop ==
    # window``: tumbling; ``hop < window`` (dividing it): hopping.
    hop: timedelta | None = None

    @classmethod
    def tumbling(
        cls, column: str, function: AggregationFunction | str, window: timedelta, **options: Any
    ) -> Aggregation:
        """Non-overlapping windows of ``window``, aligned to the epoch.

        Example:
            >>> Aggregation.tumbling("amount", "sum", timedelta(minutes=5)).name
            'amount_sum_5m_tumbling'
        """
        return cls(column, function, window, hop=window, **options)

    @classmethod
    def hopping(
        cls,
        column: str,
        function: AggregationFunction | str,
        window: timedelta,
        *,
        hop: timedelta,
        **options: Any,
    ) -> Aggregation:
        """Windows of ``window`` starting every ``hop``, aligned to the epoch.

        Example:
            >>> hourly = Aggregation.hopping("amount", "sum", timedelta(hours=1),
            ...                              hop=timedelta(minutes=5))
            >>> hourly.name
            'amount_sum_1h_hop_5m'
        """
        return cls(column, function, window, hop=hop, **options)

    @property
    def hop_us(self) -> int | None:
        """The hop in microseconds (None: a sliding window)."""
        return None if self.hop is None else self.hop // _ONE_US

    def __post_init__(self) -> None:
        check_name(self.column, what="Aggregation column")
        what = f"Aggregation({self.column!r})"
        function = _function(self.function, what)
        object.__setattr__(self, "function", function)
        require_positive_duration(self.window, what=f"{what}.window")
        if self.window % _ONE_US:
            raise DefinitionError(f"{what}.window: use whole microseconds, got {self.window!r}.")
        dtype = parse_dtype(self.dtype, what=f"{what}.dtype")
        object.__setattr__(self, "dtype", dtype)
        if function in _NUMERIC_ONLY and not dtype.is_numeric:
            raise DefinitionError(
                f"{what}: {function.value} needs a numeric input column, this one is "
                f"{dtype.name}. Use count, count_distinct, min, max or last, or change dtype."
            )
        if function is not AggregationFunction.COUNT and dtype.kind not in _ORDERED_KINDS:
            raise DefinitionError(
                f"{what}: {function.value} is not defined for {dtype.name} values; "
                "aggregate a scalar column."
            )
        suffix = ""
        if self.hop is not None:
            require_positive_duration(self.hop, what=f"{what}.hop")
            if self.hop % _ONE_US or self.window % self.hop:
                raise DefinitionError(
                    f"{what}.hop: {self.hop!r} must be whole microseconds and divide the window "
                    f"{self.window!r} (hop == window: tumbling)."
                )
            same = self.hop == self.window
            suffix = "_tumbling" if same else f"_hop_{_window_name(self.hop)}"
        if not self.name:
            object.__setattr__(
                self,
                "name",
                f"{self.column}_{function.value}_{_window_name(self.window)}{suffix}",
            )
        check_name(self.name, what=f"{what}.name")

    @property
    def input_dtype(self) -> DType:
        """The input column's dtype (parsed on construction)."""
        assert isinstance(self.dtype, DType)
        return self.dtype

    @property
    def window_us(self) -> int:
        """The window length in microseconds."""
        return self.window // _ONE_US

    @property
    def output_dtype(self) -> DType:
        """The feature's dtype: int64 counts, float64 means, the input type otherwise."""
        function = self.function
        dtype = self.dtype
        assert isinstance(dtype, DType)
        if function in (AggregationFunction.COUNT, AggregationFunction.COUNT_DISTINCT):
            return Int64
        if function is AggregationFunction.MEAN:
            return Float64
        if function is AggregationFunction.SUM:
            return Int64 if dtype.is_integer else Float64
        return dtype

    def feature(self) -> Field:
        """The derived feature field (nullable, no contract)."""
        return Field(self.name, self.output_dtype)

    def to_dict(self) -> dict[str, Any]:
        """Canonical form (part of the view's canonical form: changing it is breaking)."""
        assert isinstance(self.function, AggregationFunction) and isinstance(self.dtype, DType)
        return {
            "name": self.name,
            "column": self.column,
            "function": self.function.value,
            "window_seconds": self.window.total_seconds(),
            "dtype": self.dtype.name,
            # Only fixed windows carry it: sliding definitions keep their fingerprints.
            **({"hop_seconds": self.hop.total_seconds()} if self.hop is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Aggregation:
        """Rebuild an aggregation from :meth:`to_dict` output."""
        return cls(
            data["column"],
            data["function"],
            timedelta(seconds=data["window_seconds"]),
            name=data["name"],
            dtype=data["dtype"],
            hop=None if data.get("hop_seconds") is None else timedelta(seconds=data["hop_seconds"]),
        )


def check_aggregations(
    aggregations: object, schema: Sequence[Field] | None, *, what: str, join_keys: Sequence[str]
) -> tuple[tuple[Aggregation, ...], tuple[Field, ...]]:
    """Validate a view's aggregations; return them and the schema, derived or checked.

    A given schema must declare exactly the aggregation outputs with their dtypes (it may
    add a data contract and descriptions); an omitted schema is derived.

    Example:
        >>> aggs, schema = check_aggregations(
        ...     [Aggregation("amount", "count", timedelta(hours=1))], None,
        ...     what="view", join_keys=["user_id"])
        >>> [f.name for f in schema]
        ['amount_count_1h']
    """
    if isinstance(aggregations, Aggregation):
        aggregations = [aggregations]
    if isinstance(aggregations, str) or not isinstance(aggregations, Sequence) or not aggregations:
        raise DefinitionError(
            f"{what}.aggregations: expected a non-empty list of Aggregation, got {aggregations!r}."
        )
    items = tuple(aggregations)
    for item in items:
        if not isinstance(item, Aggregation):
            raise DefinitionError(f"{what}.aggregations: {item!r} is not an Aggregation.")
    names = [a.name for a in items]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DefinitionError(
            f"{what}.aggregations: feature name(s) {repeated} are produced twice; give each "
            "aggregation its own name=."
        )
    dtypes: dict[str, DType] = {}
    for agg in items:
        assert isinstance(agg.dtype, DType)
        if agg.column in join_keys:
            raise DefinitionError(
                f"{what}.aggregations: column {agg.column!r} is a join key; aggregate an "
                "event column."
            )
        if dtypes.setdefault(agg.column, agg.dtype) != agg.dtype:
            raise DefinitionError(
                f"{what}.aggregations: column {agg.column!r} is declared as "
                f"{dtypes[agg.column].name} and as {agg.dtype.name}; one column has one dtype."
            )
    if schema is None:
        return items, tuple(a.feature() for a in items)
    if isinstance(schema, str) or not isinstance(schema, Sequence):
        raise DefinitionError(f"{what}.schema: expected a list of Field, got {schema!r}.")
    fields = tuple(schema)
    declared = {f.name: f for f in fields if isinstance(f, Field)}
    expected = {a.name: a.output_dtype for a in items}
    if set(declared) != set(expected) or len(fields) != len(items):
        raise DefinitionError(
            f"{what}.schema: an aggregation view's features are its aggregations "
            f"{sorted(expected)}, the schema declares {sorted(declared)}. Omit schema= to "
            "derive it, or declare exactly these features."
        )
    for name, dtype in expected.items():
        if declared[name].dtype != dtype:
            raise DefinitionError(
                f"{what}.schema: feature {name!r} is declared {declared[name].dtype.name} but "
                f"its aggregation produces {dtype.name}."
            )
    return items, fields
