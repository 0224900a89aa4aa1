"""Graph checks before a run: each error names the user's source line."""

from __future__ import annotations

import re

import pytest

from shipyard.errors import InvalidInputError
from shipyard.pipelines import pipeline, run_pipeline, step
from shipyard.pipelines.graph import Node, check_acyclic, trace
from shipyard.pipelines.materialisers import (
    MATERIALISERS,
    JsonValue,
    find_materialiser,
    register_materialiser,
)

HERE = __file__


class Opaque:
    """A class no built-in materialiser stores."""


@step
def make(n: int) -> int:
    return n


@step
def double(x: int) -> int:
    return 2 * x


@step  # OPAQUE-DEF
def opaque() -> Opaque:
    return Opaque()


@step
def sink(x: object) -> None:
    return None


@step
def sneaky() -> object:
    return Opaque()


def _line(pattern: str) -> int:
    with open(HERE) as source:
        return next(i for i, text in enumerate(source, 1) if pattern in text)


def test_mistyped_param_names_the_call_line() -> None:
    @pipeline
    def wrong(n: str = "3") -> object:
        return double(make(n))  # MISTYPED-CALL

    with pytest.raises(InvalidInputError, match="parameter 'n' expects int, got str") as info:
        run_pipeline(wrong)
    assert f"{HERE}:{_line('# MISTYPED-CALL')}:" in str(info.value)


def test_mistyped_upstream_output() -> None:
    @step
    def words() -> str:
        return "a"

    @pipeline
    def wrong() -> object:
        return double(words())  # UPSTREAM-CALL

    with pytest.raises(InvalidInputError, match="but step 'words' returns str") as info:
        trace(wrong, {})
    assert f"{HERE}:{_line('# UPSTREAM-CALL')}:" in str(info.value)


def test_wrong_arguments_to_a_step() -> None:
    @pipeline
    def wrong() -> object:
        return double(1, 2)  # WRONG-ARGS

    with pytest.raises(InvalidInputError, match="called with wrong arguments") as info:
        trace(wrong, {})
    assert f"{HERE}:{_line('# WRONG-ARGS')}:" in str(info.value)


def test_output_no_materialiser_can_store_names_the_step_def() -> None:
    @pipeline
    def wrong() -> object:
        return opaque()

    with pytest.raises(InvalidInputError, match="no materialiser can store Opaque") as info:
        trace(wrong, {})
    assert f"{HERE}:{_line('# OPAQUE-DEF')}:" in str(info.value)  # Python's def line


def test_unserialisable_value_at_run_time() -> None:
    @pipeline
    def wrong() -> None:
        sink(sneaky())

    with pytest.raises(InvalidInputError, match="returned a Opaque, which no materialiser") as e:
        run_pipeline(wrong)
    assert re.search(re.escape(HERE) + r":\d+: step 'sneaky'", str(e.value))


def test_unused_output() -> None:
    @pipeline
    def wasteful() -> None:
        make(1)  # UNUSED

    with pytest.raises(InvalidInputError, match=r"output of step 'make' .* is never used") as e:
        trace(wasteful, {})
    assert f"{HERE}:{_line('# UNUSED')}:" in str(e.value)


def test_cycle_reports_the_lines_on_it() -> None:
    nodes = {
        "a": Node("a", make, "flow.py:3", upstream={"n": "b"}),
        "b": Node("b", double, "flow.py:4", upstream={"x": "a"}),
    }
    with pytest.raises(InvalidInputError, match=r"cycle: .*a \(flow.py:3\).*b \(flow.py:4\)"):
        check_acyclic(nodes)


def test_same_step_twice_gets_distinct_names() -> None:
    @pipeline
    def twice() -> object:
        return double(double(make(1)))

    assert list(trace(twice, {}).nodes) == ["make", "double", "double_2"]


def test_timeout_must_be_a_duration() -> None:
    with pytest.raises(InvalidInputError, match="not a duration"):
        step(timeout="ten minutes")
    assert step(timeout="10m")(make.fn).options.timeout == 600.0


def test_register_materialiser_goes_first() -> None:
    class OpaqueJson(JsonValue):
        kind = "test.opaque"

        def handles(self, tp: type) -> bool:
            return tp is Opaque

    register_materialiser(OpaqueJson())
    try:
        found = find_materialiser(Opaque)
        assert found is not None and found.kind == "test.opaque"
    finally:
        del MATERIALISERS[0]
    assert find_materialiser(Opaque) is None


def test_outputs_nested_in_a_list_are_refused() -> None:
    @step
    def add(xs: list[int]) -> int:
        return sum(xs)

    @pipeline
    def nested() -> object:
        return add([make(1), make(2)])  # NESTED

    with pytest.raises(InvalidInputError, match="holds step outputs inside") as info:
        trace(nested, {})
    assert f"{HERE}:{_line('# NESTED')}:" in str(info.value)
