"""What the web UI shows, as JSON-ready dicts: one method per page of the UI and per
endpoint of the JSON API (``parity.serve.catalog_api``), which sends them unchanged.

A :class:`Console` holds the store and the retraining loop's model registry and ledger,
opened once and reused; it keeps no other state: every answer is read from what parity
already stores (registry, sync runs, monitoring tables, quarantine, model registry).

Admin actions (:meth:`Console.act`) go through the same public calls as the CLI
(``FeatureStore.promote`` ... and ``parity.monitor.store_unblock``), so they land in the
same audit log, under the acting key's name.

Example:
    >>> console = Console(FeatureStore("my_repo"))  # doctest: +SKIP
    >>> console.catalog(query="owner:fraud")["total"]  # doctest: +SKIP
    3
"""

from __future__ import annotations

import enum
import json
import threading
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from parity.errors import InvalidTransition, ObjectNotFound
from parity.registry import ObjectKind, RegistrySnapshot, VersionState
from parity.ui.catalog import (
    CatalogIndex,
    catalog_index,
    object_versions,
    parse_kind,
    resolve_version,
    search_catalog,
    version_diff,
)
from parity.ui.lineage import LineageGraph, ModelFacts, build_lineage

if TYPE_CHECKING:
    from pathlib import Path

    from parity.retrain.wiring import Loop
    from parity.store import FeatureStore

ALIASES = ("champion", "challenger", "previous")
_RECENT = 200


class Action(enum.StrEnum):
    """An admin action of the UI; each one asks for a message and is audited."""

    # A pending or deprecated version starts serving (a view must be validated).
    PROMOTE = "promote"
    # A serving version is deprecated: consumers should move off it.
    DEPRECATE = "deprecate"
    # A pending or deprecated version is retired for good (online values removed).
    RETIRE = "retire"
    # A view version blocked by the consistency policy may serve again.
    UNBLOCK = "unblock"


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


