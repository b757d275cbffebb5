"""The :class:`FeatureStore` facade: it wires configuration, registry and stores together.

It implements nothing itself; every operation is one call into the package that owns it.

Example:
    >>> store = FeatureStore("my_repo")  # doctest: +SKIP
    >>> plan = store.apply(message="first version")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cached_property, partial
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
from parity.errors import ConfigError, ParityError
from parity.monitor.blocking import BlockedVersions
from parity.monitor.monitoring import Monitoring
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
from parity.registry import (
    Actor,
    AuditEntry,
    ObjectKind,
    Plan,
    Registry,
    RegistrySnapshot,
    ServicePin,
    SyncSchedule,
    VersionRecord,
    open_registry,
    plan_apply,
)
from parity.registry.actors import current_actor
from parity.registry.references import (
    latest_records,
    resolve_reference,
    service_pins,
    versions_of,
)
from parity.retrain.features import FeatureAccess
from parity.retrieval.plan_cache import ServingPlanCache
from parity.retrieval.resolve import ServingPlan
from parity.retrieval.transforms import TransformFunctions
from parity.retrieval.vectors import OnlineResponse, read_online
from parity.storage import ObjectStorage, StorageLayout
from parity.sync.controller import SyncController, SyncSettings
from parity.sync.lifecycle import Lifecycle
from parity.sync.report import SyncReport
from parity.sync.run import Progress
from parity.sync.scheduler import SyncScheduler
from parity.sync.targets import sync_targets
from parity.types import require_utc

if TYPE_CHECKING:
    from parity.push.apply import Pusher
    from parity.push.request import PushResult
    from parity.registry.migrations import SchemaUpgrade
    from parity.stream.config import StreamSettings
    from parity.stream.consistency import StreamConsistency
    from parity.stream.offline_appender import AppenderJob
    from parity.stream.processor import StreamProcessor


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
        # Row transform functions come from the repository's code, read on first need.
        self.transform_functions = TransformFunctions.from_repo(self.repo_path)
        # Plans of recent requests: the read hot path never queries the registry.
        self.serving_plans = ServingPlanCache(
            self.snapshot,
            ttl_seconds=self.config.registry_cache_seconds,
            max_stale_seconds=self.config.registry_max_staleness_seconds,
            # A request that must wait for the registry waits one query, plus a margin.
            wait_seconds=self.config.registry.query_timeout_s + 1.0,
            functions=self.transform_functions,
        )

    @cached_property
    def registry(self) -> Registry:
        """The registry named in the config, opened on first use."""
        return open_registry(self.config.registry, repo_root=self.repo_path)

    def upgrade_registry(self) -> SchemaUpgrade:
        """Bring the registry database's schema to this parity's revision (opening the
        registry does it too, under a lock); return the revisions before and after.

        Example:
            >>> store.upgrade_registry().to_revision  # doctest: +SKIP
            '0001'
        """
        from parity.registry.sql import SqlRegistry

        registry = self.registry
        if not isinstance(registry, SqlRegistry):
            raise ConfigError(
                f"registry type {self.config.registry.type!r} has no schema migrations; "
                "only the SQL registries (sqlite, postgresql) do."
            )
        return registry.schema_upgrade

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
            objects=ObjectStorage.from_config(self.config.storage.s3),
        )

    @property
    def offline_path(self) -> Path:
        """Where parity keeps managed tables, quarantine and saved datasets."""
        return self.storage.offline_root

    @cached_property
    def retraining(self) -> FeatureAccess:
        """What the retraining loop uses of this store (``open_loop(store.retraining)``)."""
        return FeatureAccess(
            project=self.project,
            repo_root=self.repo_path,
            storage=self.storage,
            registry_config=self.config.registry,
            retrain=self.config.retrain,
            monitoring=self.config.monitoring,
            offline=self.offline_engine,
            snapshot=self.snapshot,
            serving_plan=self.serving_plan,
            historical_features=self.get_historical_features,
            online_features=self.get_online_features,
        )

    @cached_property
    def quality_monitor(self) -> QualityMonitor:
        """The monitor's quality checks on every synced and pushed batch."""
        return QualityMonitor(
            self.config.monitoring, root=self.storage.monitoring_root, repo_root=self.repo_path
        )

    @cached_property
    def monitoring(self) -> Monitoring:
        """The monitor's operations: freshness, audits, drift and performance reports,
        labels, alerts, unblocking (what ``parity status``, ``audit``, ``report`` call).

        Example:
            >>> [r.ref for r in store.monitoring.freshness()]  # doctest: +SKIP
            ['user_stats@v1']
        """
        return Monitoring(
            project=self.project,
            registry=self.registry,
            settings=self.config.monitoring,
            root=self.storage.monitoring_root,
            request_log=self.storage.request_log_root,
            offline_root=self.storage.offline_root,
            repo_root=self.repo_path,
            online=lambda: self.online_store,
            engine=lambda: self.offline_engine,
            controller=lambda: self.sync_controller,
            champion_metrics=self._champion_metrics,
            storage=self.storage.objects,
        )

    def _champion_metrics(self, model: str) -> dict[str, float]:
        # Validation metrics of the model's champion, if a model registry has one.
        from parity.retrain.wiring import open_model_registry

        try:
            registry = open_model_registry(self.retraining)
            try:
                champion = registry.alias(model, "champion")
            finally:
                registry.close()
        except ParityError:
            return {}
        return {} if champion is None else dict(champion.lineage.metrics)

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
            storage=self.storage.objects,
            settings=SyncSettings(
                future_tolerance=timedelta(seconds=cfg.future_tolerance_seconds),
                max_reject_ratio=cfg.max_reject_ratio,
                validation_sample=cfg.validation_sample,
                auto_promote=self.config.auto_promote,
                chunk_rows=cfg.chunk_rows,
            ),
            observer=self.quality_monitor,
            online_config=self.config.online_store,
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
        plan = self.registry.apply(self.project, repo, actor=who, message=message)
        self.serving_plans.clear()
        return plan

    # --- reading the registry ----------------------------------------------------------

    def snapshot(self) -> RegistrySnapshot:
        """Everything registered for this project, read consistently."""
        return self.registry.snapshot(self.project)

    def list_entities(self) -> list[VersionRecord]:
        """The newest version of every entity."""
        return latest_records(self.snapshot(), ObjectKind.ENTITY)

    def list_feature_views(self) -> list[VersionRecord]:
        """The newest version of every feature view."""
        return latest_records(self.snapshot(), ObjectKind.FEATURE_VIEW)

    def list_feature_services(self) -> list[VersionRecord]:
        """The newest version of every feature service."""
        return latest_records(self.snapshot(), ObjectKind.FEATURE_SERVICE)

    def list_versions(self, name: str, *, kind: ObjectKind | None = None) -> list[VersionRecord]:
        """Every version of the object called ``name``."""
        return versions_of(self.snapshot(), name, kind=kind)

    def get_version(self, ref: str, *, kind: ObjectKind | None = None) -> VersionRecord:
        """Resolve ``name`` or ``name@vN``.

        A bare name means the newest serving version, or the newest version if none serves.
        """
        return resolve_reference(self.snapshot(), ref, kind=kind)

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
        return service_pins(self.snapshot(), ref)

    def history(self, name: str | None = None, *, limit: int = 200) -> list[AuditEntry]:
        """Audit entries, newest first (optionally for one object)."""
        return self.registry.history(self.project, name, limit=limit)

    # --- lifecycle -----------------------------------------------------------------------

    @cached_property
    def lifecycle(self) -> Lifecycle:
        """Lifecycle moves with the promotion policy (:mod:`parity.sync.lifecycle`).

        Example:
            >>> store.lifecycle.promote("user_stats@v2", force=True).state  # doctest: +SKIP
            <VersionState.SERVING: 'serving'>
        """
        return Lifecycle(
            self.registry,
            project=self.project,
            online=lambda: self.online_store,
            actor=partial(current_actor, self.repo_path),
        )

    def _lifecycle_as(self, actor: str | None) -> Lifecycle:
        """The lifecycle acting as ``actor`` (a server's API key) with the local context,
        or as the local user when ``actor`` is None."""
        if actor is None:
            return self.lifecycle
        return replace(self.lifecycle, actor=lambda: self._actor(actor))

    def _actor(self, name: str) -> Actor:
        who = current_actor(self.repo_path)
        return Actor(name, who.context)

    def promote(
        self, ref: str, *, message: str = "", force: bool = False, actor: str | None = None
    ) -> VersionRecord:
        """Make a version serve (``pending`` or ``deprecated`` -> ``serving``).

        An online view version must have passed a sync validation first (reject ratio and
        the online/offline sample); ``force=True`` skips that check, and the audit entry
        says so. ``actor`` names who acts in the audit log (default: the local user).
        """
        record = self._lifecycle_as(actor).promote(ref, message=message, force=force)
        # This process's own reads see its own moves at once (others within the cache period).
        self.serving_plans.clear()
        return record

    def deprecate(self, ref: str, *, message: str = "", actor: str | None = None) -> VersionRecord:
        """Mark a serving version deprecated: consumers should move off it."""
        record = self._lifecycle_as(actor).deprecate(ref, message=message)
        self.serving_plans.clear()
        return record

    def retire(self, ref: str, *, message: str = "", actor: str | None = None) -> VersionRecord:
        """Retire a deprecated or pending version for good; its online values are removed."""
        record = self._lifecycle_as(actor).retire(ref, message=message)
        self.serving_plans.clear()
        return record

    def repin(self, service: str, *, message: str = "") -> Plan:
        """Move a service onto the newest serving view versions (a new service version)."""
        plan = self.lifecycle.repin(service, message=message)
        self.serving_plans.clear()
        return plan

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
        return self.serving_plans.get(
            feature_service=feature_service,
            features=features,
            full_feature_names=full_feature_names,
        )

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
                    storage=self.storage.objects,
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
        return ViewReadSpec.from_view(
            view, version=record.version, repo_root=self.repo_path, storage=self.storage.objects
        )

    def verify_stream_consistency(
        self, view: str, /, *, instants: int = 5, samples: int = 200
    ) -> StreamConsistency:
        """Replay an aggregation view version's event log and compare with offline values at
        ``instants`` stops; then compare the online values with offline at their instants.

        Example:
            >>> store.verify_stream_consistency("txn_stats@v1").ok  # doctest: +SKIP
            True
        """
        from parity.stream.consistency import verify_stream_view

        record = self.get_version(view, kind=ObjectKind.FEATURE_VIEW)
        return verify_stream_view(
            FeatureView.from_dict(record.spec), version=record.version, project=self.project,
            repo_root=self.repo_path, engine=self.offline_engine, online=self.online_store,
            instants=instants, samples=samples, storage=self.storage.objects,
        )  # fmt: skip

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
        ignore_unknown_columns: bool = False,
    ) -> PushResult:
        """Validated rows into every live view version a push source feeds, and its Delta table.

        The same checks and guarantees as ``POST /push``: retry with the same ``push_id``
        after a failure and the push is applied exactly once (docs/serving.md). A push
        source that feeds aggregation views is published to its stream
        (``server.push.streams``) for their processors, or refused if it has none. A column
        no view reads is refused (``SchemaMismatch``) unless ``ignore_unknown_columns``.

        Example:
            >>> row = {"user_id": 1, "last_amount": 2.5, "event_timestamp": now}  # doctest: +SKIP
            >>> rows = [row]  # doctest: +SKIP
            >>> store.push("txn_push", rows, push_id="order-17").rows_written  # doctest: +SKIP
            1
        """
        return self.pusher.push(
            self.snapshot(),
            push_source_name,
            rows,
            to=to,
            push_id=push_id,
            ignore_unknown_columns=ignore_unknown_columns,
        )

    @cached_property
    def pusher(self) -> Pusher:
        """What pushes go through (``push`` and the server's ``/push``), built on first use."""
        from parity.push.apply import Pusher
        from parity.push.config import PushSettings

        settings = PushSettings(
            project=self.project,
            repo_root=self.repo_path,
            quarantine_root=self.storage.quarantine_root,
            config=self.config.server.push,
            storage=self.storage.objects,
        )
        return Pusher(self.online_store, settings=settings, quality=self.quality_monitor.check_push)

    # --- streams -------------------------------------------------------------------------

    def stream_processor(
        self, view: str, /, *, settings: StreamSettings, **options: Any
    ) -> StreamProcessor:
        """A stream processor for a registered aggregation view version (``name@vN``).

        ``options`` go to :class:`~parity.stream.processor.StreamProcessor` (``member``,
        ``transport``).

        Example:
            >>> settings = StreamSettings(stream="txns")  # doctest: +SKIP
            >>> store.stream_processor("txn_stats@v1", settings=settings)  # doctest: +SKIP
        """
        from parity.stream.processor import StreamProcessor

        spec = self._view_spec(view)
        return StreamProcessor(
            self.get_feature_view(spec.ref),
            version=spec.version,
            project=self.project,
            spec=spec,
            online=self.online_store,
            engine=self.offline_engine,
            settings=settings,
            quarantine_root=self.storage.quarantine_root,
            **options,
        )

    def offline_appender_job(
        self, view: str, /, *, settings: StreamSettings, member: str
    ) -> AppenderJob:
        """The offline appender job of an aggregation view version's consumer group.

        Example:
            >>> job = store.offline_appender_job("txn_stats", settings=settings,
            ...                                  member="host-appender")  # doctest: +SKIP
        """
        from parity.stream.offline_appender import AppenderJob

        return AppenderJob.for_view(
            self._view_spec(view),
            project=self.project,
            settings=settings,
            member=member,
            quarantine_root=self.storage.quarantine_root,
        )

    # --- synchronization -----------------------------------------------------------------

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
            for name, version in sync_targets(self.snapshot(), views)
        ]

    def sync_scheduler(
        self, *, holder: str | None = None, clock: Callable[[], datetime] | None = None
    ) -> SyncScheduler:
        """The sync scheduler of this repository (``parity scheduler``), leasing view versions
        as ``holder`` (default: host and process id); ``clock`` defaults to the wall clock.

        Example:
            >>> [run.outcome for run in store.sync_scheduler().tick()]  # doctest: +SKIP
            ['succeeded']
        """
        now = clock if clock is not None else partial(datetime.now, UTC)

        def run(view: str, version: int, at: datetime) -> SyncReport:
            return self.sync_controller.materialize_incremental(view, version, end=at, now=at)

        return SyncScheduler(
            project=self.project,
            registry=self.registry,
            run=run,
            config=self.config.sync.schedule,
            holder=holder or f"{socket.gethostname()}:{os.getpid()}",
            clock=now,
        )

    def sync_schedules(self, views: Sequence[str] | None = None) -> list[SyncSchedule]:
        """The scheduler's state per view version (next due time, why, missed refreshes,
        lease), for ``views`` (names; default all).

        Example:
            >>> [s.decision["reason"] for s in store.sync_schedules()]  # doctest: +SKIP
            ['fixed: every 900s (parity.yaml sync.schedule)']
        """
        rows = self.registry.sync_schedules(self.project)
        wanted = None if views is None else {parse_versioned_name(v)[0] for v in views}
        return [s for s in rows if wanted is None or s.view in wanted]

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
            for name, version in sync_targets(self.snapshot(), views)
        ]
