"""The built-in model registry: tables in the registry database, artifacts on disk.

Artifacts are pickles under ``<repo>/data/models/<name>/v<N>.pkl`` with their SHA-256
recorded, so a truncated or replaced file fails to load loudly. Alias moves run in one
transaction (SQLite ``BEGIN IMMEDIATE``), so promote and rollback are atomic.

Example:
    >>> import tempfile
    >>> from parity.registry.config import SqliteRegistryConfig
    >>> from parity.retrain.database import open_engine
    >>> repo = Path(tempfile.mkdtemp())
    >>> engine = open_engine(SqliteRegistryConfig(), repo_root=repo)
    >>> registry = BuiltinModelRegistry(engine, project="fraud", root=repo / "data/models")
    >>> registry.versions("fraud_model")
    []
"""

from __future__ import annotations

import hashlib
import pickle
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from parity.registry.migrations import upgrade_schema
from parity.retrain.database import UtcDateTime, reading
from parity.retrain.errors import ModelLoadError, ModelNotFound
from parity.retrain.registries.base import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS,
    ModelLineage,
    ModelRegistry,
    ModelVersion,
)
from parity.retrain.registries.config import BuiltinModelRegistryConfig

if TYPE_CHECKING:
    from parity.retrain.ledger.transitions import TransitionLog

