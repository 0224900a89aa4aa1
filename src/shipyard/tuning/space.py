"""Search spaces for :func:`shipyard.tune`: a mapping of parameter name to a distribution.

    space = {
        "C": loguniform(1e-3, 1e2),        # a float, sampled on a log scale
        "max_depth": integer(2, 8),         # an int
        "subsample": uniform(0.5, 1.0),     # a float
        "loss": ["log_loss", "exponential"] # a list is a categorical choice
    }

A plain value (``"max_iter": 500``) is passed to every trial unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.errors import InvalidInputError


@dataclass(frozen=True)
class Float:
    low: float
    high: float
    log: bool = False
    step: float | None = None


@dataclass(frozen=True)
class Int:
    low: int
    high: int
    log: bool = False
    step: int = 1


@dataclass(frozen=True)
class Choice:
    choices: tuple[Any, ...]


Distribution = Float | Int | Choice


def uniform(low: float, high: float, *, step: float | None = None) -> Float:
    """A float between ``low`` and ``high`` (inclusive), optionally on a grid of ``step``."""
    return Float(float(low), float(high), False, step)


def loguniform(low: float, high: float) -> Float:
    """A float between ``low`` and ``high`` sampled on a log scale (``low`` > 0)."""
    return Float(float(low), float(high), True)


def integer(low: int, high: int, *, step: int = 1, log: bool = False) -> Int:
    """An int between ``low`` and ``high`` (inclusive)."""
    return Int(int(low), int(high), log, step)


def choice(*choices: Any) -> Choice:
    """One of ``choices`` (None, bool, int, float or str)."""
    return Choice(tuple(choices))


def _check(name: str, dist: Distribution) -> None:
    where = f"space[{name!r}]"
    if isinstance(dist, Choice):
        if not dist.choices:
            raise InvalidInputError(f"{where}: a choice needs at least one option", field=name)
        for option in dist.choices:
            if option is not None and not isinstance(option, bool | int | float | str):
                raise InvalidInputError(
                    f"{where}: option {option!r} is a {type(option).__name__}; choices must be "
                    "None, bool, int, float or str (pick by name and map it in the objective)",
                    field=name)
        return
    if not (math.isfinite(dist.low) and math.isfinite(dist.high)) or dist.low > dist.high:
        raise InvalidInputError(f"{where}: low {dist.low} must be <= high {dist.high}, "
                                "both finite", field=name)
    if dist.log and dist.low <= 0:
        raise InvalidInputError(f"{where}: a log scale needs low > 0, got {dist.low}",
                                field=name)
    if dist.log and dist.step not in (None, 1):
        raise InvalidInputError(f"{where}: a log scale cannot have a step", field=name)


def normalise(space: Mapping[str, Any]) -> tuple[dict[str, Distribution], dict[str, Any]]:
    """Split ``space`` into distributions to sample and fixed values; check each."""
    if not isinstance(space, Mapping) or not space:
        raise InvalidInputError("space must be a non-empty mapping of parameter name to a "
                                "distribution, e.g. {'C': sy.tuning.loguniform(1e-3, 10)}",
                                field="space")
    sampled: dict[str, Distribution] = {}
    fixed: dict[str, Any] = {}
    for name, value in space.items():
        if not isinstance(name, str) or not name:
            raise InvalidInputError(f"space key {name!r} must be a non-empty string",
                                    field="space")
        if isinstance(value, Float | Int | Choice):
            dist: Distribution = value
        elif isinstance(value, Sequence) and not isinstance(value, str | bytes):
            dist = Choice(tuple(value))
        else:
            fixed[name] = value
            continue
        _check(name, dist)
        sampled[name] = dist
    if not sampled:
        raise InvalidInputError("space has no distribution to sample: use uniform, "
                                "loguniform, integer, choice or a list of options",
                                field="space")
    return sampled, fixed


def suggest(trial: Any, space: Mapping[str, Distribution]) -> dict[str, Any]:
    """Sample one value per distribution through an ``optuna.Trial``."""
    values: dict[str, Any] = {}
    for name, dist in space.items():
        if isinstance(dist, Choice):
            values[name] = trial.suggest_categorical(name, list(dist.choices))
        elif isinstance(dist, Int):
            values[name] = trial.suggest_int(name, dist.low, dist.high, step=dist.step,
                                             log=dist.log)
        else:
            values[name] = trial.suggest_float(name, dist.low, dist.high, step=dist.step,
                                               log=dist.log)
    return values
