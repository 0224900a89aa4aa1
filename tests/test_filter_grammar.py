"""The run-search filter grammar: parsing, canonical formatting, order_by and precise errors."""

from __future__ import annotations

import math
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.errors import FilterSyntaxError
from shipyard.store.tracking.filter import (
    ATTRIBUTES,
    NUMERIC_ATTRIBUTES,
    And,
    Comparison,
    Entity,
    Node,
    Not,
    Or,
    OrderBy,
    format_filter,
    parse_filter,
    parse_order_by,
)


def m(key: str, op: str, value: float | tuple[float, ...]) -> Comparison:
    return Comparison("metric", key, op, value)


def p(key: str, op: str, value: str | tuple[str, ...]) -> Comparison:
    return Comparison("param", key, op, value)


def attr(key: str, op: str, value: str | float | tuple[str | float, ...]) -> Comparison:
    return Comparison("attribute", key, op, value)


def error_of(text: str) -> FilterSyntaxError:
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter(text)
    assert info.value.field == "filter"
    assert info.value.to_dict()["details"] == {"position": info.value.position}
    return info.value


# -- MLflow examples and basics ------------------------------------------------------------------


def test_mlflow_examples() -> None:
    assert parse_filter("metrics.rmse < 1 and params.model = 'tree'") == And(
        (m("rmse", "<", 1.0), p("model", "=", "tree"))
    )
    assert parse_filter("tags.`mlflow.source.name` = 'x'") == Comparison(
        "tag", "mlflow.source.name", "=", "x"
    )
    assert parse_filter("attributes.status = 'FINISHED'") == attr("status", "=", "FINISHED")
    assert parse_filter("run_name LIKE 'lr-%'") == attr("run_name", "LIKE", "lr-%")
    assert parse_filter("params.a IN ('1','2')") == p("a", "IN", ("1", "2"))


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t "])
def test_empty_filter_matches_everything(text: str | None) -> None:
    assert parse_filter(text) is None


@pytest.mark.parametrize(
    ("text", "entity", "key"),
    [
        ("metrics.f1 > 0", "metric", "f1"),
        ("metric.f1 > 0", "metric", "f1"),
        ("METRICS.f1 > 0", "metric", "f1"),
        ("params.C = 'x'", "param", "C"),
        ("param.C = 'x'", "param", "C"),
        ("parameter.C = 'x'", "param", "C"),
        ("Parameters.C = 'x'", "param", "C"),
        ("tag.t = 'x'", "tag", "t"),
        ("Tags.t = 'x'", "tag", "t"),
        ("metrics.val.f1 > 0", "metric", "val.f1"),
        ("metrics.a-b/c:d_1 > 0", "metric", "a-b/c:d_1"),
        ("metrics.`f1 score` > 0", "metric", "f1 score"),
        ("params.`a.b` = 'x'", "param", "a.b"),
        ("tags.\"x y\" = 'x'", "tag", "x y"),
        ("tags.`a``b` = 'x'", "tag", "a`b"),
        ('tags."a""b\\"c" = \'x\'', "tag", 'a"b"c'),
        ("tags.`ключ` = 'x'", "tag", "ключ"),
    ],
)
def test_identifiers(text: str, entity: str, key: str) -> None:
    node = parse_filter(text)
    assert isinstance(node, Comparison)
    assert (node.entity, node.key) == (entity, key)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("status = 'x'", "status"),
        ("attributes.status = 'x'", "status"),
        ("attribute.status = 'x'", "status"),
        ("attr.status = 'x'", "status"),
        ("ATTRIBUTES.`run_name` = 'x'", "run_name"),
        ("run_uuid = 'x'", "run_id"),
        ("attributes.run_uuid = 'x'", "run_id"),
        ("user_id = 'x'", "user"),
        ("user = 'x'", "user"),
        ("created > 5", "start_time"),
        ("Created > 5", "start_time"),
        ("end_time <= 5", "end_time"),
        ("experiment_id = '1'", "experiment_id"),
        ("lifecycle_stage = 'active'", "lifecycle_stage"),
        ("parent_run_id = 'abc'", "parent_run_id"),
    ],
)
def test_attributes_and_aliases(text: str, key: str) -> None:
    node = parse_filter(text)
    assert isinstance(node, Comparison)
    assert (node.entity, node.key) == ("attribute", key)


