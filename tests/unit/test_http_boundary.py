"""The HTTP adapter is a leaf: reading and pushing never import it, and it is imported only
by the CLI (and ``parity.config``, for the server's configuration model).

Imports are read from the source with ``ast``, type-only and function-level imports
included: a cycle through ``if TYPE_CHECKING:`` is still a cycle for a reader.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import parity

SRC = Path(parity.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
        found[_module_name(path)] = names
    return found


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


IMPORTS = _imports()
HTTP = ("parity.serve", "starlette", "uvicorn")


def test_retrieval_and_push_import_no_http_code_and_not_the_facade() -> None:
    offenders = {
        (module, name)
        for module, names in IMPORTS.items()
        if _within(module, "parity.retrieval") or _within(module, "parity.push")
        for name in names
        if any(_within(name, banned) for banned in (*HTTP, "parity.store", "parity.cli"))
    }
    assert offenders == set()


def test_stream_does_not_import_the_facade() -> None:
    offenders = {
        (module, name)
        for module, names in IMPORTS.items()
        if _within(module, "parity.stream")
        for name in names
        if _within(name, "parity.store")
    }
    assert offenders == set()


def test_the_ui_package_holds_no_http_code() -> None:
    # serve mounts the UI's pages and API; parity.ui is below it, so never imports it back.
    offenders = {
        (module, name)
        for module, names in IMPORTS.items()
        if _within(module, "parity.ui")
        for name in names
        if any(_within(name, banned) for banned in (*HTTP, "jinja2", "parity.cli"))
    }
    assert offenders == set()


def test_serve_is_imported_only_by_the_cli_and_for_its_config_model() -> None:
    offenders = {
        (module, name)
        for module, names in IMPORTS.items()
        if not _within(module, "parity.serve") and not _within(module, "parity.cli")
        for name in names
        if _within(name, "parity.serve")
        # parity.yaml's model embeds the server's section.
        and not (module == "parity.config" and _within(name, "parity.serve.config"))
    }
    assert offenders == set()


def test_import_parity_loads_no_server_code() -> None:
    code = (
        "import sys, parity; "
        "print(','.join(sorted(m for m in sys.modules "
        "if m.startswith(('starlette', 'uvicorn', 'parity.serve')))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert set(filter(None, result.stdout.strip().split(","))) <= {
        "parity.serve",
        "parity.serve.config",
    }
