"""parity's packages form layers without cycles (docs/architecture.md, "Layers").

Imports are read from the source with ``ast``: type-only (``if TYPE_CHECKING:``) and
function-level imports count, because a cycle a reader has to follow is still a cycle.
The one sanctioned upward edge is the configuration root: ``parity.config`` may import each
package's *leaf* ``config`` module (``parity.serve.config`` holds the server's settings), and
those leaf modules never import the packages above them.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import parity

SRC = Path(parity.__file__).parent

# docs/architecture.md, "Layers": a package imports only packages of a lower or equal rank
# (equal ranks are siblings; the cycle check below keeps them acyclic).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("parity.errors",),
    ("parity.types", "parity.storage", "parity.backends"),
    ("parity.definitions",),
    ("parity.registry",),
    ("parity.offline", "parity.online"),
    ("parity.sync",),
    ("parity.monitor",),
    ("parity.retrieval",),
    ("parity.stream",),
    ("parity.cdc",),
    ("parity.push",),
    ("parity.retrain",),
    ("parity.config",),
    ("parity.store",),
    ("parity.ui",),
    ("parity.serve",),
    ("parity.cli",),
)
RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}
# Beside the layers: the package root re-exports the public API; the client and the example
# repository import only leaves and retrieval types.
BESIDE = {"parity", "parity.__main__", "parity.client", "parity.scaffold"}
UPPER = ("parity.config", "parity.store", "parity.serve", "parity.cli")


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _parity_imports() -> dict[str, set[str]]:
    """Module -> the parity modules it imports (resolved to modules that exist)."""
    modules = {_module_name(path): path for path in SRC.rglob("*.py")}
    found: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            targets.update(name for name in names if name in modules and name != module)
        found[module] = targets
    return found


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _is_leaf_config(module: str) -> bool:
    return module.rsplit(".", 1)[-1] == "config" and module != "parity.config"


IMPORTS = _parity_imports()


def _package_edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for module, targets in IMPORTS.items():
        for target in targets:
            if module == "parity.config" and _is_leaf_config(target):
                continue  # the configuration root assembles the leaf config models
            if _package(module) != _package(target):
                edges[_package(module)].add(_package(target))
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(set(edges) | {t for ts in edges.values() for t in ts}):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_between_packages() -> None:
    assert _cycles(_package_edges()) == []


def test_no_import_cycle_between_modules() -> None:
    assert _cycles({module: set(targets) for module, targets in IMPORTS.items()}) == []


def test_every_package_has_a_layer() -> None:
    packages = {_package(module) for module in IMPORTS}
    assert packages - set(RANK) - BESIDE == set()


def test_packages_import_only_their_own_layer_or_below() -> None:
    upward = sorted(
        (source, target)
        for source, targets in _package_edges().items()
        for target in targets
        if source in RANK and target in RANK and RANK[target] > RANK[source]
    )
    assert upward == []


def test_leaf_config_modules_never_import_the_layers_above_them() -> None:
    offenders = sorted(
        (module, target)
        for module, targets in IMPORTS.items()
        if _is_leaf_config(module)
        for target in targets
        if any(target == upper or target.startswith(upper + ".") for upper in UPPER)
        and not _is_leaf_config(target)
    )
    assert offenders == []


def test_the_checker_finds_a_cycle() -> None:
    # The check itself can fail: a two-package loop is reported.
    assert _cycles({"parity.a": {"parity.b"}, "parity.b": {"parity.a"}}) == [
        ["parity.a", "parity.b"]
    ]
