"""The fingerprint of a Python function's code, as a registry can compare it.

A row transform's function cannot be stored in the registry, so its *code* is
fingerprinted instead: the SHA-256 of the function's syntax tree (``ast.dump``), so
reformatting, comments and the docstring do not count, but any change to what it
computes does. The fingerprint also covers what the function reads from outside itself:
scalar constants it captures or reads as globals (``factor = 1.5``) and, recursively,
module-level functions it calls that are defined in Python source (a helper's change is a
change of the transform). Library functions (``numpy.log``) are named, not hashed.

When no source is available (a function built in a REPL, or by ``exec``), the compiled
bytecode and constants are hashed instead: stable within one Python version only.

Example:
    >>> def ratio(df):
    ...     return {"r": df["a"] / df["b"]}
    >>> len(code_fingerprint(ratio))
    64
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import linecache
import tokenize
from collections.abc import Callable
from types import CodeType, FunctionType
from typing import Any

_SCALARS = (int, float, str, bool, bytes, type(None))
_MAX_DEPTH = 8


def _function_node(code: CodeType) -> ast.AST | None:
    """The ``def`` or ``lambda`` node of ``code`` in its source file, if it can be found."""
    try:
        # The file as it is now, not linecache's copy: a repository reloaded after an
        # edit must see the edit (linecache may hold the old text).
        with tokenize.open(code.co_filename) as file:
            text = file.read()
    except (OSError, SyntaxError):
        text = "".join(linecache.getlines(code.co_filename))  # a REPL or notebook cell
    if not text:
        return None
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    first = code.co_firstlineno
    if code.co_name == "<lambda>":
        lambdas = [n for n in ast.walk(tree) if isinstance(n, ast.Lambda) and n.lineno == first]
        if len(lambdas) > 1:
            # Several lambdas on one line: the one whose span holds this code's instructions.
            columns = [
                col
                for line, _, col, _ in code.co_positions()
                if line == first and col is not None and col > 0
            ]
            lambdas = [
                n
                for n in lambdas
                if any(n.col_offset <= c <= (n.end_col_offset or c) for c in columns)
            ] or lambdas
        return lambdas[0] if lambdas else None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == code.co_name:
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if first in (start, node.lineno):
                return node
    return None


def _normalised(node: ast.AST) -> str:
    """``ast.dump`` of the node without its name and docstring (neither changes values)."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        body = node.body
        if (
            body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            body = body[1:]
        node = ast.FunctionDef(
            name="_",
            args=node.args,
            body=body,
            decorator_list=node.decorator_list,
            returns=node.returns,
            type_comment=None,
        )
    return ast.dump(node, annotate_fields=True, include_attributes=False)


def _bytecode(code: CodeType) -> str:
    consts = [_bytecode(c) if isinstance(c, CodeType) else repr(c) for c in code.co_consts]
    return f"{code.co_code.hex()}|{consts}|{code.co_names}"


def _outside_values(function: FunctionType, depth: int, seen: set[int]) -> list[str]:
    """What the function reads from outside itself, as stable text."""
    try:
        captured = inspect.getclosurevars(function)
    except (TypeError, ValueError):
        return []
    parts: list[str] = []
    for scope, values in (("nonlocal", captured.nonlocals), ("global", captured.globals)):
        for name in sorted(values):
            value = values[name]
            if isinstance(value, _SCALARS):
                parts.append(f"{scope}:{name}={value!r}")
            elif isinstance(value, FunctionType) and depth < _MAX_DEPTH:
                parts.append(f"{scope}:{name}=" + _digest(value, depth + 1, seen))
    return parts


def _digest(function: FunctionType, depth: int, seen: set[int]) -> str:
    if id(function) in seen:
        return f"<recursive {function.__qualname__}>"
    seen.add(id(function))
    code = function.__code__
    node = _function_node(code)
    body = _normalised(node) if node is not None else "bytecode:" + _bytecode(code)
    return hashlib.sha256(
        "\n".join([body, *_outside_values(function, depth, seen)]).encode("utf-8")
    ).hexdigest()


def code_fingerprint(function: Callable[..., Any]) -> str:
    """SHA-256 (hex) of ``function``'s code and of the outside values it reads.

    A ``functools.partial`` is fingerprinted through its function and its arguments'
    ``repr``; a callable object through its class's ``__call__``.

    Example:
        >>> code_fingerprint(lambda df: df) == code_fingerprint(lambda df:  df)
        True
    """
    if isinstance(function, FunctionType):
        return _digest(function, 0, set())
    inner = getattr(function, "func", None)
    if isinstance(inner, FunctionType):
        arguments = f"{getattr(function, 'args', ())!r}|{getattr(function, 'keywords', {})!r}"
        text = f"partial:{_digest(inner, 0, set())}|{arguments}"
    else:
        call = type(function).__dict__.get("__call__")
        body = _digest(call, 0, set()) if isinstance(call, FunctionType) else "?"
        text = f"object:{type(function).__qualname__}:{body}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