@pytest.mark.parametrize(
    ("comparator", "op"),
    [
        ("=", "="),
        ("==", "="),
        ("!=", "!="),
        ("<>", "!="),
        ("<", "<"),
        ("<=", "<="),
        (">", ">"),
        (">=", ">="),
    ],
)
def test_numeric_comparators(comparator: str, op: str) -> None:
    assert parse_filter(f"metrics.a {comparator} 1") == m("a", op, 1.0)
    assert parse_filter(f"metrics.a{comparator}1") == m("a", op, 1.0)


@pytest.mark.parametrize(
    ("text", "op", "value"),
    [
        ("params.a LIKE 'x%'", "LIKE", "x%"),
        ("params.a like 'x%'", "LIKE", "x%"),
        ("params.a ILIKE 'x%'", "ILIKE", "x%"),
        ("params.a iLike 'x%'", "ILIKE", "x%"),
        ("params.a In ('x')", "IN", ("x",)),
        ("params.a not in ('x', 'y')", "NOT IN", ("x", "y")),
        ("params.a NOT\n  IN('x')", "NOT IN", ("x",)),
        ("params.a != 'x'", "!=", "x"),
    ],
)
def test_string_comparators_case_insensitive(
    text: str, op: str, value: str | tuple[str, ...]
) -> None:
    assert parse_filter(text) == p("a", op, value)


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("1", 1.0),
        ("-2", -2.0),
        ("+2.5", 2.5),
        (".5", 0.5),
        ("1.", 1.0),
        ("1e3", 1000.0),
        ("-1.5E-3", -0.0015),
        ("inf", math.inf),
        ("-inf", -math.inf),
        ("Infinity", math.inf),
    ],
)
def test_numbers(literal: str, value: float) -> None:
    node = parse_filter(f"metrics.a > {literal}")
    assert node == m("a", ">", value)
    assert isinstance(node, Comparison)
    assert isinstance(node.value, float)


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("'plain'", "plain"),
        ('"double"', "double"),
        ("''", ""),
        ("'it''s'", "it's"),
        ("'it\\'s'", "it's"),
        ('"say ""hi"""', 'say "hi"'),
        ('"say \\"hi\\""', 'say "hi"'),
        ("'say \"hi\"'", 'say "hi"'),
        ("'back\\\\slash'", "back\\slash"),
        ("'100\\%'", "100\\%"),  # LIKE escapes reach the backend untouched
        ("'a_\\_b'", "a_\\_b"),
        ("'ünïcødé ✓'", "ünïcødé ✓"),
        ("'two\nlines'", "two\nlines"),
    ],
)
def test_strings(literal: str, value: str) -> None:
    assert parse_filter(f"params.a = {literal}") == p("a", "=", value)


def test_numeric_attributes_and_lists() -> None:
    assert parse_filter("start_time >= 1700000000000") == attr("start_time", ">=", 1.7e12)
    assert parse_filter("metrics.a IN (1, 2.5)") == m("a", "IN", (1.0, 2.5))
    assert parse_filter("end_time NOT IN (1)") == attr("end_time", "NOT IN", (1.0,))
    assert parse_filter("status IN ('RUNNING', \"FINISHED\")") == attr(
        "status", "IN", ("RUNNING", "FINISHED")
    )


# -- Boolean structure ---------------------------------------------------------------------------

A, B, C = m("a", "=", 1.0), m("b", "=", 2.0), m("c", "=", 3.0)


