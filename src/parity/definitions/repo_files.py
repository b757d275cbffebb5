"""The definition files of a feature repository, and importing them once.

A repository's definition files are its ``*.py`` files, less those in hidden folders,
``data/``, ``__pycache__`` and virtual environments, and less those a ``.parityignore`` file
at the repository's root lists (one glob a line, ``#`` comments; a pattern without ``/``
matches a file or folder name anywhere, a pattern with ``/`` matches the path from the root;
a folder's pattern ignores everything inside it).

Importing is not re-entrant: a file that loads the repository again while it is being
loaded (a helper script calling ``FeatureStore(".").apply()``) is refused with one error
naming that file and line, instead of recursing until Python gives up.

Example:
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / "views.py").write_text("answer = 42")
    >>> _ = (root / "scripts").mkdir()
    >>> _ = (root / "scripts" / "backfill.py").write_text("raise SystemExit")
    >>> _ = (root / ".parityignore").write_text("scripts/\\n")
    >>> [p.name for p in definition_files(root)]
    ['views.py']
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from fnmatch import fnmatchcase
from pathlib import Path

from parity.errors import RepoImportError

__all__ = ["IGNORE_FILE", "definition_files", "ignore_patterns", "import_definitions"]

IGNORE_FILE = ".parityignore"
"""The file, at a repository's root, listing what is not a definition file."""

_SKIP_DIRS = frozenset({"__pycache__", "data", "venv", ".venv", "node_modules", "site-packages"})


class _ReentrantLoad(RepoImportError):
    """The repository was loaded again from one of its own files (re-raised with its line)."""


# The repository being imported in this thread of control, if any: a definition file that
# loads it again is refused instead of recursing.
_loading: ContextVar[Path | None] = ContextVar("parity_repo_loading", default=None)


def ignore_patterns(root: Path) -> tuple[str, ...]:
    """The patterns of ``root/.parityignore`` (none when the file does not exist).

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> _ = (root / ".parityignore").write_text("# helpers\\nscripts/\\n*_test.py\\n")
        >>> ignore_patterns(root)
        ('scripts', '*_test.py')
    """
    path = root / IGNORE_FILE
    if not path.is_file():
        return ()
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return tuple(line.strip("/") for line in lines if line and not line.startswith("#"))


def _ignored(parts: tuple[str, ...], patterns: tuple[str, ...]) -> bool:
    for pattern in patterns:
        if "/" not in pattern:
            if any(fnmatchcase(part, pattern) for part in parts):
                return True
        elif any(fnmatchcase("/".join(parts[:i]), pattern) for i in range(1, len(parts) + 1)):
            return True
    return False


def definition_files(root: Path) -> list[Path]:
    """The definition files under ``root``, sorted: see the module docstring for the rules.

    Example:
        >>> import tempfile
        >>> definition_files(Path(tempfile.mkdtemp()))
        []
    """
    patterns = ignore_patterns(root)
    files = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if any(p.startswith(".") or p in _SKIP_DIRS for p in parts[:-1]):
            continue
        if not _ignored(parts, patterns):
            files.append(path)
    return files


@contextmanager
def _not_reentrant(root: Path) -> Iterator[None]:
    outer = _loading.get()
    if outer is not None:
        raise _ReentrantLoad(
            f"The feature repository {str(root)!r} was loaded again while {str(outer)!r} was "
            "being loaded: a file of the repository loads it (e.g. calls FeatureStore.apply) "
            "when imported."
        )
    token = _loading.set(root)
    try:
        yield
    finally:
        _loading.reset(token)


def _failing_line(exc: BaseException, path: Path) -> int | str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]
    return (frames[-1].lineno or "?") if frames else "?"


def _import_file(path: Path, root: Path, prefix: str) -> dict[str, object]:
    rel = path.relative_to(root).as_posix()
    module_name = prefix + rel[:-3].replace("/", "_").replace("-", "_")
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise RepoImportError(f"{rel}: not importable as a Python file.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise RepoImportError(
            f"{rel}:{exc.lineno}: syntax error: {exc.msg}. Fix the file and run the command again."
        ) from exc
    except _ReentrantLoad as exc:
        raise RepoImportError(
            f"{rel}:{_failing_line(exc, path)}: this file loads the feature repository when "
            f"imported, and it is itself in the repository. Move it out of the repository "
            f"folder or list it in {IGNORE_FILE}."
        ) from None
    except Exception as exc:
        raise RepoImportError(
            f"{rel}:{_failing_line(exc, path)}: importing the definition file failed: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    finally:
        sys.modules.pop(module_name, None)
    return vars(module)


def import_definitions(
    root: Path, kinds: tuple[type, ...], *, prefix: str = "parity_repo_"
) -> list[tuple[object, str]]:
    """Import every definition file of ``root`` (files may import each other, as
    ``from features import user``) and return the module-level objects of ``kinds``, each
    with the file that defined it.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> _ = (root / "numbers.py").write_text("answer = 42")
        >>> import_definitions(root, (int,))
        [(42, 'numbers.py')]
    """
    found: list[tuple[object, str]] = []
    with _not_reentrant(root):
        sys.path.insert(0, str(root))
        modules_before = set(sys.modules)
        try:
            for path in definition_files(root):
                rel = path.relative_to(root).as_posix()
                values = _import_file(path, root, prefix).values()
                found.extend((value, rel) for value in values if isinstance(value, kinds))
        finally:
            sys.path.remove(str(root))
            # Modules that definition files imported from each other must not outlive this
            # load: the next load, of this or another repository, would reuse them.
            for name in set(sys.modules) - modules_before:
                file = getattr(sys.modules[name], "__file__", None)
                if file and Path(file).resolve().is_relative_to(root):
                    del sys.modules[name]
    return found
