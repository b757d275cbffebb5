"""Transformations written once: windowed aggregations and row-level transforms.

An :class:`Aggregation` is one feature of a feature view computed from the view's raw
events. The value at instant ``t`` aggregates the events of the entity whose event time
lies in ``(t - window, t]`` (the left end open, ``t`` itself in). Null input values are
ignored, as in SQL; over an empty window ``count`` and ``count_distinct`` are 0 and the
other functions are null. The offline engine computes it with SQL window functions, the
stream processor incrementally from exact per-entity state; tests prove they agree.

``last`` is the value of the newest event in the window; events with the same event time
tie-break on the greatest value, so the result never depends on arrival order.

A :class:`RowTransform` is a vectorised function over columns of a request or a feature
row (``amount / avg_amount_30d``), declared with its inputs and typed outputs and applied
identically to training frames and to online vectors.

Example:
    >>> from datetime import timedelta
    >>> spend = Aggregation("amount", "sum", timedelta(days=7), name="spend_7d")
    >>> spend.output_dtype.name, spend.to_dict()["window_seconds"]
    ('float64', 604800.0)
"""

from __future__ import annotations

import enum
import hashlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from parity.definitions.canonical import check_name, check_text
from parity.definitions.field import Field
from parity.errors import DefinitionError, did_you_mean
from parity.types import DType, Float64, Int64, parse_dtype, require_positive_duration

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

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
        if not self.name:
            object.__setattr__(
                self, "name", f"{self.column}_{function.value}_{_window_name(self.window)}"
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


def _function_source(function: Callable[..., Any]) -> str:
    try:
        return inspect.getsource(function)
    except (OSError, TypeError):
        return getattr(function, "__qualname__", repr(function))


@dataclass(frozen=True, eq=False)
class RowTransform:
    """A vectorised function of a row's columns, applied the same offline and online.

    ``function`` receives a pandas DataFrame holding the ``inputs`` columns (a whole
    training frame, or the few rows of one online request) and returns a DataFrame, or a
    dict of columns, with every output. It must work on whole columns: it is never called
    per row. Outputs are cast to their declared dtypes.

    Example:
        >>> ratio = RowTransform(
        ...     "amount_ratio", inputs=["amount", "spend_mean_30d"],
        ...     outputs=[Field("amount_ratio", Float64)],
        ...     function=lambda df: {"amount_ratio": df["amount"] / df["spend_mean_30d"]})
        >>> import pyarrow as pa
        >>> ratio.apply(pa.table({"amount": [10.0], "spend_mean_30d": [4.0]})).column(
        ...     "amount_ratio").to_pylist()
        [2.5]
    """

    name: str
    _: KW_ONLY
    inputs: Sequence[str]
    outputs: Sequence[Field]
    function: Callable[[pd.DataFrame], Any]
    description: str = ""
    _source: str = field(init=False, repr=False, default="")

    def __post_init__(self) -> None:
        check_name(self.name, what="RowTransform name")
        what = f"RowTransform {self.name!r}"
        if isinstance(self.inputs, str) or not isinstance(self.inputs, Sequence) or not self.inputs:
            raise DefinitionError(f"{what}.inputs: expected a non-empty list of column names.")
        for name in self.inputs:
            check_name(name, what=f"{what}.inputs")
        object.__setattr__(self, "inputs", tuple(self.inputs))
        if not isinstance(self.outputs, Sequence) or not self.outputs:
            raise DefinitionError(f"{what}.outputs: expected a non-empty list of Field.")
        for out in self.outputs:
            if not isinstance(out, Field):
                raise DefinitionError(f"{what}.outputs: {out!r} is not a Field.")
            if out.name in self.inputs:
                raise DefinitionError(
                    f"{what}.outputs: {out.name!r} is also an input; give the output its own name."
                )
        object.__setattr__(self, "outputs", tuple(self.outputs))
        if not callable(self.function):
            raise DefinitionError(f"{what}.function: expected a callable, got {self.function!r}.")
        check_text(self.description, what=f"{what}.description")
        object.__setattr__(self, "_source", _function_source(self.function))

    @property
    def output_names(self) -> tuple[str, ...]:
        """The output column names, in declaration order."""
        return tuple(f.name for f in self.outputs)

    def to_dict(self) -> dict[str, Any]:
        """Canonical form: inputs, typed outputs and a hash of the function's source."""
        return {
            "kind": "row_transform",
            "name": self.name,
            "inputs": list(self.inputs),
            "outputs": [f.to_dict() for f in self.outputs],
            "function_sha256": hashlib.sha256(self._source.encode("utf-8")).hexdigest(),
            "description": self.description,
        }

    def apply(self, table: pa.Table) -> pa.Table:
        """``table`` with the outputs appended (replacing columns of the same name)."""
        import pyarrow as pa

        missing = [c for c in self.inputs if c not in table.column_names]
        if missing:
            raise DefinitionError(
                f"RowTransform {self.name!r} needs column(s) {missing}; the frame has "
                f"{table.column_names}. Add them to the request or the feature list."
            )
        frame = table.select(list(self.inputs)).to_pandas()
        result = self.function(frame)
        for out in self.outputs:
            try:
                values = result[out.name]
            except (KeyError, TypeError, IndexError) as exc:
                raise DefinitionError(
                    f"RowTransform {self.name!r} did not return output {out.name!r}; return a "
                    "DataFrame or dict with every declared output."
                ) from exc
            column = pa.array(values, from_pandas=True)
            if len(column) != table.num_rows:
                raise DefinitionError(
                    f"RowTransform {self.name!r} returned {len(column)} values for "
                    f"{out.name!r}, expected {table.num_rows} (one per row)."
                )
            column = column.cast(out.dtype.to_arrow())
            if out.name in table.column_names:
                table = table.set_column(table.column_names.index(out.name), out.name, column)
            else:
                table = table.append_column(out.name, column)
        return table