@pytest.mark.parametrize(
    ("text", "node"),
    [
        ("metrics.a = 1 or metrics.b = 2 and metrics.c = 3", Or((A, And((B, C))))),
        ("metrics.a = 1 and metrics.b = 2 or metrics.c = 3", Or((And((A, B)), C))),
        ("metrics.a = 1 AND metrics.b = 2 AND metrics.c = 3", And((A, B, C))),
        ("metrics.a = 1 Or metrics.b = 2 OR metrics.c = 3", Or((A, B, C))),
        ("(metrics.a = 1 or metrics.b = 2) and metrics.c = 3", And((Or((A, B)), C))),
        ("((metrics.a = 1))", A),
        ("(metrics.a = 1 and metrics.b = 2) and metrics.c = 3", And((And((A, B)), C))),
        ("not metrics.a = 1", Not(A)),
        ("NOT metrics.a = 1 AND metrics.b = 2", And((Not(A), B))),
        ("NOT (metrics.a = 1 OR metrics.b = 2)", Not(Or((A, B)))),
        ("not not metrics.a = 1", Not(Not(A))),
        ("NOT(metrics.a=1)", Not(A)),
        ("  metrics.a = 1\n\tand\nmetrics.b = 2  ", And((A, B))),
    ],
)
def test_boolean_structure(text: str, node: Node) -> None:
    assert parse_filter(text) == node


def test_format_is_canonical() -> None:
    node = parse_filter(
        "Created > 5 or not (metrics.val.f1 >= -1e3 and tags.\"x y\" not in ('a''b', \"c\"))"
    )
    assert node is not None
    text = format_filter(node)
    assert text == (
        "attributes.start_time > 5 OR NOT (metrics.`val.f1` >= -1000 AND "
        "tags.`x y` NOT IN ('a''b', 'c'))"
    )
    assert parse_filter(text) == node
    assert format_filter(p("a`b", "=", "x\\y")) == "params.`a``b` = 'x\\\\y'"
    assert format_filter(m("a", "<", 0.1)) == "metrics.`a` < 0.1"
    assert format_filter(m("a", "<", -math.inf)) == "metrics.`a` < -inf"
    with pytest.raises(ValueError, match="empty And"):
        format_filter(And(()))


# -- Errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "position", "expected"),
    [
        # unknown entity, at the prefix
        ("foo.bar = 1", 0, "unknown entity 'foo': expected metrics, params, tags or attributes"),
        ("metrics.a = 1 and mtrics.b = 2", 18, "unknown entity 'mtrics'"),
        # unknown attribute, at the name, listing the valid ones
        ("artifact_uri = 'x'", 0, "unknown attribute 'artifact_uri': expected one of run_id"),
        ("attributes.bogus = 'x'", 11, "expected one of run_id, run_name, status, user"),
        # an entity without its key
        ("metrics = 1", 7, "expected '.' and a key after 'metrics'"),
        ("metrics. = 1", 8, "expected a key"),
        ("metrics.`` = 1", 8, "empty quoted key"),
        ("metrics.`f1 = 1", 8, "unterminated quoted key"),
        # missing or bad comparator
        ("metrics.f1", 10, "expected a comparator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN"),
        ("metrics.f1 1", 11, "after 'metrics.f1', got '1'"),
        ("metrics.f1 ! 1", 11, "expected a comparator"),
        ("params.a NOT LIKE 'x'", 9, "expected a comparator"),
        # comparator wrong for the type, at the comparator
        ("metrics.f1 LIKE 'x'", 11, "LIKE cannot compare metric 'f1', which holds numbers"),
        ("start_time ILIKE 'x'", 11, "expected one of =, !=, <, <=, >, >=, IN, NOT IN"),
        ("status < 'x'", 7, "< cannot compare attribute 'status', which holds strings"),
        ("params.a >= 'x'", 9, "expected one of =, !=, LIKE, ILIKE, IN, NOT IN"),
        # missing or mistyped value, at the value
        ("metrics.f1 >", 12, "expected a number after '>', got the end of the filter"),
        ("params.a =", 10, "expected a quoted string after '='"),
        ("status = FINISHED", 9, "expected a quoted string after '=', got 'FINISHED'"),
        ("metrics.f1 > 'x'", 13, "compares to numbers, not strings"),
        ("params.a = 1", 11, "param 'a' compares to strings: expected a quoted string"),
        ("metrics.f1 > nan", 13, "expected a number"),
        ("metrics.f1 > 1.2.3", 13, "expected a number"),
        ("metrics.f1 > 1abc", 13, "expected a number"),
        # unterminated string, at the opening quote
        ("params.a = 'abc", 11, "unterminated string"),
        ('params.a = "abc', 11, "unterminated string"),
        ("params.a = 'it\\'", 11, "unterminated string"),
        ("params.a IN ('x', 'y)", 18, "unterminated string"),
        # lists
        ("params.a IN 'x'", 12, "expected a parenthesised list such as ('a', 'b') after IN"),
        ("metrics.a NOT IN 1", 17, "expected a parenthesised list such as (1, 2) after NOT IN"),
        ("params.a IN ()", 13, "IN needs a non-empty list"),
        ("params.a IN ('x',)", 17, "expected a quoted string after ','"),
        ("params.a IN ('x' 'y')", 17, "expected ',' or ')' in the IN list"),
        ("params.a IN ('x', 1)", 18, "compares to strings"),
        ("params.a IN ('x'", 12, "unbalanced parenthesis"),
        # a trailing token
        ("metrics.a = 1 metrics.b = 2", 14, "expected AND, OR or the end of the filter"),
        ("metrics.a = 1 ANDmetrics.b = 2", 14, "got 'ANDmetrics.b'"),
        ("metrics.a = 1 and", 17, "expected an identifier"),
        ("metrics.a = 1 or or metrics.b = 2", 17, "unknown attribute 'or'"),
        # unbalanced parentheses
        ("(metrics.a = 1", 0, "unbalanced parenthesis: this '(' is never closed"),
        ("((metrics.a = 1)", 0, "never closed"),
        ("metrics.a = 1)", 13, "unbalanced parenthesis: ')' without a matching '('"),
        ("(metrics.a = 1 x)", 15, "expected AND, OR or ')', got 'x'"),
        ("()", 1, "expected an identifier"),
        ("'x' = params.a", 0, "expected an identifier"),
        ("NOT", 3, "expected an identifier"),
    ],
)
def test_errors_are_precise(text: str, position: int, expected: str) -> None:
    err = error_of(text)
    assert err.position == position, err.message
    assert expected in err.message, err.message
    # the caret sits under the fault
    assert err.message.endswith("\n  " + " " * position + "^")