metadata = sa.MetaData()

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("project", sa.String(200), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.String(200), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False, server_default=sa.func.now()),
    sa.Column("artifact_path", sa.Text, nullable=False),
    sa.Column("artifact_sha256", sa.String(64), nullable=False),
    sa.Column("lineage", sa.JSON, nullable=False),
)
model_aliases = sa.Table(
    "model_aliases",
    metadata,
    sa.Column("project", sa.String(200), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("alias", sa.String(60), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)


class BuiltinModelRegistry(ModelRegistry):
    """Model versions in the registry database; artifacts under ``root``.

    Example:
        >>> import tempfile
        >>> from parity.registry.config import SqliteRegistryConfig
        >>> from parity.retrain.database import open_engine
        >>> repo = Path(tempfile.mkdtemp())
        >>> engine = open_engine(SqliteRegistryConfig(), repo_root=repo)
        >>> registry = BuiltinModelRegistry(engine, project="p", root=repo / "m")
        >>> registry.versions("x")
        []
    """

    def __init__(self, engine: Engine, *, project: str, root: Path) -> None:
        self._engine = engine
        self._project = project
        self._root = root
        # The registry database's migrations create and upgrade these tables too.
        upgrade_schema(engine)

    @classmethod
    def open(
        cls,
        config: BuiltinModelRegistryConfig,
        *,
        repo_root: str | Path,
        project: str,
        transitions: TransitionLog,
    ) -> BuiltinModelRegistry:
        """The registry ``config`` describes, in the database of ``transitions`` (the
        registry database); a relative ``artifacts_path`` is under ``repo_root``.

        Example:
            >>> import tempfile
            >>> from parity.registry.config import SqliteRegistryConfig
            >>> from parity.retrain.registries.config import BuiltinModelRegistryConfig
            >>> from parity.retrain.database import open_engine
            >>> from parity.retrain.ledger import Ledger
            >>> repo = Path(tempfile.mkdtemp())
            >>> ledger = Ledger(open_engine(SqliteRegistryConfig(), repo_root=repo), project="p")
            >>> BuiltinModelRegistry.open(BuiltinModelRegistryConfig(), repo_root=repo,
            ...                           project="p", transitions=ledger).versions("x")
            []
        """
        root = Path(config.artifacts_path)
        return cls(
            transitions.engine,
            project=project,
            root=root if root.is_absolute() else Path(repo_root) / root,
        )

    def _record(self, row: Any) -> ModelVersion:
        return ModelVersion(
            row["name"],
            row["version"],
            row["created_at"],
            Path(row["artifact_path"]).as_uri(),
            ModelLineage.from_dict(row["lineage"]),
        )

    def _rows(self, conn: sa.Connection, name: str) -> list[Any]:
        return list(
            conn.execute(
                sa.select(model_versions)
                .where(model_versions.c.project == self._project, model_versions.c.name == name)
                .order_by(model_versions.c.version)
            ).mappings()
        )

    def register(self, name: str, estimator: Any, *, lineage: ModelLineage) -> ModelVersion:
        """Pickle ``estimator``, record it as the next version (idempotent by run id)."""
        payload = pickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            return self._register(name, payload, lineage)
        except sa.exc.IntegrityError:
            # PostgreSQL: another process took the same version number first (its row is
            # committed now); number again, or find our run id if that process was us.
            return self._register(name, payload, lineage)

    def _register(self, name: str, payload: bytes, lineage: ModelLineage) -> ModelVersion:
        with self._engine.begin() as conn:
            self._lock(conn, name)
            rows = self._rows(conn, name)
            for row in rows:
                if row["run_id"] == lineage.run_id:
                    return self._record(row)
            version = (rows[-1]["version"] if rows else 0) + 1
            path = self._root / name / f"v{version}.pkl"
            # The row first: a process that loses the race for this number fails here,
            # before it could overwrite the winner's artifact.
            conn.execute(
                model_versions.insert().values(
                    project=self._project,
                    name=name,
                    version=version,
                    run_id=lineage.run_id,
                    artifact_path=str(path.resolve()),
                    artifact_sha256=hashlib.sha256(payload).hexdigest(),
                    lineage=lineage.to_dict(),
                )
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(f".{uuid.uuid4().hex[:8]}.tmp")
            temporary.write_bytes(payload)
            temporary.replace(path)
            return self._record(self._rows(conn, name)[-1])

    def versions(self, name: str) -> Sequence[ModelVersion]:
        """Every version of ``name``, oldest first."""
        with reading(self._engine) as conn:
            return [self._record(r) for r in self._rows(conn, name)]

    def names(self) -> list[str]:
        """Sorted names of the models with at least one version in this project."""
        query = (
            sa.select(model_versions.c.name)
            .where(model_versions.c.project == self._project)
            .distinct()
            .order_by(model_versions.c.name)
        )
        with reading(self._engine) as conn:
            return [str(name) for name in conn.execute(query).scalars()]

    def all_versions(self) -> dict[str, list[ModelVersion]]:
        """Every version of every model of the project, by name, in one query."""
        query = (
            sa.select(model_versions)
            .where(model_versions.c.project == self._project)
            .order_by(model_versions.c.name, model_versions.c.version)
        )
        out: dict[str, list[ModelVersion]] = {}
        with reading(self._engine) as conn:
            for row in conn.execute(query).mappings():
                out.setdefault(row["name"], []).append(self._record(row))
        return out

    def all_aliases(self) -> dict[str, dict[str, int]]:
        """Every model's aliases, by name, in one query."""
        query = sa.select(model_aliases).where(model_aliases.c.project == self._project)
        out: dict[str, dict[str, int]] = {}
        with reading(self._engine) as conn:
            for row in conn.execute(query).mappings():
                out.setdefault(row["name"], {})[row["alias"]] = int(row["version"])
        return out

    def _version(self, conn: sa.Connection, name: str, version: int) -> Any:
        row = (
            conn.execute(
                sa.select(model_versions).where(
                    model_versions.c.project == self._project,
                    model_versions.c.name == name,
                    model_versions.c.version == version,
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            known = ", ".join(f"v{r['version']}" for r in self._rows(conn, name)) or "none"
            raise ModelNotFound(
                f"No model version {name}@v{version} in project {self._project!r}. "
                f"Known versions: {known}."
            )
        return row

    def load(self, version: ModelVersion) -> Any:
        """Unpickle the artifact after checking its SHA-256."""
        with reading(self._engine) as conn:
            row = self._version(conn, version.name, version.version)
        path = Path(row["artifact_path"])
        try:
            payload = path.read_bytes()
        except OSError as exc:
            raise ModelLoadError(
                f"Cannot read the artifact of {version.ref} at {path}: {exc}. Restore the file "
                "or roll back: 'parity retrain rollback " + version.name + "'."
            ) from exc
        if hashlib.sha256(payload).hexdigest() != row["artifact_sha256"]:
            raise ModelLoadError(
                f"The artifact of {version.ref} at {path} does not match its recorded SHA-256: "
                "it was changed or truncated. Restore it, or roll back to the previous "
                f"champion: 'parity retrain rollback {version.name}'."
            )
        try:
            return pickle.loads(payload)
        except Exception as exc:  # any unpickling failure means the same thing to the caller
            raise ModelLoadError(f"Cannot unpickle {version.ref} from {path}: {exc!r}.") from exc

    def _alias_version(self, conn: sa.Connection, name: str, alias: str) -> int | None:
        return conn.execute(
            sa.select(model_aliases.c.version).where(
                model_aliases.c.project == self._project,
                model_aliases.c.name == name,
                model_aliases.c.alias == alias,
            )
        ).scalar()

    def _set(self, conn: sa.Connection, name: str, alias: str, version: int | None) -> None:
        conn.execute(
            model_aliases.delete().where(
                model_aliases.c.project == self._project,
                model_aliases.c.name == name,
                model_aliases.c.alias == alias,
            )
        )
        if version is not None:
            self._version(conn, name, version)
            conn.execute(
                model_aliases.insert().values(
                    project=self._project, name=name, alias=alias, version=version
                )
            )

    def alias(self, name: str, alias: str) -> ModelVersion | None:
        """The version ``alias`` points at, or None."""
        with reading(self._engine) as conn:
            version = self._alias_version(conn, name, alias)
            return None if version is None else self._record(self._version(conn, name, version))

    def _lock(self, conn: sa.Connection, name: str) -> None:
        """Serialise alias moves of ``name`` (PostgreSQL row locks; SQLite's transaction
        already holds the database's write lock)."""
        conn.execute(
            sa.select(model_versions.c.version)
            .where(model_versions.c.project == self._project, model_versions.c.name == name)
            .with_for_update()
        ).all()

    def set_alias(self, name: str, alias: str, version: int | None) -> None:
        """Point ``alias`` at ``version`` (None removes it)."""
        with self._engine.begin() as conn:
            self._lock(conn, name)
            self._set(conn, name, alias, version)

    def promote(self, name: str, version: int) -> ModelVersion:
        """champion -> previous, version -> champion, challenger cleared; one transaction."""
        with self._engine.begin() as conn:
            self._lock(conn, name)
            current = self._alias_version(conn, name, CHAMPION)
            if current != version:
                self._set(conn, name, PREVIOUS, current)
            self._set(conn, name, CHAMPION, version)
            if self._alias_version(conn, name, CHALLENGER) == version:
                self._set(conn, name, CHALLENGER, None)
            return self._record(self._version(conn, name, version))

    def rollback(self, name: str) -> ModelVersion:
        """Swap champion and previous in one transaction."""
        with self._engine.begin() as conn:
            self._lock(conn, name)
            previous = self._alias_version(conn, name, PREVIOUS)
            if previous is None:
                raise ModelNotFound(
                    f"Model {name!r} has no previous champion to roll back to. Promote a "
                    "version explicitly: 'parity retrain promote " + name + " --version N'."
                )
            current = self._alias_version(conn, name, CHAMPION)
            self._set(conn, name, CHAMPION, previous)
            self._set(conn, name, PREVIOUS, current)
            return self._record(self._version(conn, name, previous))

    def close(self) -> None:
        """Release the database connections (the engine reconnects if used again)."""
        self._engine.dispose()
