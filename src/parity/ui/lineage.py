"""The lineage graph: source -> view version -> service version -> training dataset ->
model version -> deployment (a model alias), walkable both ways.

Built from what parity already stores: view specs name their source, service versions
pin view versions, model versions record their service version and training dataset,
aliases say which version is deployed as what.

Example:
    >>> graph = LineageGraph()
    >>> graph.add("view:a@v1", "feature_view", "a@v1")
    >>> graph.add("service:s@v1", "feature_service", "s@v1")
    >>> graph.link("view:a@v1", "service:s@v1")
    >>> sorted(graph.focus("service:s@v1")["nodes"])
    ['service:s@v1', 'view:a@v1']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from parity.errors import ObjectNotFound, did_you_mean
from parity.registry import ObjectKind, RegistrySnapshot

# Left to right: the order of the graph's columns.
LAYERS = ("source", "feature_view", "feature_service", "dataset", "model", "deployment")


@dataclass(frozen=True)
class ModelFacts:
    """What the lineage needs of one registered model: its versions' lineage and aliases.

    ``versions`` are ``(version, feature service ref, training dataset)``; ``aliases`` map
    an alias (``champion``) to the version it points at.

    Example:
        >>> ModelFacts("fraud", ((1, "fraud@v1", "fraud__r1"),), {"champion": 1}).name
        'fraud'
    """

    name: str
    versions: Sequence[tuple[int, str, str]]
    aliases: Mapping[str, int]


@dataclass
class LineageGraph:
    """Nodes (id -> attributes) and directed edges, upstream to downstream."""

    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    down: dict[str, list[str]] = field(default_factory=dict)
    up: dict[str, list[str]] = field(default_factory=dict)

    def add(self, node_id: str, kind: str, label: str, **attrs: Any) -> None:
        """Add a node (the first description of a node wins)."""
        if node_id not in self.nodes:
            self.nodes[node_id] = {"id": node_id, "kind": kind, "label": label, **attrs}

    def link(self, source: str, target: str) -> None:
        """An edge ``source -> target`` (both must exist; duplicates are ignored)."""
        if target not in self.down.setdefault(source, []):
            self.down[source].append(target)
            self.up.setdefault(target, []).append(source)

    def _walk(self, start: str, edges: Mapping[str, list[str]]) -> list[str]:
        seen = {start}
        order: list[str] = []
        stack = [start]
        while stack:
            for nxt in edges.get(stack.pop(), []):
                if nxt not in seen:
                    seen.add(nxt)
                    order.append(nxt)
                    stack.append(nxt)
        return order

    def focus(self, node_id: str) -> dict[str, Any]:
        """The node, everything upstream and everything downstream of it, with edges."""
        if node_id not in self.nodes:
            raise ObjectNotFound(
                f"No lineage node {node_id!r}.{did_you_mean(node_id, list(self.nodes))}"
            )
        upstream = self._walk(node_id, self.up)
        downstream = self._walk(node_id, self.down)
        return self.to_dict(
            [node_id, *upstream, *downstream],
            focus=node_id,
            upstream=upstream,
            downstream=downstream,
        )

    def to_dict(
        self,
        ids: Sequence[str] | None = None,
        *,
        focus: str | None = None,
        upstream: Sequence[str] = (),
        downstream: Sequence[str] = (),
    ) -> dict[str, Any]:
        """JSON form: nodes by layer, edges, and each node's direct neighbours."""
        keep = list(self.nodes) if ids is None else list(dict.fromkeys(ids))
        kept = set(keep)
        nodes = {
            i: {
                **self.nodes[i],
                "upstream": [u for u in self.up.get(i, []) if u in kept],
                "downstream": [d for d in self.down.get(i, []) if d in kept],
            }
            for i in keep
        }
        layers = {
            layer: sorted((i for i in keep if self.nodes[i]["kind"] == layer), key=str)
            for layer in LAYERS
        }
        edges = [[s, t] for s in keep for t in self.down.get(s, []) if t in kept]
        return {
            "focus": focus,
            "upstream": list(upstream),
            "downstream": list(downstream),
            "layers": layers,
            "nodes": nodes,
            "edges": edges,
        }


def _source_id(source: Mapping[str, Any] | None) -> tuple[str, str]:
    if not source:
        return "source:(none)", "(no source)"
    label = str(source.get("name") or source.get("path") or source.get("type") or "source")
    return f"source:{label}", f"{source.get('type', 'source')}: {label}"


def build_lineage(snapshot: RegistrySnapshot, models: Sequence[ModelFacts]) -> LineageGraph:
    """The whole project's lineage graph.

    Example:
        >>> build_lineage(store.snapshot(), []).nodes  # doctest: +SKIP
    """
    graph = LineageGraph()
    for name in snapshot.names(ObjectKind.FEATURE_VIEW):
        for record in snapshot.history_of(ObjectKind.FEATURE_VIEW, name):
            source_id, source_label = _source_id(record.spec.get("source"))
            graph.add(source_id, "source", source_label)
            view_id = f"view:{record.ref}"
            graph.add(view_id, "feature_view", record.ref, state=record.state.value, name=name)
            graph.link(source_id, view_id)
    for name in snapshot.names(ObjectKind.FEATURE_SERVICE):
        for record in snapshot.history_of(ObjectKind.FEATURE_SERVICE, name):
            service_id = f"service:{record.ref}"
            graph.add(
                service_id, "feature_service", record.ref, state=record.state.value, name=name
            )
            for pin in snapshot.pins.get((name, record.version), ()):
                view_id = f"view:{pin.view}@v{pin.view_version}"
                if view_id in graph.nodes:
                    graph.link(view_id, service_id)
    for model in models:
        for version, service, dataset in model.versions:
            model_id = f"model:{model.name}@v{version}"
            graph.add(model_id, "model", f"{model.name}@v{version}", name=model.name)
            dataset_id = f"dataset:{dataset}"
            graph.add(dataset_id, "dataset", dataset)
            service_id = f"service:{service}"
            if service_id in graph.nodes:
                graph.link(service_id, dataset_id)
            graph.link(dataset_id, model_id)
        for alias, version in sorted(model.aliases.items()):
            model_id = f"model:{model.name}@v{version}"
            if model_id in graph.nodes:
                deployment_id = f"deployment:{model.name}:{alias}"
                graph.add(deployment_id, "deployment", f"{model.name} {alias}", name=model.name)
                graph.link(model_id, deployment_id)
    return graph