def test_deep_nesting_is_a_syntax_error_not_a_recursion_error() -> None:
    err = error_of("(" * 5000 + "metrics.a = 1" + ")" * 5000)
    assert "nests more than" in err.message
    err = error_of("NOT " * 5000 + "metrics.a = 1")
    assert "nests more than" in err.message


# -- order_by ------------------------------------------------------------------------------------


def test_order_by() -> None:
    assert parse_order_by(None) == []
    assert parse_order_by([]) == []
    assert parse_order_by(
        [
            "metrics.f1 DESC",
            "params.`C` ASC",
            "start_time",
            "attributes.run_name desc",
            '  tags."a b"  asc ',
            "created",
        ]
    ) == [
        OrderBy("metric", "f1", ascending=False),
        OrderBy("param", "C", ascending=True),
        OrderBy("attribute", "start_time", ascending=True),
        OrderBy("attribute", "run_name", ascending=False),
        OrderBy("tag", "a b", ascending=True),
        OrderBy("attribute", "start_time", ascending=True),
    ]
    assert parse_order_by("metrics.f1 desc") == [OrderBy("metric", "f1", ascending=False)]


@pytest.mark.parametrize(
    ("clause", "position", "expected"),
    [
        ("metrics.f1 DESK", 11, "expected ASC, DESC or the end of the clause, got 'DESK'"),
        ("metrics.f1 DESC ASC", 16, "expected the end of the clause"),
        ("", 0, "expected an identifier"),
        ("bogus", 0, "unknown attribute 'bogus'"),
        ("foo.bar", 0, "unknown entity 'foo'"),
        ("metrics.`f1", 8, "unterminated quoted key"),
    ],
)
def test_order_by_errors(clause: str, position: int, expected: str) -> None:
    with pytest.raises(FilterSyntaxError) as info:
        parse_order_by(["metrics.ok", clause])
    assert info.value.field == "order_by"
    assert info.value.to_dict()["field"] == "order_by"
    assert info.value.position == position
    assert expected in info.value.message


# -- Properties ----------------------------------------------------------------------------------

