"""Applying a service version's row transforms, offline and online, with one code path.

A :class:`TransformPlan` is resolved once with the serving plan: the transforms the
service version was registered with (their :class:`~parity.definitions.row_transform.
TransformSpec`, from the registry) bound to the repository's functions with the same
code fingerprint, the typed request fields, and where every input and output sits.

Both paths build the same small Arrow table of inputs (view features with their
declared dtypes, request fields cast to theirs) and run the same
:meth:`~parity.RowTransform.apply` on it: a training frame batch by batch, an online
request in one call for all its rows. Values are therefore identical by construction.

A pinned service version applies the function it was registered with. The registry
stores the function's code fingerprint, not the function: when the repository's code
for a transform no longer has that fingerprint, reading that version fails with
:class:`TransformUnavailable` naming both fingerprints; apply the repository (a new
service version) and move consumers to it, or restore the function.

Example:
    >>> plan = store.serving_plan(feature_service="fraud")  # doctest: +SKIP
    >>> plan.transforms.output_names  # doctest: +SKIP
    ('amount_ratio',)
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parity.definitions import Field, RowTransform, load_repo
from parity.definitions.row_transform import TransformSpec, run_transform
from parity.errors import DefinitionError, SchemaMismatch, TransformUnavailable
from parity.types import DType

if TYPE_CHECKING:
    import pyarrow as pa

RELOAD_SECONDS = 5.0
"""A missing function reloads the repository at most this often."""


@dataclass(frozen=True)
class TransformPlan:
    """A service version's transforms, bound to functions, and their column layout.

    ``features`` are the view features the transforms read: ``(column, position, dtype)``
    with ``position`` an index into the serving plan's outputs; ``first_output`` is the
    position of the first transform output (they follow the view features).

    Example:
        >>> plan.transforms.output_names  # doctest: +SKIP
        ('amount_ratio',)
    """

    service: str
    request_fields: tuple[Field, ...]
    transforms: tuple[tuple[TransformSpec, Callable[..., Any], Mapping[str, str]], ...]
    features: tuple[tuple[str, int, DType], ...]
    first_output: int
    output_fields: tuple[Field, ...]

    @property
    def output_names(self) -> tuple[str, ...]:
        """The transform outputs, in canonical order."""
        return tuple(f.name for f in self.output_fields)

    def _run(self, inputs: pa.Table) -> pa.Table:
        for spec, function, columns in self.transforms:
            inputs = run_transform(spec, function, inputs, columns=columns)
        return inputs

    # --- offline --------------------------------------------------------------------

    def apply_offline(self, batch: pa.Table) -> pa.Table:
        """``batch`` (a point-in-time joined frame) with the transform outputs appended."""
        import pyarrow as pa

        columns: dict[str, pa.ChunkedArray] = {}
        for name, _, dtype in self.features:
            columns[name] = batch.column(name).cast(dtype.to_arrow())
        for request in self.request_fields:
            columns[request.name] = _request_column(batch, request, self.service)
        result = self._run(pa.table(columns))
        for out in self.output_fields:
            if out.name in batch.column_names:
                raise SchemaMismatch(
                    f"The entity frame has a column {out.name!r}, which is also an output of the "
                    f"row transforms of {self.service}. Rename or drop that column."
                )
            batch = batch.append_column(
                pa.field(out.name, out.dtype.to_arrow()), result.column(out.name)
            )
        return batch

    def lineage(self) -> dict[str, Any]:
        """What a saved dataset records: the service version and each transform's spec."""
        return {
            "service": self.service,
            "request_schema": [f.to_dict() for f in self.request_fields],
            "transforms": [spec.to_dict() for spec, _, _ in self.transforms],
        }

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        """The schema :meth:`apply_offline` produces from a batch of ``schema``."""
        import pyarrow as pa

        for out in self.output_fields:
            schema = schema.append(pa.field(out.name, out.dtype.to_arrow()))
        return schema

    # --- online ---------------------------------------------------------------------

    def apply_online(
        self,
        entity_rows: Sequence[Mapping[str, Any]],
        values: list[list[Any]],
        statuses: list[list[Any]],
        stamps: list[list[datetime | None]],
        *,
        present: Any,
        null_value: Any,
    ) -> None:
        """Fill the transform outputs of a response in place: one call for all rows.

        An output is ``present`` when it has a value, ``null_value`` when null (an input
        was null and the function kept it null, or the result was not finite). Its event
        time is the oldest event time of the features it read (None if it read none).
        """
        import pyarrow as pa

        columns: dict[str, pa.Array] = {}
        for name, position, dtype in self.features:
            columns[name] = pa.array([row[position] for row in values], dtype.to_arrow())
        for request in self.request_fields:
            columns[request.name] = pa.array(
                request_values(entity_rows, request, self.service), request.dtype.to_arrow()
            )
        result = self._run(pa.table(columns))
        positions = [position for _, position, _ in self.features]
        for offset, out in enumerate(self.output_fields):
            j = self.first_output + offset
            for i, value in enumerate(result.column(out.name).to_pylist()):
                row_stamps = stamps[i]
                values[i][j] = value
                statuses[i][j] = present if value is not None else null_value
                known = [s for s in (row_stamps[p] for p in positions) if s is not None]
                row_stamps[j] = min(known) if known else None


