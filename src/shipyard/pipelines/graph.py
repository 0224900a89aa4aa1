"""Trace a pipeline function into a DAG of step calls and check it before anything runs.

Each check raises :class:`~shipyard.errors.InvalidInputError` naming the user's source line
(``file:line``) of the step call or ``def`` at fault, as metaflow's lint does.
"""

from __future__ import annotations

import inspect
import sys
import typing
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from shipyard.errors import InvalidInputError
from shipyard.pipelines.decorators import Pipeline, Step, StepOutput, source_line
from shipyard.pipelines.typecheck import type_accepts, value_matches

_tracer: ContextVar[Tracer | None] = ContextVar("shipyard_pipeline_tracer", default=None)


def current_tracer() -> Tracer | None:
    return _tracer.get()


@dataclass
class Node:
    """One step call: its inputs are upstream node ids (``upstream``) or constants."""

    node_id: str
    step: Step
    where: str  # file:line of the call in the pipeline function
    upstream: dict[str, str] = field(default_factory=dict)  # argument -> node id
    constants: dict[str, Any] = field(default_factory=dict)  # argument -> value
    return_type: Any = Any


@dataclass
class Graph:
    pipeline: Pipeline
    nodes: dict[str, Node]  # in call order, which is a topological order
    outputs: list[str]  # node ids the pipeline function returned


def _hints(step: Step) -> dict[str, Any]:
    try:
        return typing.get_type_hints(step.fn)
    except Exception as exc:  # an annotation naming something not importable
        raise InvalidInputError(
            f"{source_line(step.fn)}: the type hints of step {step.name!r} do not resolve: "
            f"{exc}", field=step.name) from exc


class Tracer:
    """Records step calls while the pipeline function runs (steps do not run)."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}

    def record(self, step: Step, args: tuple[Any, ...], kwargs: dict[str, Any]) -> StepOutput:
        caller = sys._getframe(2)  # Step.__call__ -> here; the frame above is the user's line
        where = f"{caller.f_code.co_filename}:{caller.f_lineno}"
        try:
            bound = step.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidInputError(f"{where}: step {step.name!r} called with wrong arguments: "
                                    f"{exc}", field=step.name) from exc
        bound.apply_defaults()
        node_id = step.name
        count = 2
        while node_id in self.nodes:
            node_id, count = f"{step.name}_{count}", count + 1
        hints = _hints(step)
        node = Node(node_id, step, where, return_type=hints.get("return", Any))
        for arg, value in bound.arguments.items():
            if isinstance(value, StepOutput):
                node.upstream[arg] = value.node_id
            elif _returned_ids(value):
                raise InvalidInputError(
                    f"{where}: step {step.name!r} argument {arg!r} holds step outputs inside "
                    "a list or dict; pass each output as its own argument", field=arg)
            else:
                node.constants[arg] = value
        self.nodes[node_id] = node
        return StepOutput(node_id)


@contextmanager
def _tracing(tracer: Tracer) -> Iterator[None]:
    token = _tracer.set(tracer)
    try:
        yield
    finally:
        _tracer.reset(token)


def _returned_ids(value: Any) -> list[str]:
    if isinstance(value, StepOutput):
        return [value.node_id]
    if isinstance(value, Mapping):
        return [i for v in value.values() for i in _returned_ids(v)]
    if isinstance(value, (list, tuple)):
        return [i for v in value for i in _returned_ids(v)]
    return []


def bind_params(pipe: Pipeline, params: Mapping[str, Any]) -> dict[str, Any]:
    """The pipeline's parameters: ``params`` plus defaults; missing or unknown names fail."""
    where = source_line(pipe.fn)
    known = pipe.signature.parameters
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise InvalidInputError(
            f"{where}: pipeline {pipe.name!r} has no parameter {unknown[0]!r}; it takes "
            f"{sorted(known) or 'none'}", field=unknown[0])
    missing = [n for n, p in known.items()
               if p.default is inspect.Parameter.empty and n not in params]
    if missing:
        raise InvalidInputError(
            f"{where}: pipeline {pipe.name!r} needs parameter {missing[0]!r}: pass it in "
            f"params (CLI: --param {missing[0]}=...)", field=missing[0])
    return {n: params.get(n, p.default) for n, p in known.items()}