keys = st.text(min_size=1, max_size=12) | st.sampled_from(
    ["f1", "val.f1", "a b", "a`b", "`", "``", "'", '"', "\\", "a\\'", "ключ", "x.y.z"]
)
strings = st.text(max_size=12) | st.sampled_from(
    ["", "'", "''", '"', "\\", "\\'", "100\\%", "a_%", "ünï ✓", "\n"]
)
numbers = st.floats(allow_nan=False) | st.integers(-(10**6), 10**6).map(float)
STRING_ATTRIBUTES = [name for name in ATTRIBUTES if name not in NUMERIC_ATTRIBUTES]


@st.composite
def comparisons(draw: st.DrawFn) -> Comparison:
    kind = draw(st.sampled_from(["metric", "param", "tag", "num_attr", "str_attr"]))
    numeric = kind in ("metric", "num_attr")
    scalars: st.SearchStrategy[str | float] = numbers if numeric else strings
    ops = ["=", "!=", "IN", "NOT IN"] + (["<", "<=", ">", ">="] if numeric else ["LIKE", "ILIKE"])
    op = draw(st.sampled_from(ops))
    if op in ("IN", "NOT IN"):
        value: str | float | tuple[str | float, ...] = tuple(
            draw(st.lists(scalars, min_size=1, max_size=4))
        )
    else:
        value = draw(scalars)
    if kind == "num_attr":
        return attr(draw(st.sampled_from(sorted(NUMERIC_ATTRIBUTES))), op, value)
    if kind == "str_attr":
        return attr(draw(st.sampled_from(STRING_ATTRIBUTES)), op, value)
    entity: Entity = "metric" if kind == "metric" else "param" if kind == "param" else "tag"
    return Comparison(entity, draw(keys), op, value)


nodes: st.SearchStrategy[Node] = st.recursive(
    comparisons(),
    lambda children: st.one_of(
        st.lists(children, min_size=2, max_size=4).map(lambda xs: And(tuple(xs))),
        st.lists(children, min_size=2, max_size=4).map(lambda xs: Or(tuple(xs))),
        children.map(Not),
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(nodes)
def test_format_then_parse_round_trips(node: Node) -> None:
    text = format_filter(node)
    assert parse_filter(text) == node
    assert format_filter(node) == text  # canonical: formatting is stable


FILTER_PIECES = list("metrics.params.tags.attributes.status run_name ()'\"`=<>!,0123456789.e-+ \\")
FILTER_PIECES += ["AND ", "OR ", "NOT ", "IN ", "LIKE ", "metrics.f1", "params.a", "inf", "\n"]
FILTERISH = st.lists(st.sampled_from(FILTER_PIECES), max_size=25).map("".join)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=60) | FILTERISH)
def test_arbitrary_text_only_raises_filter_syntax_error(text: str) -> None:
    try:
        node = parse_filter(text)
    except FilterSyntaxError as err:
        assert 0 <= err.position <= len(text)
        return
    if node is not None:
        assert parse_filter(format_filter(node)) == node


@settings(max_examples=400, deadline=None)
@given(nodes, st.data())
def test_mangled_valid_filters_only_raise_filter_syntax_error(
    node: Node, data: st.DataObject
) -> None:
    text = format_filter(node)
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, min(len(text), start + 3)))
    text = text[:start] + data.draw(st.sampled_from(["", *FILTER_PIECES])) + text[end:]
    try:
        mangled = parse_filter(text)
    except FilterSyntaxError as err:
        assert 0 <= err.position <= len(text)
        return
    if mangled is not None:
        assert parse_filter(format_filter(mangled)) == mangled


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=30) | FILTERISH, max_size=3))
def test_arbitrary_order_by_only_raises_filter_syntax_error(clauses: list[str]) -> None:
    try:
        orders = parse_order_by(clauses)
    except FilterSyntaxError as err:
        assert err.field == "order_by"
        return
    assert len(orders) == len(clauses)


def test_parsing_is_fast() -> None:
    text = "metrics.rmse < 1 and params.model = 'tree' and tags.`team` IN ('a', 'b')"
    rounds = 2000
    began = time.perf_counter()
    for _ in range(rounds):
        parse_filter(text)
    per_parse = (time.perf_counter() - began) / rounds
    assert per_parse < 500e-6  # typically ~20 µs; loose so slow CI machines pass