def _accepts(dtype: DType, value: Any) -> bool:
    kind = dtype.kind
    if kind in ("float32", "float64"):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind in ("int32", "int64"):
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    return True  # bytes and timestamps are converted (and checked) by the caller


_EXAMPLES = {"float32": "12.5", "float64": "12.5", "int32": "3", "int64": "3", "bool": "true"}


def request_values(
    entity_rows: Sequence[Mapping[str, Any]], request: Field, service: str
) -> list[Any]:
    """The values of one request field across the entity rows, checked against its dtype.

    Example:
        >>> from parity.types import Float64
        >>> request_values([{"amount": 3}], Field("amount", Float64), "fraud")
        [3]
    """
    name, dtype = request.name, request.dtype
    out: list[Any] = []
    for index, row in enumerate(entity_rows):
        try:
            value = row[name]
        except KeyError:
            raise SchemaMismatch(
                f"entity_rows[{index}] has no request field {name!r} ({dtype.name}), which the "
                f"row transforms of feature service {service!r} read. Send it with every entity "
                f'row, e.g. {{..., "{name}": {_EXAMPLES.get(dtype.kind, "...")}}}.'
            ) from None
        if value is None:
            if not request.nullable:
                raise SchemaMismatch(
                    f"entity_rows[{index}]: request field {name!r} is null but declared "
                    "non-nullable. Send a value."
                )
        elif dtype.kind == "timestamp":
            value = _timestamp(value, index, name)
        elif dtype.kind == "bytes":
            value = _bytes(value, index, name)
        elif not _accepts(dtype, value):
            raise SchemaMismatch(
                f"entity_rows[{index}]: request field {name!r} is {value!r} "
                f"({type(value).__name__}); it is declared {dtype.name}. Send a "
                f"{dtype.name} value, e.g. {_EXAMPLES.get(dtype.kind, '...')}."
            )
        out.append(value)
    return out