def trace(pipe: Pipeline, params: Mapping[str, Any]) -> Graph:
    """Run the pipeline function with steps recording instead of running, then check it."""
    values = bind_params(pipe, params)
    tracer = Tracer()
    with _tracing(tracer):
        returned = pipe.fn(**values)
    graph = Graph(pipe, tracer.nodes, _returned_ids(returned))
    check(graph)
    return graph


def check(graph: Graph) -> None:
    """Every check before a run: cycles, argument types, storable and used outputs."""
    check_acyclic(graph.nodes)
    consumed = {up for node in graph.nodes.values() for up in node.upstream.values()}
    for node in graph.nodes.values():
        _check_types(graph, node)
        _check_output(node, used=node.node_id in consumed or node.node_id in graph.outputs)


def check_acyclic(nodes: Mapping[str, Node]) -> None:
    """Depth-first search; a back edge is a cycle, reported with the call lines on it."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node_id: str, path: list[str]) -> None:
        state[node_id] = 1
        for up in nodes[node_id].upstream.values():
            if up not in nodes:
                raise InvalidInputError(
                    f"{nodes[node_id].where}: step {node_id!r} reads the output of unknown "
                    f"step {up!r}", field=node_id)
            if state.get(up) == 1:
                loop = [*path[path.index(up):], node_id, up] if up in path else [node_id, up]
                lines = ", ".join(f"{n} ({nodes[n].where})" for n in loop)
                raise InvalidInputError(f"{nodes[node_id].where}: the pipeline has a cycle: "
                                        f"{lines}", field=node_id)
            if state.get(up) is None:
                visit(up, [*path, node_id])
        state[node_id] = 2

    for node_id in nodes:
        if node_id not in state:
            visit(node_id, [])


def _check_types(graph: Graph, node: Node) -> None:
    hints = _hints(node.step)
    for arg, value in node.constants.items():
        expected = hints.get(arg, Any)
        if not value_matches(value, expected):
            raise InvalidInputError(
                f"{node.where}: step {node.step.name!r} parameter {arg!r} expects "
                f"{_name(expected)}, got {type(value).__name__} {value!r}", field=arg)
    for arg, up in node.upstream.items():
        expected = hints.get(arg, Any)
        produced = graph.nodes[up].return_type
        if not type_accepts(expected, produced):
            raise InvalidInputError(
                f"{node.where}: step {node.step.name!r} parameter {arg!r} expects "
                f"{_name(expected)}, but step {up!r} returns {_name(produced)} "
                f"({source_line(graph.nodes[up].step.fn)})", field=arg)


def _check_output(node: Node, *, used: bool) -> None:
    from shipyard.pipelines.materialisers import find_materialiser

    returns = node.return_type
    if returns is None or returns is type(None):
        if used:
            raise InvalidInputError(
                f"{node.where}: step {node.step.name!r} returns None but its output is used",
                field=node.step.name)
        return
    if not used:
        raise InvalidInputError(
            f"{node.where}: the output of step {node.step.name!r} ({_name(returns)}) is never "
            "used: pass it to another step, return it from the pipeline function, or annotate "
            "the step '-> None'", field=node.step.name)
    # Why `object` passes: it says "anything", so the value's own type is checked at run time.
    if returns not in (Any, object) and find_materialiser(returns) is None:
        raise InvalidInputError(
            f"{source_line(node.step.fn)}: no materialiser can store {_name(returns)}, the "
            f"output of step {node.step.name!r}: return a DataFrame, Arrow table, numpy array "
            "or JSON-able value, or call shipyard.pipelines.register_materialiser",
            field=node.step.name)


def _name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or repr(tp)
