"""``@step`` and ``@pipeline``: they only record metadata (as metaflow's decorators do).

A step stays a plain function: called outside a pipeline it just runs. Called while a pipeline
function is being traced (see :mod:`shipyard.pipelines.graph`), it records a node and returns a
lazy :class:`StepOutput` handle instead of running.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, overload

from shipyard.errors import InvalidInputError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: str | float | None) -> float | None:
    """Seconds from ``"10m"``, ``"30s"``, ``"1.5h"``, ``"250ms"`` or a number of seconds."""
    if value is None or isinstance(value, (int, float)):
        return None if value is None else float(value)
    match = _DURATION.match(value)
    if match is None:
        raise InvalidInputError(
            f"timeout {value!r} is not a duration: write e.g. '30s', '10m' or '1h'",
            field="timeout")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def source_line(fn: Callable[..., Any]) -> str:
    """``file:line`` of a function's ``def`` (its first decorator), for error messages."""
    code = getattr(inspect.unwrap(fn), "__code__", None)
    if code is None:
        return "<unknown>"
    return f"{code.co_filename}:{code.co_firstlineno}"


@dataclass(frozen=True)
class StepOptions:
    retries: int = 0
    retry_delay: float = 1.0  # seconds before the first retry; doubled on each next one
    timeout: float | None = None
    cache: bool = True


class Step:
    """A step function and its options. Calling it runs the function, or records a node while
    a pipeline is traced."""

    def __init__(self, fn: Callable[..., Any], options: StepOptions) -> None:
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.options = options
        self.name: str = fn.__name__
        self.signature = inspect.signature(fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from shipyard.pipelines import graph

        tracer = graph.current_tracer()
        if tracer is None:
            return self.fn(*args, **kwargs)
        return tracer.record(self, args, kwargs)

    def __repr__(self) -> str:
        return f"<Step {self.name} at {source_line(self.fn)}>"


class StepOutput:
    """The lazy output of one step call inside a pipeline function; pass it to other steps."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id

    def __repr__(self) -> str:
        return f"<StepOutput of {self.node_id}>"

    def __bool__(self) -> bool:
        # Why: `if output:` inside a pipeline function would silently branch on a value that
        # does not exist yet; branching belongs inside a step.
        raise InvalidInputError(
            f"the output of step {self.node_id!r} is only known when the pipeline runs; "
            "branch on it inside a step, not in the pipeline function")


class Pipeline:
    """A pipeline function: its parameters are the pipeline's parameters."""

    def __init__(self, fn: Callable[..., Any], name: str | None) -> None:
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.name = name or fn.__name__
        self.signature = inspect.signature(fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Pipeline {self.name} at {source_line(self.fn)}>"


@overload
def step(fn: Callable[..., Any], /) -> Step: ...


@overload
def step(*, retries: int = 0, retry_delay: float = 1.0, timeout: str | float | None = None,
         cache: bool = True) -> Callable[[Callable[..., Any]], Step]: ...


def step(fn: Callable[..., Any] | None = None, /, *, retries: int = 0, retry_delay: float = 1.0,
         timeout: str | float | None = None,
         cache: bool = True) -> Step | Callable[[Callable[..., Any]], Step]:
    """Mark a typed function as a pipeline step: ``@step`` or ``@step(retries=2, timeout="10m",
    cache=False)``. Only metadata is recorded; the function is unchanged."""
    if retries < 0:
        raise InvalidInputError(f"retries must be >= 0, not {retries}", field="retries")
    options = StepOptions(retries=retries, retry_delay=retry_delay,
                          timeout=parse_duration(timeout), cache=cache)

    def wrap(func: Callable[..., Any]) -> Step:
        return Step(func, options)

    return wrap(fn) if fn is not None else wrap


@overload
def pipeline(fn: Callable[..., Any], /) -> Pipeline: ...


@overload
def pipeline(*, name: str | None = None) -> Callable[[Callable[..., Any]], Pipeline]: ...


def pipeline(fn: Callable[..., Any] | None = None, /, *,
             name: str | None = None) -> Pipeline | Callable[[Callable[..., Any]], Pipeline]:
    """Mark a function that calls steps as a pipeline: ``@pipeline`` or
    ``@pipeline(name="train")``."""

    def wrap(func: Callable[..., Any]) -> Pipeline:
        return Pipeline(func, name)

    return wrap(fn) if fn is not None else wrap
