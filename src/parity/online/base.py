"""The online store interface: the latest valid value of every feature per entity.

An :class:`OnlineStore` keeps, per feature-view *version* and entity key, the row with the
greatest ``(event_timestamp, created_timestamp)`` it was ever given. Three methods carry
the work and speak plain data: :meth:`OnlineStore.write` takes an Arrow table,
:meth:`OnlineStore.read` takes :class:`ReadRequest` values and returns :class:`OnlineRow`
values, :meth:`OnlineStore.delete_table` drops one view version. Optional abilities are
declared in :class:`OnlineCapabilities`, never as ``NotImplementedError``.

Write rule (the same for every backend, enforced atomically per entity by the backend):
a stored value is replaced only by a row that orders strictly after it on
``(event_timestamp, created_timestamp, encoded value bytes)``. A missing created timestamp
orders before any present one. The last component only breaks exact timestamp ties, so
the outcome never depends on the order writes arrive in: replays are idempotent, late
rows never win, and concurrent writers converge.

Example:
    >>> from parity.types import Int64, Float64
    >>> table = ViewTable.build("fraud", "user_stats", 2,
    ...                         join_keys={"user_id": Int64}, features={"spend": Float64})
    >>> table.namespace
    'fraud:user_stats:v2'
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

from parity.errors import DefinitionError
from parity.types import DType, parse_dtype

if TYPE_CHECKING:
    import pyarrow as pa

    from parity.definitions.feature_view import FeatureView

EVENT_TIMESTAMP = "event_timestamp"
CREATED_TIMESTAMP = "created_timestamp"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, eq=True)
class ViewTable:
    """The namespace of one feature-view version in the online store, with its schema.

    Two versions of a view are two tables and coexist. Features are positional: a
    compatible schema change may only append nullable features, and values written
    before it read back with ``None`` for the new ones.

    Example:
        >>> from parity.types import Int64, String
        >>> t = ViewTable.build("shop", "merchant", 1,
        ...                     join_keys={"merchant_id": Int64, "country": String},
        ...                     features={"rating": "float32"})
        >>> t.join_key_names, t.feature_names
        (('merchant_id', 'country'), ('rating',))
    """

    project: str
    view: str
    version: int
    join_keys: tuple[tuple[str, DType], ...]
    features: tuple[tuple[str, DType], ...]
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        for what, value in (("project", self.project), ("view", self.view)):
            if not value or not value.replace("_", "a").isalnum():
                raise DefinitionError(
                    f"ViewTable {what} {value!r}: expected an identifier (letters, digits, "
                    "underscore), as the registry names it."
                )
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1:
            raise DefinitionError(
                f"ViewTable {self.view!r}: version must be a positive integer, got "
                f"{self.version!r}."
            )
        if not self.join_keys or not self.features:
            raise DefinitionError(
                f"ViewTable {self.view!r}: needs at least one join key and one feature."
            )
        # Reads look their codec up by table on every call; hash the tuples once.
        object.__setattr__(
            self,
            "_hash",
            hash((self.project, self.view, self.version, self.join_keys, self.features)),
        )

    def __hash__(self) -> int:
        return self._hash

    @classmethod
    def build(
        cls,
        project: str,
        view: str,
        version: int,
        /,
        *,
        join_keys: Mapping[str, DType | str],
        features: Mapping[str, DType | str],
    ) -> ViewTable:
        """Build a table from name -> dtype mappings (dtypes may be spelled as strings).

        Example:
            >>> ViewTable.build("p", "v", 1, join_keys={"id": "int64"},
            ...                 features={"x": "vector<float32,3>"}).features[0][1].name
            'vector<float32,3>'
        """
        return cls(
            project,
            view,
            version,
            tuple((k, parse_dtype(t, what=f"join key {k!r}")) for k, t in join_keys.items()),
            tuple((f, parse_dtype(t, what=f"feature {f!r}")) for f, t in features.items()),
        )

    @classmethod
    def from_view(cls, view: FeatureView, /, *, project: str, version: int) -> ViewTable:
        """The table of ``view`` at ``version`` (join keys from its entities).

        Example:
            >>> from parity import Entity, FeatureView, Field, Float64, Int64, ParquetSource
            >>> user = Entity("user", join_keys=[Field("user_id", Int64)])
            >>> stats = FeatureView("user_stats", entities=[user], schema=[Field("spend", Float64)],
            ...                     source=ParquetSource("s.parquet", timestamp_field="ts"))
            >>> ViewTable.from_view(stats, project="fraud", version=1).namespace
            'fraud:user_stats:v1'
        """
        keys = tuple((k.name, k.dtype) for e in view.entities for k in e.join_keys)
        return cls(project, view.name, version, keys, tuple((f.name, f.dtype) for f in view.schema))

    @property
    def namespace(self) -> str:
        """``project:view:vN``: the prefix every key of this version lives under."""
        return f"{self.project}:{self.view}:v{self.version}"

    @property
    def join_key_names(self) -> tuple[str, ...]:
        """Join key column names in key order."""
        return tuple(name for name, _ in self.join_keys)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Feature names in the order :attr:`OnlineRow.values` follows."""
        return tuple(name for name, _ in self.features)


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one :meth:`OnlineStore.write` did: ``rows == written + skipped``.

    ``written``: entity keys whose online value this call set. ``skipped``: rows that did
    not become the online value because a newer-or-equal one exists (online already, or
    later in the same batch): late data and replays.

    Example:
        >>> WriteResult(rows=3, written=2, skipped=1).skipped
        1
    """

    rows: int
    written: int
    skipped: int


@dataclass(frozen=True, slots=True)
class ValueSwap:
    """One compare-and-set for :meth:`OnlineStore.swap`: codec bytes of key and values.

    Example:
        >>> ValueSwap(b"1", expected=b"old", new=None).new is None
        True
    """

    key: bytes
    expected: bytes
    new: bytes | None


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """Entity keys to read from one view version; each key is a tuple in join-key order.

    Example:
        >>> table = ViewTable.build("fraud", "stats", 1, join_keys={"id": "int64"},
        ...                         features={"x": "float64"})
        >>> ReadRequest(table, keys=[(1,), (2,)]).keys
        [(1,), (2,)]
    """

    table: ViewTable
    keys: Sequence[tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class OnlineRow:
    """The online value of one entity in one view version.

    ``values`` follow ``ViewTable.features`` order; a null feature is ``None``. Times are
    kept as UTC microseconds (cheap to compare on the serving path) and offered as
    datetimes.

    Example:
        >>> row = OnlineRow((1.5,), event_us=1_767_225_600_000_000, created_us=None)
        >>> row.values, row.event_timestamp.isoformat()
        ((1.5,), '2026-01-01T00:00:00+00:00')
    """

    values: tuple[Any, ...]
    event_us: int
    created_us: int | None

    @property
    def event_timestamp(self) -> datetime:
        """The event time of the stored row (aware, UTC)."""
        return _EPOCH + timedelta(microseconds=self.event_us)

    @property
    def created_timestamp(self) -> datetime | None:
        """The created time of the stored row, if it had one."""
        return None if self.created_us is None else _EPOCH + timedelta(microseconds=self.created_us)


@dataclass(frozen=True, slots=True)
class OnlineCapabilities:
    """Optional abilities of a backend, declared instead of failing at run time.

    ``shared``: several processes and hosts see the same values (a server, not a file).
    ``concurrent_writers``: writes from several processes at once are safe.

    Example:
        >>> OnlineCapabilities(shared=True, concurrent_writers=True).shared
        True
    """

    shared: bool
    concurrent_writers: bool


class ScansEntities(ABC):
    """Capability: list the entities a view version holds online, with their timestamps.

    For the freshness monitor (stale entity ratio) and consistency sampling; a backend
    that can do it inherits this mixin, so ``isinstance(store, ScansEntities)`` is the
    check.

    Example:
        >>> for batch in store.scan(table, batch_size=10_000):  # doctest: +SKIP
        ...     batch.column_names
        ['user_id', 'event_timestamp', 'created_timestamp']
    """

    @abstractmethod
    def scan(self, table: ViewTable, /, *, batch_size: int = 10_000) -> Iterator[pa.Table]:
        """Yield Arrow batches of the join key columns, ``event_timestamp`` and
        ``created_timestamp`` of every stored entity, in no particular order. Entities
        written while a scan runs may or may not appear.
        """


class OnlineStore(ABC):
    """A backend holding the latest value per (view version, entity key).

    Built once from its typed config by :func:`parity.online.open_online_store` and
    reused; safe to share between threads.

    Example:
        >>> import tempfile, pyarrow as pa
        >>> from parity.online import open_online_store
        >>> from parity.online.sqlite import SqliteOnlineConfig
        >>> table = ViewTable.build("fraud", "stats", 1, join_keys={"id": "int64"},
        ...                         features={"x": "float64"})
        >>> at = datetime(2026, 1, 1, tzinfo=UTC)
        >>> rows = pa.table({"id": [1], "x": [2.5], "event_timestamp": [at]})
        >>> with open_online_store(SqliteOnlineConfig(), repo_root=tempfile.mkdtemp()) as store:
        ...     store.write(table, rows)
        WriteResult(rows=1, written=1, skipped=0)
    """

    capabilities: ClassVar[OnlineCapabilities]

    @abstractmethod
    def write(self, table: ViewTable, rows: pa.Table, /) -> WriteResult:
        """Store each entity's latest row unless the online value is newer or equal.

        ``rows`` has the join key columns, the feature columns (castable to their dtypes),
        ``event_timestamp`` (timezone-aware) and optionally ``created_timestamp``. Extra
        columns are ignored. Raises :class:`parity.errors.SchemaMismatch` on bad input.
        """

    @abstractmethod
    def read(self, requests: Sequence[ReadRequest], /) -> list[list[OnlineRow | None]]:
        """For each request, one entry per key in key order: the row or ``None`` if missing.

        All requests are answered in as few round trips as the backend allows.
        """

    @abstractmethod
    def swap(self, table: ViewTable, changes: Sequence[ValueSwap], /) -> int:
        """Compare-and-set, atomically per key: where a key's stored value is exactly
        ``expected``, store ``new`` (or remove the key when ``new`` is ``None``); any other
        stored value is left alone. Returns how many keys changed.

        The one exception to "online only moves forward": a backfill that deleted or
        replaced the served row retracts it (:mod:`parity.sync.retraction`). Comparing with
        the value it read means a newer value written meanwhile is never lost.
        """

    @abstractmethod
    def delete_table(self, table: ViewTable, /) -> int:
        """Remove every value of this view version; return how many entities were removed."""

    @abstractmethod
    def close(self) -> None:
        """Release connections. The store must not be used afterwards."""

    def __enter__(self) -> OnlineStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