class Console:
    """The UI's reads and actions over one feature store.

    Example:
        >>> Console(FeatureStore("my_repo")).models()["models"][0]["name"]  # doctest: +SKIP
        'fraud_model'
    """

    def __init__(self, store: FeatureStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._snapshot: RegistrySnapshot | None = None
        self._index: tuple[int, CatalogIndex] | None = None
        self._lineage: tuple[int, list[ModelFacts], LineageGraph] | None = None

    def snapshot(self) -> RegistrySnapshot:
        """The registry's snapshot, read again only when its generation moved.

        Reading 5,000 versions costs ~300 ms (their JSON definitions); checking the
        generation is one row (benchmarks/ui.py). The copy is the registry's own data,
        never stale past the next write.
        """
        generation = self.store.registry.generation(self.store.project)
        cached = self._snapshot
        if cached is not None and cached.generation == generation:
            return cached
        with self._lock:
            cached = self._snapshot
            if cached is None or cached.generation != generation:
                cached = self.store.snapshot()
                self._snapshot = cached
            return cached

    def _catalog_index(self) -> CatalogIndex:
        snapshot = self.snapshot()
        cached = self._index
        if cached is not None and cached[0] == snapshot.generation:
            return cached[1]
        index = catalog_index(snapshot)
        self._index = (snapshot.generation, index)
        return index

    @cached_property
    def loop(self) -> Loop:
        """The model registry and retraining ledger, opened on first use."""
        from parity.retrain.wiring import open_loop

        return open_loop(self.store.retraining)

    def close(self) -> None:
        """Release the model registry and ledger (the store is the caller's)."""
        if "loop" in self.__dict__:
            self.loop.close()

    @property
    def _monitoring(self) -> Path:
        return self.store.storage.monitoring_root

    # --- catalog -----------------------------------------------------------------------

    def catalog(self, *, query: str = "", kind: str | None = None) -> dict[str, Any]:
        """Catalog rows matching ``query`` (see :mod:`parity.ui.catalog`)."""
        return search_catalog(
            self._catalog_index(), self.loop.registry.names(), query=query, kind=kind
        )

    def object(self, kind: str, name: str) -> dict[str, Any]:
        """Every version of one entity, view or service, with state and definition."""
        return object_versions(self.snapshot(), parse_kind(kind), name)

    def diff(self, kind: str, name: str, old: int, new: int) -> dict[str, Any]:
        """The classified differences between two versions of one object."""
        return version_diff(self.snapshot(), parse_kind(kind), name, old, new)

    def audit_log(self, *, name: str | None = None, limit: int = _RECENT) -> dict[str, Any]:
        """Who changed what, when and why, newest first."""
        entries = self.store.history(name or None, limit=limit)
        return {
            "name": name or None,
            "entries": [
                {
                    "id": e.id,
                    "at": e.at.isoformat(),
                    "actor": e.actor,
                    "action": e.action,
                    "kind": e.kind.value,
                    "name": e.name,
                    "version": e.version,
                    "change_class": e.change_class,
                    "summary": e.summary,
                    "message": e.message,
                }
                for e in entries
            ],
        }

    # --- lineage -----------------------------------------------------------------------

    def _model_facts(self) -> list[ModelFacts]:
        registry = self.loop.registry
        aliases = registry.all_aliases()
        return [
            ModelFacts(
                name,
                tuple(
                    (v.version, v.lineage.feature_service, v.lineage.training_dataset)
                    for v in versions
                ),
                aliases.get(name, {}),
            )
            for name, versions in sorted(registry.all_versions().items())
        ]

    def lineage_graph(self) -> LineageGraph:
        """The project's whole lineage graph (rebuilt only when the registry or the
        models changed: 5,000 view versions take ~100 ms to walk)."""
        snapshot = self.snapshot()
        facts = self._model_facts()
        cached = self._lineage
        if cached is not None and cached[0] == snapshot.generation and cached[1] == facts:
            return cached[2]
        graph = build_lineage(snapshot, facts)
        self._lineage = (snapshot.generation, facts, graph)
        return graph

    def lineage(self, node: str | None = None) -> dict[str, Any]:
        """The lineage around ``node`` (upstream and downstream), or the whole graph."""
        graph = self.lineage_graph()
        return graph.to_dict() if not node else graph.focus(node)

    # --- freshness and consistency -----------------------------------------------------

    def view_health(self, ref: str) -> dict[str, Any]:
        """Sync runs (outcomes, rejects, delay), freshness now, consistency audits and
        serving blocks of one view version, newest first."""
        import pyarrow.compute as pc

        # Stored audits have no public reader in parity.monitor.monitoring yet.
        from parity.monitor.audit import AUDITS_TABLE, audits_schema
        from parity.monitor.records import read_records

        snapshot = self.snapshot()
        record = resolve_version(snapshot, ref, ObjectKind.FEATURE_VIEW)
        runs = self.store.registry.sync_records(
            self.store.project, record.name, record.version, limit=_RECENT
        )
        # Live online versions only: the monitor reports no freshness for the others.
        reports = self.store.monitoring.freshness([record.name])
        freshness = next((r.to_dict() for r in reports if r.ref == record.ref), None)
        audits = read_records(self._monitoring, AUDITS_TABLE, audits_schema())
        mine = audits.filter(
            pc.and_(
                pc.equal(audits["view"], record.name), pc.equal(audits["version"], record.version)
            )
        ).sort_by([("at", "descending")])
        block = self.store.monitoring.blocked().get(record.ref)
        return {
            "ref": record.ref,
            "name": record.name,
            "version": record.version,
            "state": record.state.value,
            "versions": [
                {"ref": r.ref, "state": r.state.value}
                for r in snapshot.history_of(ObjectKind.FEATURE_VIEW, record.name)
            ],
            "freshness": freshness,
            "blocked": None if block is None else {"ref": block.ref, **block.to_dict()},
            "syncs": [
                {
                    "run_id": r.run_id,
                    "started_at": r.started_at.isoformat(),
                    "finished_at": None if r.finished_at is None else r.finished_at.isoformat(),
                    "outcome": r.outcome,
                    "watermark": None if r.watermark is None else r.watermark.isoformat(),
                    "rows_read": r.rows_read,
                    "rows_written": r.rows_written,
                    "rows_rejected": r.rows_rejected,
                    "delay_seconds": r.delay_seconds,
                    "rejections": _jsonable(r.details.get("rejections", {})),
                    "validation": _jsonable(r.details.get("validation")),
                    "mode": r.details.get("mode"),
                }
                for r in runs
            ],
            "audits": [
                {k: _jsonable(v) for k, v in row.items() if k != "report"}
                for row in mine.slice(0, _RECENT).to_pylist()
            ],
        }

    def blocks(self) -> dict[str, Any]:
        """Every view version the consistency policy blocked from serving."""
        found = self.store.monitoring.blocked()
        return {"blocked": [{"ref": ref, **b.to_dict()} for ref, b in sorted(found.items())]}

    def quarantine(self, *, view: str | None = None, limit: int = _RECENT) -> dict[str, Any]:
        """Rejected rows with their reasons, newest first (of one view, or all)."""
        from parity.offline.quarantine_table import quarantined_views, read_quarantine

        root = self.store.storage.quarantine_root
        rows = read_quarantine(root, view=view or None, limit=limit)
        return {
            "view": view or None,
            "views": quarantined_views(root),
            "rows": [_jsonable(r.to_dict()) for r in rows],
        }

    # --- drift, performance, alerts ----------------------------------------------------

    def datasets(self) -> list[str]:
        """Training datasets of registered model versions (drift references), sorted."""
        every = self.loop.registry.all_versions().values()
        return sorted({v.lineage.training_dataset for versions in every for v in versions})

    def drift(
        self,
        *,
        dataset: str | None = None,
        model: str | None = None,
        window: timedelta = timedelta(days=1),
    ) -> dict[str, Any]:
        """Served values against a training dataset's reference distributions (PSI, KS or
        chi-square per feature), the model's metrics per window with drift-error links,
        and the monitor's and the retraining loop's alerts."""
        monitoring = self.store.monitoring
        datasets = self.datasets()
        models = self.loop.registry.names()
        dataset = dataset or (datasets[-1] if datasets else None)
        model = model or (models[0] if models else None)
        report = None
        note = None
        if dataset is not None:
            try:
                found = monitoring.served_drift(dataset)
                report = {**found.to_dict(), "status": found.status.value}
            except ObjectNotFound as exc:  # no request log yet: nothing served to compare
                note = str(exc)
        overview = None
        if model is not None:
            champion = self.loop.registry.alias(model, "champion")
            overview = monitoring.performance(
                model, window=window, dataset=dataset,
                validation=None if champion is None else dict(champion.lineage.metrics),
            ).to_dict()  # fmt: skip
        newest = monitoring.stored_alerts().slice(0, _RECENT).to_pylist()
        return {
            "dataset": dataset,
            "datasets": datasets,
            "model": model,
            "models": models,
            "window_seconds": window.total_seconds(),
            "drift": _jsonable(report),
            "drift_note": note,
            "performance": _jsonable(overview),
            "alerts": [_jsonable({k: v for k, v in a.items() if k != "evidence"}) for a in newest],
            "loop_alerts": [_jsonable(a) for a in reversed(self.loop.ledger.alerts())][:_RECENT],
        }

    # --- models ------------------------------------------------------------------------

    def models(self) -> dict[str, Any]:
        """Every registered model: its versions, newest version and aliases."""
        registry = self.loop.registry
        aliases = registry.all_aliases()
        out = []
        for name, versions in sorted(registry.all_versions().items()):
            roles = aliases.get(name, {})
            out.append(
                {
                    "name": name,
                    "versions": len(versions),
                    "latest": versions[-1].ref if versions else None,
                    "aliases": {a: roles.get(a) for a in ALIASES},
                }
            )
        return {"models": out}

    def model(self, name: str) -> dict[str, Any]:
        """One model: versions with lineage and metrics, aliases, trigger decisions, gate
        decisions, retraining runs with their steps, alerts, half-done transitions."""
        registry = self.loop.registry
        ledger = self.loop.ledger
        versions = registry.versions(name)
        if not versions:
            from parity.errors import did_you_mean

            known = registry.names()
            raise ObjectNotFound(f"Unknown model {name!r}.{did_you_mean(name, known)}")
        aliases = {a: getattr(registry.alias(name, a), "version", None) for a in ALIASES}
        runs = []
        for run in reversed(ledger.runs(name)):
            steps = ledger.steps(run.run_id)
            runs.append(
                {
                    "run_id": run.run_id,
                    "state": run.state.value,
                    "trigger": run.trigger,
                    "started_at": _jsonable(run.started_at),
                    "finished_at": _jsonable(run.finished_at),
                    "steps": [
                        {
                            "step": s["step"],
                            "state": s["state"],
                            "started_at": _jsonable(s["started_at"]),
                            "finished_at": _jsonable(s["finished_at"]),
                            "output": _jsonable(
                                {
                                    k: v
                                    for k, v in (s["output"] or {}).items()
                                    if k != "service_pins"
                                }
                            ),
                        }
                        for s in steps
                    ],
                    "gate": _jsonable(run.details.get("gate")),
                }
            )
        return {
            "name": name,
            "aliases": aliases,
            "versions": [
                {
                    "version": v.version,
                    "ref": v.ref,
                    "created_at": None if v.created_at is None else v.created_at.isoformat(),
                    "roles": [a for a, x in aliases.items() if x == v.version],
                    "feature_service": v.lineage.feature_service,
                    "training_dataset": v.lineage.training_dataset,
                    "metrics": dict(v.lineage.metrics),
                    "code_fingerprint": v.lineage.code_fingerprint,
                    "run_id": v.lineage.run_id,
                    "features": list(v.lineage.feature_names),
                }
                for v in reversed(versions)
            ],
            "decisions": [_jsonable(d) for d in reversed(ledger.decisions(name))],
            "runs": runs,
            "alerts": [_jsonable(a) for a in reversed(ledger.alerts(name))],
            "pending_transitions": [
                {"kind": t.kind, "target": dict(t.target)}
                for t in ledger.transitions(name, pending=True)
            ],
            # Live shadow and canary evidence arrives with issue #20; the UI keeps its place.
            "rollout_evidence": None,
        }

    # --- admin actions -----------------------------------------------------------------

    def act(self, action: str, ref: str, *, message: str, actor: str) -> dict[str, Any]:
        """Run one admin action on ``ref`` (``name@vN``) as ``actor``, with ``message``.

        Example:
            >>> console.act("promote", "stats@v2", message="ok", actor="ops")  # doctest: +SKIP
            {'action': 'promote', 'ref': 'stats@v2', 'state': 'serving'}
        """
        try:
            chosen = Action(action)
        except ValueError:
            known = ", ".join(a.value for a in Action)
            raise InvalidTransition(f"Unknown action {action!r}. Actions: {known}.") from None
        if not message.strip():
            raise InvalidTransition(f"{chosen.value} {ref}: a message saying why is required.")
        if chosen is Action.UNBLOCK:
            from parity.monitor.blocking import store_unblock

            record = resolve_version(self.snapshot(), ref, ObjectKind.FEATURE_VIEW)
            store_unblock(
                self._monitoring, record.name, record.version, message=message, actor=actor
            )
            return {"action": chosen.value, "ref": record.ref, "state": record.state.value}
        move = {
            Action.PROMOTE: self.store.promote,
            Action.DEPRECATE: self.store.deprecate,
            Action.RETIRE: self.store.retire,
        }[chosen]
        moved = move(ref, message=message, actor=actor)
        return {"action": chosen.value, "ref": moved.ref, "state": moved.state.value}

    @staticmethod
    def actions_for(state: str) -> list[str]:
        """The lifecycle actions a version in ``state`` allows.

        Example:
            >>> Console.actions_for("pending")
            ['promote', 'retire']
        """
        from parity.registry.base import TRANSITIONS

        targets = TRANSITIONS[VersionState(state)]
        by_target = {
            VersionState.SERVING: Action.PROMOTE,
            VersionState.DEPRECATED: Action.DEPRECATE,
            VersionState.RETIRED: Action.RETIRE,
        }
        return [by_target[t].value for t in by_target if t in targets]


def dumps_pretty(value: Any) -> str:
    """Indented JSON for the pages' definition panels.

    Example:
        >>> dumps_pretty({"a": 1})
        '{\\n  "a": 1\\n}'
    """
    return json.dumps(value, indent=2, default=str, sort_keys=False)
