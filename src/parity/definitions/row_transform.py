"""Row transforms: a vectorised function of a row's columns, the same offline and online.

A :class:`RowTransform` declares its inputs (features of the service it belongs to, or
request fields the caller sends), its typed outputs and one function over a pandas
DataFrame. The same code turns input columns into that DataFrame and the function's
result back into typed Arrow columns for a training frame of millions of rows and for
the one row of an online request, so both see the same values:

- the frame's column types follow the input's dtype, never the data: floats are numpy
  ``float64``/``float32`` with ``NaN`` for null, integers pandas' nullable ``Int64`` /
  ``Int32`` (null is ``pd.NA``), booleans ``boolean``, timestamps ``datetime64[us, UTC]``,
  strings and other types Python objects with ``None``;
- each output is cast to its declared dtype (a lossy cast is an error), and a float
  output that is ``NaN`` or infinite is null: JSON cannot carry those values, so serving
  and training agree on null.

The function must be row-wise (each output row depends only on the same input row) and
vectorised: it is called once per frame, never per row. Training frames are transformed
batch by batch, so a column-wide statistic (``df["x"].mean()``) would differ between
training and serving; compute such values as features instead.

Example:
    >>> import pyarrow as pa
    >>> from parity.types import Float64
    >>> ratio = RowTransform(
    ...     "amount_ratio", inputs=["amount", "amount_mean_30d"],
    ...     outputs=[Field("amount_ratio", Float64)],
    ...     function=lambda df: {"amount_ratio": df["amount"] / df["amount_mean_30d"]})
    >>> ratio.apply(pa.table({"amount": [10.0, 1.0], "amount_mean_30d": [4.0, 0.0]})).column(
    ...     "amount_ratio").to_pylist()
    [2.5, None]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import TYPE_CHECKING, Any

from parity.definitions.canonical import check_name, check_text
from parity.definitions.code_fingerprint import code_fingerprint
from parity.definitions.field import Field
from parity.errors import DefinitionError, TransformFailed

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


def check_input_name(name: object, *, what: str) -> str:
    """An input is ``name`` or ``view:feature``; return it or raise naming the value.

    Example:
        >>> check_input_name("user_stats:amount_mean_30d", what="inputs")
        'user_stats:amount_mean_30d'
    """
    if isinstance(name, str) and name.count(":") == 1:
        view, feature = name.split(":")
        check_name(view, what=f"{what} (view of {name!r})")
        check_name(feature, what=f"{what} (feature of {name!r})")
        return name
    return check_name(name, what=what)


def _check_outputs(outputs: object, inputs: Sequence[str], what: str) -> tuple[Field, ...]:
    if isinstance(outputs, Field):
        outputs = [outputs]
    if isinstance(outputs, str) or not isinstance(outputs, Sequence) or not outputs:
        raise DefinitionError(
            f"{what}.outputs: expected a non-empty list of Field, got {outputs!r}."
        )
    names: list[str] = []
    for out in outputs:
        if not isinstance(out, Field):
            raise DefinitionError(f"{what}.outputs: {out!r} is not a Field.")
        if out.name in inputs:
            raise DefinitionError(
                f"{what}.outputs: {out.name!r} is also an input; give the output its own name."
            )
        if out.name in names:
            raise DefinitionError(f"{what}.outputs: {out.name!r} is declared twice.")
        if not out.dtype.is_scalar:
            raise DefinitionError(
                f"{what}.outputs: {out.name!r} is {out.dtype.name}; row transforms produce "
                "scalar columns (int, float, bool, string, bytes, timestamp)."
            )
        names.append(out.name)
    return tuple(outputs)


def _check_inputs(inputs: object, what: str) -> tuple[str, ...]:
    if isinstance(inputs, str) or not isinstance(inputs, Sequence) or not inputs:
        raise DefinitionError(
            f"{what}.inputs: expected a non-empty list of feature or request field names, "
            f"got {inputs!r}."
        )
    checked = tuple(check_input_name(name, what=f"{what}.inputs") for name in inputs)
    repeated = sorted({n for n in checked if checked.count(n) > 1})
    if repeated:
        raise DefinitionError(f"{what}.inputs: {repeated} listed more than once.")
    return checked


@dataclass(frozen=True)
class TransformSpec:
    """The registered form of a :class:`RowTransform`: everything but the callable.

    The registry stores this; ``function_sha256`` identifies the code that computes it
    (see :mod:`parity.definitions.code_fingerprint`).

    Example:
        >>> from parity.types import Float64
        >>> spec = TransformSpec("r", inputs=("a",), outputs=(Field("b", Float64),),
        ...                      function_sha256="0" * 64)
        >>> TransformSpec.from_dict(spec.to_dict()) == spec
        True
    """

    name: str
    _: KW_ONLY
    inputs: tuple[str, ...]
    outputs: tuple[Field, ...]
    function_sha256: str
    description: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, what="RowTransform name")
        what = f"RowTransform {self.name!r}"
        object.__setattr__(self, "inputs", _check_inputs(self.inputs, what))
        object.__setattr__(self, "outputs", _check_outputs(self.outputs, self.inputs, what))
        check_text(self.description, what=f"{what}.description")

    @property
    def output_names(self) -> tuple[str, ...]:
        """The output column names, in declaration order."""
        return tuple(f.name for f in self.outputs)

    @property
    def short_sha(self) -> str:
        """The first 12 hex digits of the function fingerprint, for messages."""
        return self.function_sha256[:12]

    def to_dict(self) -> dict[str, Any]:
        """Canonical form: inputs, typed outputs and the function's code fingerprint."""
        return {
            "kind": "row_transform",
            "name": self.name,
            "inputs": list(self.inputs),
            "outputs": [f.to_dict() for f in self.outputs],
            "function_sha256": self.function_sha256,
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TransformSpec:
        """Rebuild a spec from :meth:`to_dict` output."""
        return cls(
            data["name"],
            inputs=tuple(data["inputs"]),
            outputs=tuple(Field.from_dict(f) for f in data["outputs"]),
            function_sha256=data["function_sha256"],
            description=data.get("description", ""),
        )


@dataclass(frozen=True, eq=False)
class RowTransform:
    """A vectorised function of a row's columns, applied the same offline and online.

    ``inputs`` name features of the service the transform belongs to (the output column
    name, or ``view:feature``) or its request fields. ``function`` receives a pandas
    DataFrame whose columns are the inputs (named as written here) and returns a
    DataFrame, or a dict of columns, with every output. Attach it to a
    :class:`~parity.FeatureService` with ``transforms=[...]``.

    Example:
        >>> from parity.types import Float64
        >>> ratio = RowTransform(
        ...     "amount_ratio", inputs=["amount", "user_stats:amount_mean_30d"],
        ...     outputs=[Field("amount_ratio", Float64)],
        ...     function=lambda df: {
        ...         "amount_ratio": df["amount"] / df["user_stats:amount_mean_30d"]})
        >>> ratio.spec.inputs
        ('amount', 'user_stats:amount_mean_30d')
    """

    name: str
    _: KW_ONLY
    inputs: Sequence[str]
    outputs: Sequence[Field]
    function: Callable[[pd.DataFrame], Any]
    description: str = ""
    _spec: TransformSpec = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        what = f"RowTransform {self.name!r}"
        if not callable(self.function):
            raise DefinitionError(f"{what}.function: expected a callable, got {self.function!r}.")
        spec = TransformSpec(
            self.name,
            inputs=self.inputs,  # type: ignore[arg-type]  # checked and made a tuple there
            outputs=self.outputs,  # type: ignore[arg-type]
            function_sha256=code_fingerprint(self.function),
            description=self.description,
        )
        object.__setattr__(self, "inputs", spec.inputs)
        object.__setattr__(self, "outputs", spec.outputs)
        object.__setattr__(self, "_spec", spec)

    @property
    def spec(self) -> TransformSpec:
        """The registered form (no callable)."""
        return self._spec

    @property
    def output_names(self) -> tuple[str, ...]:
        """The output column names, in declaration order."""
        return self._spec.output_names

    @property
    def function_sha256(self) -> str:
        """The fingerprint of the function's code."""
        return self._spec.function_sha256

    def to_dict(self) -> dict[str, Any]:
        """Canonical form: inputs, typed outputs and the function's code fingerprint."""
        return self._spec.to_dict()

    def apply(self, table: pa.Table, *, columns: Mapping[str, str] | None = None) -> pa.Table:
        """``table`` with the outputs appended (replacing columns of the same name).

        ``columns`` maps an input to the table column holding it (default: same name).
        """
        return run_transform(self._spec, self.function, table, columns=columns)


def run_transform(
    spec: TransformSpec,
    function: Callable[[pd.DataFrame], Any],
    table: pa.Table,
    *,
    columns: Mapping[str, str] | None = None,
) -> pa.Table:
    """Apply ``function`` as the transform ``spec`` describes; the one code path of both
    :meth:`RowTransform.apply` and serving (where the spec comes from the registry).

    Example:
        >>> import pyarrow as pa
        >>> from parity.types import Float64
        >>> half = RowTransform("half", inputs=["amount"], outputs=[Field("half", Float64)],
        ...                     function=lambda df: {"half": df["amount"] / 2})
        >>> run_transform(half.spec, half.function, pa.table({"amount": [4.0]})).to_pydict()
        {'amount': [4.0], 'half': [2.0]}
    """
    import pyarrow as pa

    sources = [(name, (columns or {}).get(name, name)) for name in spec.inputs]
    missing = [column for _, column in sources if column not in table.column_names]
    if missing:
        raise DefinitionError(
            f"RowTransform {spec.name!r} needs column(s) {missing}; the frame has "
            f"{table.column_names}. Add them to the request or the feature list."
        )
    frame = input_frame({name: table.column(column) for name, column in sources})
    try:
        result = function(frame)
    except Exception as exc:
        raise TransformFailed(
            f"RowTransform {spec.name!r} raised {type(exc).__name__}: {exc}. Fix the "
            "function (it receives a DataFrame of the inputs and must work on whole columns)."
        ) from exc
    for out, column in zip(spec.outputs, output_arrays(spec, result, table.num_rows), strict=True):
        if out.name in table.column_names:
            table = table.set_column(table.column_names.index(out.name), out.name, column)
        else:
            table = table.append_column(pa.field(out.name, column.type), column)
    return table


def input_frame(columns: Mapping[str, pa.ChunkedArray | pa.Array]) -> pd.DataFrame:
    """The DataFrame a transform function receives; column types follow the Arrow types.

    Example:
        >>> import pyarrow as pa
        >>> input_frame({"n": pa.array([1, None])}).dtypes["n"].name
        'Int64'
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    data: dict[str, Any] = {}
    for name, column in columns.items():
        kind = column.type
        if pa.types.is_floating(kind):
            data[name] = column.to_numpy(zero_copy_only=False)
        elif pa.types.is_integer(kind) or pa.types.is_boolean(kind):
            mask = column.is_null().to_numpy(zero_copy_only=False)
            filler = False if pa.types.is_boolean(kind) else 0
            values = pc.fill_null(column, pa.scalar(filler, kind)).to_numpy(zero_copy_only=False)
            data[name] = (
                pd.arrays.BooleanArray(values, mask)
                if pa.types.is_boolean(kind)
                else pd.arrays.IntegerArray(values, mask)
            )
        elif pa.types.is_timestamp(kind):
            data[name] = column.to_pandas().array
        else:
            data[name] = column.to_numpy(zero_copy_only=False)
    return pd.DataFrame(data, copy=False)


def output_arrays(transform: TransformSpec, result: Any, rows: int) -> list[pa.Array]:
    """The function's result as one Arrow array per declared output, typed and checked.

    Example:
        >>> from parity.types import Float64
        >>> half = RowTransform("half", inputs=["amount"], outputs=[Field("half", Float64)],
        ...                     function=lambda df: {"half": df["amount"] / 2})
        >>> [a.to_pylist() for a in output_arrays(half.spec, {"half": [float("inf")]}, 1)]
        [[None]]
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    arrays: list[pa.Array] = []
    for out in transform.outputs:
        what = f"RowTransform {transform.name!r} output {out.name!r}"
        try:
            values = result[out.name]
        except (KeyError, TypeError, IndexError) as exc:
            raise TransformFailed(
                f"RowTransform {transform.name!r} did not return output {out.name!r}; return a "
                "DataFrame or dict with every declared output."
            ) from exc
        try:
            column = pa.array(values, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
            raise TransformFailed(f"{what}: cannot be read as a column ({exc}).") from exc
        if len(column) != rows:
            raise TransformFailed(
                f"{what}: {len(column)} values, expected {rows} (one per row). Return whole "
                "columns, computed row-wise."
            )
        try:
            column = column.cast(out.dtype.to_arrow())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise TransformFailed(
                f"{what}: values of type {column.type} do not convert to the declared "
                f"{out.dtype.name} ({exc}). Change the function or the output's dtype."
            ) from exc
        if pa.types.is_floating(column.type):
            # NaN and infinities are null everywhere: JSON cannot carry them.
            column = pc.if_else(pc.is_finite(column), column, pa.scalar(None, column.type))
        arrays.append(column)
    return arrays
