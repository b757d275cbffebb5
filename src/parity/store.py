"""The :class:`FeatureStore` facade: it wires configuration, registry and stores together.

It implements nothing itself; every operation is one call into the package that owns it.

Example:
    >>> store = FeatureStore("my_repo")  # doctest: +SKIP
    >>> plan = store.apply(message="first version")  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parity.config import RepoConfig, load_config
from parity.definitions import (
    Entity,
    FeatureService,
    FeatureView,
    RepoContents,
    load_repo,
    parse_versioned_name,
)
from parity.definitions.repo import Definition
from parity.errors import (
    AmbiguousReference,
    EntityNotFound,
    FeatureServiceNotFound,
    FeatureViewNotFound,
    InvalidTransition,
    ObjectNotFound,
    RegistryUnreachable,
    did_you_mean,
)
from parity.monitor.blocking import BlockedVersions
from parity.monitor.observer import QualityMonitor
from parity.monitor.reference_job import ProfilingRetrievalJob
from parity.offline.base import (
    EntityInput,
    OfflineEngine,
    PointInTime,
    RetrievalJob,
    ViewReadSpec,
)
from parity.offline.saved_dataset import SavedDataset
from parity.offline.writes import RowsInput, WriteReport
from parity.online import OnlineStore, open_online_store
from parity.online.base import ViewTable
from parity.registry import (
    Actor,
    AuditEntry,
    ObjectKind,
    Plan,
    Registry,
    RegistrySnapshot,
    ServicePin,
    VersionRecord,
    VersionState,
    open_registry,
    plan_apply,
)
from parity.registry.actors import current_actor
from parity.serve.resolve import ServingPlan, resolve_serving_plan
from parity.serve.transforms import TransformFunctions
from parity.serve.vectors import OnlineResponse, read_online
from parity.storage import StorageLayout
from parity.sync.controller import SyncController, SyncSettings
from parity.sync.report import SyncOutcome, SyncReport
from parity.sync.steps import Progress
from parity.types import require_utc

if TYPE_CHECKING:
    from parity.serve.push import PushResult

_MAX_CACHED_PLANS = 1024

_NOT_FOUND: dict[ObjectKind, type[ObjectNotFound]] = {
    ObjectKind.ENTITY: EntityNotFound,
    ObjectKind.FEATURE_VIEW: FeatureViewNotFound,
    ObjectKind.FEATURE_SERVICE: FeatureServiceNotFound,
}


class FeatureStore:
    """A feature repository opened from its folder (``parity.yaml`` + definition files).

    Example:
        >>> store = FeatureStore("my_repo")  # doctest: +SKIP
        >>> [v.ref for v in store.list_feature_views()]  # doctest: +SKIP
        ['user_stats@v1']
    """

    def __init__(self, repo_path: str | Path = ".", *, config: RepoConfig | None = None) -> None:
        self.repo_path = Path(repo_path).resolve()
        self.config = config if config is not None else load_config(self.repo_path)
        self._serving_plans: dict[tuple[Any, ...], tuple[float, ServingPlan]] = {}
        # Row transform functions come from the repository's code, read on first need.
        self.transform_functions = TransformFunctions.from_repo(self.repo_path)

    @cached_property
    def registry(self) -> Registry:
        """The registry named in the config, opened on first use."""
        return open_registry(self.config.registry, repo_root=self.repo_path)

    @property
    def project(self) -> str:
        """The project name from ``parity.yaml``."""
        return self.config.project

    @cached_property
    def offline_engine(self) -> OfflineEngine:
        """The offline engine named in the config, opened on first use."""
        from parity.offline import open_offline_engine

        return open_offline_engine(self.config.offline_store, repo_root=self.repo_path)

    @cached_property
    def storage(self) -> StorageLayout:
        """Every storage location of the repository (offline root, quarantine, monitoring,
        saved datasets, request log, model artifacts), resolved once from the config."""
        return StorageLayout.resolve(
            self.repo_path,
            offline_path=self.config.offline_store.path,
            request_log_path=self.config.server.request_log.path,
        )

    @property
    def offline_path(self) -> Path:
        """Where parity keeps managed tables, quarantine and saved datasets."""
        return self.storage.offline_root

    @cached_property
    def quality_monitor(self) -> QualityMonitor:
        """The monitor's quality checks on every synced and pushed batch."""
        return QualityMonitor(
            self.config.monitoring, root=self.storage.monitoring_root, repo_root=self.repo_path
        )

    @cached_property
    def serving_blocks(self) -> BlockedVersions:
        """View versions the consistency policy blocked (checked by every online read)."""
        return BlockedVersions(
            self.storage.monitoring_root,
            refresh_seconds=self.config.monitoring.serving.block_refresh_seconds,
        )

    @cached_property
    def sync_controller(self) -> SyncController:
        """The synchronization controller wired to this repo's registry and stores."""
        cfg = self.config.sync
        return SyncController(
            project=self.project,
            registry=self.registry,
            engine=self.offline_engine,
            online=self.online_store,
            repo_root=self.repo_path,
            quarantine_root=self.storage.quarantine_root,
            settings=SyncSettings(
                future_tolerance=timedelta(seconds=cfg.future_tolerance_seconds),
                max_reject_ratio=cfg.max_reject_ratio,
                validation_sample=cfg.validation_sample,
                auto_promote=self.config.auto_promote,
                chunk_rows=cfg.chunk_rows,
            ),
            observer=self.quality_monitor,
        )

    @cached_property
    def online_store(self) -> OnlineStore:
        """The online store named in the config, opened on first use."""
        return open_online_store(self.config.online_store, repo_root=self.repo_path)

    def close(self) -> None:
        """Release connections held by the store."""
        if "registry" in self.__dict__:
            self.registry.close()
        if "online_store" in self.__dict__:
            self.online_store.close()
        if "offline_engine" in self.__dict__:
            self.offline_engine.close()

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- definitions -------------------------------------------------------------------

    def load_definitions(self, definitions: Iterable[Definition] | None = None) -> RepoContents:
        """The repository's definitions: ``definitions`` if given, else the repo's files."""
        if definitions is None:
            return load_repo(self.repo_path)
        return RepoContents.build(definitions)

    def plan(self, definitions: Iterable[Definition] | None = None) -> Plan:
        """What :meth:`apply` would do, without writing anything."""
        repo = self.load_definitions(definitions)
        return plan_apply(self.registry.snapshot(self.project), repo)

    def apply(
        self,
        definitions: Iterable[Definition] | None = None,
        *,
        message: str,
        actor: str | None = None,
    ) -> Plan:
        """Register the definitions; returns the plan that was applied (atomically)."""
        repo = self.load_definitions(definitions)
        who = current_actor(self.repo_path)
        if actor is not None:
            who = Actor(actor, who.context)
        return self.registry.apply(self.project, repo, actor=who, message=message)

    # --- reading the registry ----------------------------------------------------------

    def snapshot(self) -> RegistrySnapshot:
        """Everything registered for this project, read consistently."""
        return self.registry.snapshot(self.project)

    def _latest_records(self, kind: ObjectKind) -> list[VersionRecord]:
        snap = self.snapshot()
        return [snap.history_of(kind, name)[-1] for name in snap.names(kind)]

    def list_entities(self) -> list[VersionRecord]:
        """The newest version of every entity."""
        return self._latest_records(ObjectKind.ENTITY)

    def list_feature_views(self) -> list[VersionRecord]:
        """The newest version of every feature view."""
        return self._latest_records(ObjectKind.FEATURE_VIEW)

    def list_feature_services(self) -> list[VersionRecord]:
        """The newest version of every feature service."""
        return self._latest_records(ObjectKind.FEATURE_SERVICE)

    def list_versions(self, name: str, *, kind: ObjectKind | None = None) -> list[VersionRecord]:
        """Every version of the object called ``name``."""
        snap = self.snapshot()
        kinds = [kind] if kind else list(ObjectKind)
        for k in kinds:
            history = snap.history_of(k, name)
            if history:
                return list(history)
        raise self._not_found(snap, kinds, name)

    def _not_found(
        self, snap: RegistrySnapshot, kinds: list[ObjectKind], name: str
    ) -> ObjectNotFound:
        known = [n for k in kinds for n in snap.names(k)]
        label = kinds[0].label if len(kinds) == 1 else "object"
        error = _NOT_FOUND[kinds[0]] if len(kinds) == 1 else ObjectNotFound
        return error(f"Unknown {label} {name!r}.{did_you_mean(name, known)}")

    def get_version(self, ref: str, *, kind: ObjectKind | None = None) -> VersionRecord:
        """Resolve ``name`` or ``name@vN``.

        A bare name means the newest serving version, or the newest version if none serves.
        """
        name, version = parse_versioned_name(ref)
        snap = self.snapshot()
        kinds = [kind] if kind else list(ObjectKind)
        for k in kinds:
            history = snap.history_of(k, name)
            if not history:
                continue
            if version is None:
                serving = [r for r in history if r.state is VersionState.SERVING]
                return serving[-1] if serving else history[-1]
            for record in history:
                if record.version == version:
                    return record
            known = ", ".join(r.ref for r in history)
            raise _NOT_FOUND[k](f"No {k.label} {name}@v{version}. Known versions: {known}.")
        raise self._not_found(snap, kinds, name)

    def get_entity(self, name: str) -> Entity:
        """The registered entity called ``name``."""
        return Entity.from_dict(self.get_version(name, kind=ObjectKind.ENTITY).spec)

    def get_feature_view(self, ref: str) -> FeatureView:
        """The definition of a view version (``name`` or ``name@vN``)."""
        return FeatureView.from_dict(self.get_version(ref, kind=ObjectKind.FEATURE_VIEW).spec)

    def get_feature_service(self, ref: str) -> FeatureService:
        """The definition of a service version (``name`` or ``name@vN``)."""
        return FeatureService.from_dict(self.get_version(ref, kind=ObjectKind.FEATURE_SERVICE).spec)

    def get_service_pins(self, ref: str) -> tuple[ServicePin, ...]:
        """The exact view versions and canonical feature order of a service version."""
        record = self.get_version(ref, kind=ObjectKind.FEATURE_SERVICE)
        return tuple(self.snapshot().pins.get((record.name, record.version), ()))

    def history(self, name: str | None = None, *, limit: int = 200) -> list[AuditEntry]:
        """Audit entries, newest first (optionally for one object)."""
        return self.registry.history(self.project, name, limit=limit)

    # --- lifecycle -----------------------------------------------------------------------

    def _move(self, ref: str, target: VersionState, message: str) -> VersionRecord:
        name, version = parse_versioned_name(ref)
        record = self.get_version(ref)
        if version is None and record.kind is not ObjectKind.ENTITY:
            # A lifecycle move must say which version it means; guessing could retire the wrong one.
            raise AmbiguousReference(
                f"{target.value}: say which version, e.g. '{name}@v{record.version}'. "
                f"Versions: {', '.join(r.ref for r in self.list_versions(name, kind=record.kind))}."
            )
        return self.registry.transition(
            self.project,
            record.kind,
            record.name,
            record.version,
            target,
            actor=current_actor(self.repo_path),
            message=message,
        )

    def promote(self, ref: str, *, message: str = "", force: bool = False) -> VersionRecord:
        """Make a version serve (``pending`` or ``deprecated`` -> ``serving``).

        An online view version must have passed a sync validation first (reject ratio and
        the online/offline sample); ``force=True`` skips that check, and the audit entry
        says so.
        """
        record = self.get_version(ref)
        if record.kind is ObjectKind.FEATURE_VIEW and record.spec.get("online", True) and not force:
            self._require_validated(record)
        if force:
            message = f"{message} [forced: validation skipped]".strip()
        return self._move(ref, VersionState.SERVING, message)

    def _require_validated(self, record: VersionRecord) -> None:
        for run in self.registry.sync_records(
            self.project, record.name, record.version, limit=1000
        ):
            if run.outcome == SyncOutcome.SUCCEEDED:
                validation = run.details.get("validation", {})
                if validation.get("passed"):
                    return
                raise InvalidTransition(
                    f"{record.ref} did not pass validation in its last sync ({validation}). "
                    "Fix the data and materialize again, or promote with --force."
                )
        raise InvalidTransition(
            f"{record.ref} has never been synchronized, so it is not validated. Run "
            f"'parity materialize START END --view {record.ref}' first (or promote with --force)."
        )

    def deprecate(self, ref: str, *, message: str = "") -> VersionRecord:
        """Mark a serving version deprecated: consumers should move off it."""
        return self._move(ref, VersionState.DEPRECATED, message)

    def retire(self, ref: str, *, message: str = "") -> VersionRecord:
        """Retire a deprecated or pending version for good; its online values are removed."""
        record = self._move(ref, VersionState.RETIRED, message)
        if record.kind is ObjectKind.FEATURE_VIEW:
            view = FeatureView.from_dict(record.spec)
            self.online_store.delete_table(
                ViewTable.from_view(view, project=self.project, version=record.version)
            )
        return record

    def repin(self, service: str, *, message: str = "") -> Plan:
        """Move a service onto the newest serving view versions (a new service version)."""
        return self.registry.repin(
            self.project, service, actor=current_actor(self.repo_path), message=message
        )

    # --- online serving ------------------------------------------------------------------

    def serving_plan(
        self,
        *,
        feature_service: str | None = None,
        features: Sequence[str] | None = None,
        full_feature_names: bool = False,
    ) -> ServingPlan:
        """The resolved view versions and column order for a request (cached briefly).

        Pins never change, but which version of a service or view *serves* does; a plan is
        reused for ``registry_cache_seconds`` so the hot path never queries the registry.
        """
        key = (feature_service, None if features is None else tuple(features), full_feature_names)
        cached = self._serving_plans.get(key)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            snapshot = self.snapshot()
        except RegistryUnreachable:
            if cached is not None:
                # Pins are immutable: an expired plan is still right, only maybe not newest.
                return cached[1]
            raise
        plan = resolve_serving_plan(
            snapshot,
            feature_service=feature_service,
            features=features,
            full_feature_names=full_feature_names,
            functions=self.transform_functions,
        )
        if len(self._serving_plans) >= _MAX_CACHED_PLANS:
            self._serving_plans.clear()  # bounded: clients may send many feature lists
        self._serving_plans[key] = (now + self.config.registry_cache_seconds, plan)
        return plan

    def get_online_features(
        self,
        *,
        entity_rows: Sequence[Mapping[str, Any]],
        feature_service: str | None = None,
        features: Sequence[str] | None = None,
        full_feature_names: bool = False,
        now: datetime | None = None,
    ) -> OnlineResponse:
        """Latest valid values for ``entity_rows``, in the service's canonical order.

        Request fields of the service's row transforms travel in the entity rows
        (``{"user_id": 7, "amount": 12.5}``); the transform outputs end the vector.

        Example::

            rows = [{"user_id": 7, "merchant_id": 3}]
            vectors = store.get_online_features(feature_service="fraud", entity_rows=rows)
            model.predict(vectors.to_vector())
        """
        plan = self.serving_plan(
            feature_service=feature_service,
            features=features,
            full_feature_names=full_feature_names,
        )
        self.serving_blocks.check(plan.reads)  # ServingBlocked for a blocked view version
        at = datetime.now(UTC) if now is None else require_utc(now, what="now")
        return read_online(self.online_store, plan, entity_rows, now=at)

    # --- training sets -------------------------------------------------------------------

    def get_historical_features(
        self,
        entity_df: EntityInput,
        *,
        feature_service: str | None = None,
        features: Sequence[str] | None = None,
        full_feature_names: bool = False,
        point_in_time: PointInTime = "event",
        timestamp_column: str = "event_timestamp",
    ) -> RetrievalJob:
        """A point-in-time correct training frame, columns in the service's canonical order.

        Each entity row gets, per view, the newest row with event time <= its timestamp
        (ties: newest created time) within the ttl, else nulls; ``point_in_time="available"``
        also hides rows written after that instant. See docs/offline.md. A service's row
        transforms then run on the joined frame (request fields are entity frame columns);
        their outputs follow the view features. See docs/transformations.md.

        Example::

            job = store.get_historical_features(labels, feature_service="fraud_detection")
            frame = job.to_pandas()
        """
        plan = self.serving_plan(
            feature_service=feature_service,
            features=features,
            full_feature_names=full_feature_names,
        )
        specs = []
        for read in plan.reads:
            view = self.get_feature_view(f"{read.table.view}@v{read.table.version}")
            names = [read.table.feature_names[position] for position in read.positions]
            outputs = {n: plan.output_names[o] for n, o in zip(names, read.outputs, strict=True)}
            specs.append(
                ViewReadSpec.from_view(
                    view,
                    version=read.table.version,
                    repo_root=self.repo_path,
                    features=names,
                    output_names={n: o for n, o in outputs.items() if n != o},
                )
            )
        job = self.offline_engine.get_historical_features(
            entity_df, specs, point_in_time=point_in_time, timestamp_column=timestamp_column
        )
        # A service's row transforms run on each joined batch: the same code as online.
        job = job if plan.transforms is None else job.with_output_step(plan.transforms)
        drift = self.config.monitoring.drift
        if not drift.profile_on_save:
            return job
        # job.save(name) also saves the drift reference profile beside the dataset.
        return ProfilingRetrievalJob(job, sample_rows=drift.sample_rows)

    def get_saved_dataset(self, name: str) -> SavedDataset:
        """A training set saved with ``job.save(name)``: its frame and its lineage."""
        return self.offline_engine.get_saved_dataset(name)

    def _view_spec(self, ref: str) -> ViewReadSpec:
        record = self.get_version(ref, kind=ObjectKind.FEATURE_VIEW)
        view = FeatureView.from_dict(record.spec)
        return ViewReadSpec.from_view(view, version=record.version, repo_root=self.repo_path)

    def append(self, view: str, rows: RowsInput) -> WriteReport:
        """Append rows to a view's parity-managed Delta table (invalid rows are quarantined).

        Late and out-of-order rows simply land: reads go by event time, and the next
        incremental sync publishes them (an older value never replaces a newer one online).
        """
        return self.offline_engine.append(self._view_spec(view), rows)

    def backfill(
        self, view: str, rows: RowsInput, *, start: datetime, end: datetime
    ) -> WriteReport:
        """Atomically replace the event-time range ``[start, end)`` of a view's Delta table.

        Every row is validated first; one bad row quarantines the rejects and changes nothing.
        """
        return self.offline_engine.backfill(self._view_spec(view), rows, start=start, end=end)

    def push(
        self,
        push_source_name: str,
        rows: Sequence[Mapping[str, Any]],
        /,
        *,
        to: str = "online_and_offline",
        push_id: str | None = None,
    ) -> PushResult:
        """Validated rows into every live view version a push source feeds, and its Delta table.

        The same checks and guarantees as ``POST /push``: retry with the same ``push_id``
        after a failure and the push is applied exactly once (docs/serving.md). A push
        source that feeds aggregation views is published to its stream
        (``server.push.streams``) for their processors, or refused if it has none.

        Example:
            >>> row = {"user_id": 1, "last_amount": 2.5, "event_timestamp": now}  # doctest: +SKIP
            >>> rows = [row]  # doctest: +SKIP
            >>> store.push("txn_push", rows, push_id="order-17").rows_written  # doctest: +SKIP
            1
        """
        from parity.serve.push import push_rows

        return push_rows(self, push_source_name, rows, to=to, push_id=push_id)

    # --- synchronization -----------------------------------------------------------------

    def _sync_targets(self, views: Sequence[str] | None) -> list[tuple[str, int]]:
        """View versions to sync: the given refs, or every live version of every online view."""
        snap = self.snapshot()
        live = (VersionState.PENDING, VersionState.SERVING, VersionState.DEPRECATED)
        targets: list[tuple[str, int]] = []
        names = snap.names(ObjectKind.FEATURE_VIEW) if views is None else list(views)
        for ref in names:
            name, version = parse_versioned_name(ref)
            if version is not None:
                targets.append((self.get_version(ref, kind=ObjectKind.FEATURE_VIEW).name, version))
                continue
            history = snap.history_of(ObjectKind.FEATURE_VIEW, name)
            if not history:
                raise self._not_found(snap, [ObjectKind.FEATURE_VIEW], name)
            targets.extend(
                (r.name, r.version)
                for r in history
                if r.state in live and (views is not None or r.spec.get("online", True))
            )
        return targets

    def materialize(
        self,
        start: datetime,
        end: datetime,
        *,
        views: Sequence[str] | None = None,
        progress: Callable[[str], Progress] | None = None,
    ) -> list[SyncReport]:
        """Publish rows with event time in [start, end) for every live view version.

        ``views`` limits the run to some views (``name`` or ``name@vN``); default: all online views.

        ``progress(ref)`` may return a callback receiving ``(phase, done, total)``.
        """
        return [
            self.sync_controller.materialize(
                name,
                version,
                start=start,
                end=end,
                progress=None if progress is None else progress(f"{name}@v{version}"),
            )
            for name, version in self._sync_targets(views)
        ]

    def materialize_incremental(
        self,
        end: datetime | None = None,
        *,
        views: Sequence[str] | None = None,
        progress: Callable[[str], Progress] | None = None,
    ) -> list[SyncReport]:
        """Publish what was written since each version's watermark, up to ``end`` (default now)."""
        return [
            self.sync_controller.materialize_incremental(
                name,
                version,
                end=end,
                progress=None if progress is None else progress(f"{name}@v{version}"),
            )
            for name, version in self._sync_targets(views)
        ]
