"""The bins every drift statistic shares: numeric deciles with open ends, categories.

A numeric feature is cut at the reference's deciles (9 interior edges, duplicates
removed, so a constant column has one edge and two bins), the first and last bins open
(``(-inf, e0]`` ... ``(e8, +inf)``), and a last bin for nulls (NaN counts as null). A
categorical feature has one bin per reference category kept in the profile, then
``other`` (anything else, including categories never seen in the reference), then
``null``. Counting is column-wise (NumPy ``searchsorted`` and Arrow ``value_counts``): no
Python loop over rows.

Example:
    >>> import pyarrow as pa
    >>> numeric_counts(pa.array([1.0, 2.0, 3.0, None]), (1.5, 2.5)).tolist()
    [1, 1, 1, 1]
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

DECILES: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
OTHER = "__other__"
NULL = "__null__"


def numeric_values(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The non-null, non-NaN values of a numeric column as float64.

    Example:
        >>> import pyarrow as pa
        >>> numeric_values(pa.array([1, None, 3])).tolist()
        [1.0, 3.0]
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if pa.types.is_boolean(column.type):
        column = column.cast(pa.int8())
    values = column.drop_null()
    if pa.types.is_floating(values.type):
        values = values.filter(pc.invert(pc.is_nan(values)))
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)


def numeric_counts(column: pa.Array | pa.ChunkedArray, edges: Sequence[float]) -> np.ndarray:
    """Counts per bin: ``len(edges) + 1`` value bins (right-closed), then the null bin.

    Example:
        >>> import pyarrow as pa
        >>> numeric_counts(pa.array([0.0, 0.5, 0.5, 9.0]), (0.5,)).tolist()
        [3, 1, 0]
    """
    return counts_of_values(numeric_values(column), edges, rows=len(column))


def counts_of_values(values: np.ndarray, edges: Sequence[float], *, rows: int) -> np.ndarray:
    """:func:`numeric_counts` of already extracted values; ``rows - len(values)`` are null.

    Example:
        >>> counts_of_values(np.array([1.0, 5.0]), (2.0,), rows=3).tolist()
        [1, 1, 1]
    """
    counts = np.bincount(bin_index(values, edges), minlength=len(edges) + 1).astype(np.int64)
    return np.append(counts, rows - len(values))


def bin_index(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """The value bin of each value: how many edges lie strictly below it.

    Equal to ``np.searchsorted(edges, values, side="left")``; with at most nine edges, one
    vectorized comparison per edge is about seven times faster than a binary search per
    value. (NaN compares false everywhere and lands in bin 0: callers remove it first.)

    Example:
        >>> bin_index(np.array([0.5, 1.0, 1.5, 9.0]), (1.0, 2.0)).tolist()
        [0, 0, 1, 2]
    """
    index = np.zeros(len(values), dtype=np.int8 if len(edges) < 127 else np.int64)
    for edge in edges:
        np.add(index, values > edge, out=index, casting="unsafe")
    return index


def numeric_labels(edges: Sequence[float]) -> tuple[str, ...]:
    """Readable bin labels for :func:`numeric_counts`.

    Example:
        >>> numeric_labels((1.0, 2.0))
        ('<= 1', '(1, 2]', '> 2', 'null')
    """
    if not edges:
        return ("all values", "null")
    labels = [f"<= {edges[0]:.4g}"]
    labels += [f"({lo:.4g}, {hi:.4g}]" for lo, hi in itertools.pairwise(edges)]
    return (*labels, f"> {edges[-1]:.4g}", "null")


def category_key(value: object) -> str:
    """The profile's spelling of a category (booleans and numbers as text).

    Example:
        >>> category_key(True), category_key("DE")
        ('true', 'DE')
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def value_counts(column: pa.Array | pa.ChunkedArray) -> dict[str, int]:
    """Non-null category -> count, by Arrow's ``value_counts``.

    Example:
        >>> import pyarrow as pa
        >>> value_counts(pa.array(["a", "b", "a", None]))
        {'a': 2, 'b': 1}
    """
    import pyarrow.compute as pc

    counted = pc.value_counts(column.drop_null())
    values = counted.field("values").to_pylist()
    counts = counted.field("counts").to_pylist()
    return {category_key(v): int(c) for v, c in zip(values, counts, strict=True)}


def categorical_counts(column: pa.Array | pa.ChunkedArray, categories: Sequence[str]) -> np.ndarray:
    """Counts per bin: each category, then ``other`` (unseen included), then ``null``.

    Example:
        >>> import pyarrow as pa
        >>> categorical_counts(pa.array(["a", "z", None, "a"]), ("a", "b")).tolist()
        [2, 0, 1, 1]
    """
    counts = value_counts(column)
    known = [counts.get(c, 0) for c in categories]
    other = sum(counts.values()) - sum(known)
    return np.array([*known, other, column.null_count], dtype=np.int64)


def categorical_labels(categories: Sequence[str]) -> tuple[str, ...]:
    """Bin labels for :func:`categorical_counts`.

    Example:
        >>> categorical_labels(("DE",))
        ('DE', 'other', 'null')
    """
    return (*categories, "other", "null")
