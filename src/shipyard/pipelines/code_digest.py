"""The code part of a step's cache key: its source plus the source of the project functions it
calls, found by walking names in the code objects through the function's globals (bounded).

"Project" means: defined in a file under the current working directory or under the step's
module folder, or in a module of the step's top-level package -- never the standard library or
site-packages, whose versions the environment lock already covers.
"""

from __future__ import annotations

import inspect
import os
import sysconfig
import threading
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from shipyard.artifacts.content import hash_bytes

MAX_FUNCTIONS = 200  # why: a bound keeps a huge project from making every key slow
MAX_DEPTH = 6
_LIBRARY_ROOTS = tuple(
    str(Path(p).resolve()) for key in ("stdlib", "platstdlib", "purelib", "platlib")
    if (p := sysconfig.get_paths().get(key))
)


def _names(code: types.CodeType) -> Iterator[str]:
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):  # nested functions, lambdas, comprehensions
            yield from _names(const)


class _Project:
    def __init__(self, fn: Callable[..., Any]) -> None:
        module = getattr(fn, "__module__", "") or ""
        self.package = module.split(".")[0]
        source = inspect.getsourcefile(fn) or ""
        roots = [Path.cwd().resolve()]
        if source:
            roots.append(Path(source).resolve().parent)
        self.roots = [str(r) for r in roots]

    def owns(self, obj: Any) -> bool:
        module = getattr(obj, "__module__", None) or ""
        if module.split(".")[0] == self.package and self.package not in ("", "__main__"):
            return True
        try:
            source = inspect.getsourcefile(obj)
        except TypeError:
            return False
        if not source:
            return False
        path = str(Path(source).resolve())
        if path.startswith(_LIBRARY_ROOTS):
            return False
        return any(path.startswith(root + os.sep) for root in self.roots)


def _source(obj: Any) -> bytes:
    try:
        return inspect.getsource(obj).encode()
    except (OSError, TypeError):  # defined in a REPL: the bytecode is the best we have
        code = getattr(obj, "__code__", None)
        return code.co_code if code is not None else repr(obj).encode()


# Why a lock: inspect.getsource of a class runs ast.parse, which is not thread-safe on
# CPython 3.11 (python/cpython#106905: "AST constructor recursion depth mismatch") and steps
# compute their digests on executor threads.
_source_lock = threading.Lock()


def code_digest(fn: Callable[..., Any]) -> str:
    """BLAKE3 of the sources of ``fn`` and of the project functions and classes it reaches."""
    with _source_lock:
        return _code_digest(fn)


def _code_digest(fn: Callable[..., Any]) -> str:
    fn = inspect.unwrap(getattr(fn, "fn", fn))
    project = _Project(fn)
    seen: dict[str, bytes] = {}
    queue: list[tuple[Any, int]] = [(fn, 0)]
    while queue and len(seen) < MAX_FUNCTIONS:
        obj, depth = queue.pop(0)
        obj = inspect.unwrap(getattr(obj, "fn", obj))  # a Step wraps its function in .fn
        key = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', repr(obj))}"
        if key in seen:
            continue
        seen[key] = _source(obj)
        if depth >= MAX_DEPTH:
            continue
        queue.extend((found, depth + 1) for found in _referenced(obj, project))
    text = b"\0".join(k.encode() + b"\n" + v for k, v in sorted(seen.items()))
    return hash_bytes(text).digest


def _referenced(obj: Any, project: _Project) -> Iterator[Any]:
    """Project functions and classes named in ``obj``'s code (through modules, too)."""
    if isinstance(obj, type):
        members = [m for m in vars(obj).values() if inspect.isfunction(m)]
        for member in members:
            yield from _referenced(member, project)
        return
    code = getattr(obj, "__code__", None)
    scope = getattr(obj, "__globals__", None)
    if code is None or scope is None:
        return
    names = set(_names(code))
    for name in names:
        value = scope.get(name)
        if isinstance(value, types.ModuleType):
            # Why: `helpers.clean(x)` names both `helpers` and `clean` in co_names.
            if not project.owns(value):
                continue
            for attr in names:
                found = getattr(value, attr, None)
                if _is_code(found) and project.owns(found):
                    yield found
        elif _is_code(value) and project.owns(value):
            yield value


def _is_code(value: Any) -> bool:
    return inspect.isfunction(value) or isinstance(value, type) or hasattr(value, "fn")