def _timestamp(value: Any, index: int, name: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            value = None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise SchemaMismatch(
            f"entity_rows[{index}]: request field {name!r} must be a timezone-aware timestamp "
            "(a datetime, or an ISO 8601 string with an offset like '2026-01-01T12:00:00Z')."
        )
    return value


def _bytes(value: Any, index: int, name: str) -> bytes:
    if isinstance(value, bytes):
        return value
    try:
        return base64.b64decode(value, validate=True)
    except (TypeError, ValueError):
        raise SchemaMismatch(
            f"entity_rows[{index}]: request field {name!r} must be bytes (base64 over HTTP), "
            f"got {value!r}."
        ) from None


def _request_column(batch: pa.Table, request: Field, service: str) -> pa.ChunkedArray:
    """An entity frame column as the request field's declared dtype, or a precise error."""
    import pyarrow as pa

    name, dtype = request.name, request.dtype
    if name not in batch.column_names:
        raise SchemaMismatch(
            f"The entity frame has no column {name!r} ({dtype.name}), a request field the row "
            f"transforms of feature service {service!r} read. Add the column (the value the "
            "caller would send at request time) to the entity frame."
        )
    column = batch.column(name)
    source = column.type
    target = dtype.to_arrow()
    kind = dtype.kind
    allowed = (
        (pa.types.is_integer(source) or pa.types.is_floating(source))
        if kind in ("float32", "float64")
        else pa.types.is_integer(source)
        if kind in ("int32", "int64")
        else (pa.types.is_timestamp(source) and source.tz is not None)
        if kind == "timestamp"
        else (pa.types.is_string(source) or pa.types.is_large_string(source))
        if kind == "string"
        else (pa.types.is_binary(source) or pa.types.is_large_binary(source))
        if kind == "bytes"
        else source == target
    )
    if not allowed and not pa.types.is_null(source):
        raise SchemaMismatch(
            f"Entity frame column {name!r} is {source}; request field {name!r} of feature "
            f"service {service!r} is declared {dtype.name}. Convert the column to {dtype.name}."
        )
    if not request.nullable and column.null_count:
        raise SchemaMismatch(
            f"Entity frame column {name!r} has {column.null_count} null(s); request field "
            f"{name!r} is declared non-nullable. Fill or drop those rows."
        )
    try:
        return column.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise SchemaMismatch(
            f"Entity frame column {name!r} does not convert to {dtype.name} ({exc})."
        ) from exc


class TransformFunctions:
    """The repository's row transform functions by code fingerprint, loaded on first use.

    Example:
        >>> functions = TransformFunctions(lambda: [])
        >>> functions.loaded
        False
    """

    def __init__(self, load: Callable[[], Iterable[RowTransform]]) -> None:
        self._load = load
        self._by_sha: dict[str, RowTransform] | None = None
        self._by_name: dict[str, RowTransform] = {}
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    @classmethod
    def from_repo(cls, repo_path: str | Path) -> TransformFunctions:
        """The transforms of the feature services defined in the repository folder."""

        def load() -> list[RowTransform]:
            repo = load_repo(repo_path)
            return [
                t
                for service in repo.services.values()
                for t in service.transforms
                if isinstance(t, RowTransform)
            ]

        return cls(load)

    @property
    def loaded(self) -> bool:
        """True once the repository was read."""
        return self._by_sha is not None

    def _refresh(self) -> None:
        transforms = list(self._load())
        self._by_sha = {t.function_sha256: t for t in transforms}
        self._by_name = {t.name: t for t in transforms}
        self._loaded_at = time.monotonic()

    def find(self, spec: TransformSpec, *, service_ref: str) -> RowTransform:
        """The repository function registered as ``spec`` (same code fingerprint)."""
        with self._lock:
            if self._by_sha is None or (
                spec.function_sha256 not in self._by_sha
                and time.monotonic() - self._loaded_at > RELOAD_SECONDS
            ):
                self._refresh()
            assert self._by_sha is not None
            found = self._by_sha.get(spec.function_sha256)
            if found is not None:
                return found
            same_name = self._by_name.get(spec.name)
        if same_name is not None:
            raise TransformUnavailable(
                f"{service_ref} was registered with row transform {spec.name!r} whose function "
                f"has code fingerprint {spec.function_sha256}; the repository's {spec.name!r} "
                f"now has {same_name.function_sha256}. Its code changed since {service_ref} was "
                "applied: apply the repository and move consumers to the new service version, "
                "or restore the function (the audit log names the git commit of the apply)."
            )
        raise TransformUnavailable(
            f"{service_ref} was registered with row transform {spec.name!r} (code fingerprint "
            f"{spec.function_sha256}), which no feature service of the repository defines any "
            "more. Restore it in the repository, or move consumers to a service version "
            "without it."
        )


def bind_transforms(
    service_ref: str,
    spec: Mapping[str, Any],
    outputs: Sequence[tuple[str, str, str, DType]],
    functions: TransformFunctions | None,
) -> TransformPlan | None:
    """Bind a service spec's transforms to repository functions; None if it has none.

    ``outputs`` are the plan's view features as ``(view, feature, column, dtype)``, in
    canonical order.

    Example:
        >>> bind_transforms("fraud@v1", {"name": "fraud"}, [], None) is None
        True
    """
    specs = [TransformSpec.from_dict(t) for t in spec.get("transforms", [])]
    if not specs:
        return None
    if functions is None:
        raise TransformUnavailable(
            f"{service_ref} has row transforms but no repository to load their functions from; "
            "open the store on the feature repository folder."
        )
    request = tuple(Field.from_dict(f) for f in spec.get("request_schema", []))
    column_of: dict[str, tuple[str, int, DType]] = {}
    for position, (view, feature, column, dtype) in enumerate(outputs):
        column_of[column] = column_of[f"{view}:{feature}"] = (column, position, dtype)
    produced: set[str] = {f.name for f in request}
    needed: dict[str, tuple[str, int, DType]] = {}
    bound: list[tuple[TransformSpec, Callable[..., Any], Mapping[str, str]]] = []
    fields: list[Field] = []
    for transform_spec in specs:
        # The pinned spec decides inputs and outputs; the repository only the code.
        function = functions.find(transform_spec, service_ref=service_ref).function
        columns: dict[str, str] = {}
        for name in transform_spec.inputs:
            if name in produced:
                continue
            if name not in column_of:
                raise DefinitionError(
                    f"{service_ref}: transform {transform_spec.name!r} reads {name!r}, which is "
                    "not a feature of the service nor a request field."
                )
            column, position, dtype = column_of[name]
            needed[column] = (column, position, dtype)
            columns[name] = column
        bound.append((transform_spec, function, columns))
        fields.extend(transform_spec.outputs)
        produced.update(transform_spec.output_names)
    return TransformPlan(
        service=service_ref,
        request_fields=request,
        transforms=tuple(bound),
        features=tuple(sorted(needed.values(), key=lambda item: item[1])),
        first_output=len(outputs),
        output_fields=tuple(fields),
    )
