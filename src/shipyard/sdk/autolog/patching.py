"""Reversible patches of library functions, and the guard that logs only the outermost fit.

A patch replaces ``owner.name`` (a class's ``fit``, a module's ``train``) with a wrapper and
remembers what ``owner.__dict__`` held before -- the function, or nothing when the class only
inherited it -- so :func:`unpatch_all` puts every class and module back exactly as it was.

The guard is a :class:`~contextvars.ContextVar`: while one patched fit logs, fits it makes
(a Pipeline fitting its steps, GridSearchCV fitting candidates, ``LGBMClassifier.fit`` calling
``LGBMModel.fit``) run unlogged. Fits that an outer fit hands to other *threads* do not see the
guard; processes (joblib's default backend) do not see the patches at all.
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger("shipyard.autolog")

_MISSING = object()
_MARK = "__shipyard_autolog__"


@dataclass(frozen=True)
class AutologConfig:
    log_models: bool = True
    registered_model_name: str | None = None


@dataclass(frozen=True)
class _Patch:
    owner: Any
    name: str
    before: Any  # what owner.__dict__ held, or _MISSING when the attribute was inherited


class Fit(Protocol):
    """One outer fit being logged: made before the library call, which it may adjust."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    def begin(self) -> None: ...

    def finish(self, result: Any) -> None: ...

    def end(self, failed: bool) -> None: ...


FitFactory = Callable[[Callable[..., Any], tuple[Any, ...], dict[str, Any]], Fit]

_inside_fit: ContextVar[bool] = ContextVar("shipyard_autolog_inside_fit", default=False)
_patches: list[_Patch] = []
_config: AutologConfig | None = None
lock = threading.RLock()


def config() -> AutologConfig | None:
    """The settings of the enabled autolog, or None when it is off."""
    return _config


def set_config(value: AutologConfig | None) -> None:
    global _config  # noqa: PLW0603 - patches are process-wide, so is their configuration
    _config = value


def patch(owner: Any, name: str, factory: FitFactory) -> bool:
    """Wrap ``owner.name`` (a plain function, own or inherited); False when it is not one or
    is wrapped already (also through a patched base class)."""
    current = inspect.getattr_static(owner, name, None)
    if not inspect.isfunction(current) or getattr(current, _MARK, False):
        return False
    before = owner.__dict__.get(name, _MISSING)
    setattr(owner, name, _wrap(current, factory))
    _patches.append(_Patch(owner, name, before))
    return True


def unpatch_all() -> int:
    """Undo every patch, newest first; returns how many there were."""
    count = len(_patches)
    while _patches:
        found = _patches.pop()
        if found.before is _MISSING:
            delattr(found.owner, found.name)
        else:
            setattr(found.owner, found.name, found.before)
    return count


def patched() -> list[tuple[Any, str]]:
    return [(p.owner, p.name) for p in _patches]


def attempt(what: str, action: Callable[[], Any]) -> Any:
    """Run one logging step; a failure becomes a warning, never the user's problem."""
    try:
        return action()
    except Exception as exc:
        log.warning("shipyard autolog could not %s: %s: %s (the fit itself is not affected)",
                    what, type(exc).__name__, exc)
        return None


def _wrap(original: Callable[..., Any], factory: FitFactory) -> Callable[..., Any]:
    @functools.wraps(original)  # keeps the signature: scikit-learn inspects fit's parameters
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _config is None or _inside_fit.get():
            return original(*args, **kwargs)
        token = _inside_fit.set(True)
        try:
            return _logged_call(original, factory, args, kwargs)
        finally:
            _inside_fit.reset(token)

    setattr(wrapper, _MARK, True)
    return wrapper


def _logged_call(original: Callable[..., Any], factory: FitFactory, args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> Any:
    name = getattr(original, "__qualname__", "fit")
    fit: Fit | None = attempt(f"prepare logging {name}",
                              lambda: factory(original, args, kwargs))
    if fit is not None:
        args, kwargs = fit.args, fit.kwargs
        attempt(f"start logging {name}", fit.begin)
    try:
        result = original(*args, **kwargs)
    except BaseException:
        if fit is not None:
            attempt(f"end the run of {name}", lambda: fit.end(True))
        raise  # the user's own exception, unchanged
    if fit is not None:
        attempt(f"log {name}", lambda: fit.finish(result))
        attempt(f"end the run of {name}", lambda: fit.end(False))
    return result
