"""A feature repository: the definitions found in a folder of Python files.

:func:`load_repo` imports the definition files of the folder (every ``*.py`` file but those
in hidden folders, ``data/``, ``__pycache__``, virtual environments and what ``.parityignore``
lists: :mod:`parity.definitions.repo_files`), collects the entities, feature views
and services they define at module level, and validates them as a whole: unique names,
references that resolve, no colliding output columns.

Example:
    >>> from datetime import timedelta
    >>> from parity.types import Int64, Float64
    >>> from parity.definitions.field import Field
    >>> from parity.definitions.entity import Entity
    >>> from parity.definitions.source import ParquetSource
    >>> from parity.definitions.feature_view import FeatureView
    >>> from parity.definitions.feature_service import FeatureService
    >>> user = Entity("user", join_keys=[Field("user_id", Int64)])
    >>> view = FeatureView("stats", entities=[user], schema=[Field("spend", Float64)],
    ...                    source=ParquetSource("s.parquet", timestamp_field="ts"))
    >>> repo = RepoContents.build([user, view, FeatureService("svc", features=[view])])
    >>> sorted(repo.views)
    ['stats']
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from parity.definitions.entity import Entity
from parity.definitions.feature_service import FeatureService
from parity.definitions.feature_view import FeatureView
from parity.definitions.repo_files import import_definitions
from parity.errors import DefinitionError, RepoImportError, did_you_mean

Definition = Entity | FeatureView | FeatureService


@dataclass(frozen=True)
class RepoContents:
    """The validated definitions of one repository, by name.

    ``origins`` maps ``kind:name`` to the file that defined it (for error messages).
    """

    entities: dict[str, Entity] = field(default_factory=dict)
    views: dict[str, FeatureView] = field(default_factory=dict)
    services: dict[str, FeatureService] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, definitions: Iterable[tuple[Definition, str] | Definition]) -> RepoContents:
        """Collect and validate definitions; each item may carry the file it came from."""
        repo = cls()
        for item in definitions:
            obj, origin = item if isinstance(item, tuple) else (item, "<api>")
            repo._add(obj, origin)
        repo._validate_services()
        return repo

    def _add(self, obj: Definition, origin: str) -> None:
        if isinstance(obj, FeatureService):
            for view in obj.views_given_as_objects():
                self._add(view, origin)
            self._put("feature_service", self.services, obj, origin)
        elif isinstance(obj, FeatureView):
            for entity in obj.entities:
                self._add(entity, origin)
            self._put("feature_view", self.views, obj, origin)
        elif isinstance(obj, Entity):
            self._put("entity", self.entities, obj, origin)
        else:
            raise DefinitionError(
                f"{obj!r} is not an Entity, FeatureView or FeatureService and cannot be applied."
            )

    def _put(self, kind: str, table: dict, obj: Definition, origin: str) -> None:  # type: ignore[type-arg]
        existing = table.get(obj.name)
        key = f"{kind}:{obj.name}"
        if existing is not None and existing != obj:
            raise DefinitionError(
                f"Duplicate {kind.replace('_', ' ')} name {obj.name!r}: two different definitions "
                f"(in {self.origins.get(key, '<api>')} and {origin}). Names must be unique "
                f"per kind; rename one of them."
            )
        table[obj.name] = obj
        self.origins.setdefault(key, origin)

    def _validate_services(self) -> None:
        for service in self.services.values():
            columns: dict[str, str] = {}
            for selection in service.selections:
                view = self.views.get(selection.view_name)
                if view is None:
                    raise DefinitionError(
                        f"FeatureService {service.name!r} references unknown feature view "
                        f"{selection.view_name!r}.{did_you_mean(selection.view_name, self.views)} "
                        f"Known views: {', '.join(sorted(self.views)) or 'none'}."
                    )
                # A reference to an explicit older version is checked against the registry
                # at apply time: the repo's definition may be newer than that version.
                pinned = selection.version is not None
                names = selection.features or (() if pinned else view.feature_names)
                for name in names:
                    if not pinned:
                        view.field(name)  # raises with did-you-mean
                    output = f"{view.name}__{name}" if service.full_feature_names else name
                    if output in columns:
                        raise DefinitionError(
                            f"FeatureService {service.name!r}: feature name {name!r} comes from "
                            f"both {columns[output]!r} and {view.name!r}. Select only one of "
                            "them, or set full_feature_names=True on the service."
                        )
                    columns[output] = view.name


def load_repo(root: str | Path) -> RepoContents:
    """Import the definition files under ``root`` and validate them together.

    Example:
        >>> import tempfile
        >>> repo = Path(tempfile.mkdtemp())
        >>> _ = (repo / "entities.py").write_text("from parity import Entity, Field, Int64\\n"
        ...     "user = Entity('user', join_keys=[Field('user_id', Int64)])")
        >>> load_repo(repo).origins
        {'entity:user': 'entities.py'}
    """
    root = Path(root).resolve()
    if not root.is_dir():
        raise RepoImportError(f"Feature repository {str(root)!r} is not a folder.")
    found = import_definitions(root, (Entity, FeatureView, FeatureService))
    return RepoContents.build(cast(list[tuple[Definition, str]], found))
