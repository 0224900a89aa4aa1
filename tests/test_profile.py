"""Column profiles: computed values against numpy, merge = whole, JSON round trip, drift."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import math
from collections.abc import Callable
from functools import reduce
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.errors import InvalidInputError
from shipyard.services.profile import (
    TOP_CATEGORIES,
    ColumnProfile,
    Kind,
    NumericStats,
    TableProfile,
    compare,
    merge,
    profile_dataframe,
    profile_table,
)
from shipyard.services.profile.sketches import kll_rank_error

EPS = kll_rank_error()


def _rank_ok(data: np.ndarray, value: float, rank: float, tolerance: float = EPS) -> bool:
    """Whether ``value`` sits at normalized rank ``rank`` of ``data`` within ``tolerance``."""
    below, at_or_below = np.mean(data < value), np.mean(data <= value)
    return below - tolerance <= rank <= at_or_below + tolerance


def _numeric(profile: TableProfile, name: str) -> NumericStats:
    stats = profile.column(name).numeric
    assert stats is not None
    return stats


def _roundtrip(profile: TableProfile) -> TableProfile:
    return TableProfile.from_dict(json.loads(json.dumps(profile.to_dict(), allow_nan=False)))


# --- profiling ---------------------------------------------------------------------------


def test_float_column_matches_numpy() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(10, 3, 100_000)
    values[::97] = np.nan
    values[5], values[6] = np.inf, -np.inf
    nulls = rng.random(values.size) < 0.02
    profile = profile_table(pa.table({"x": pa.array(values, mask=nulls)}))

    column = profile.column("x")
    kept = values[~nulls]
    finite = kept[np.isfinite(kept)]
    assert (column.count, column.missing) == (100_000, int(nulls.sum()))
    assert column.nan == int(np.isnan(kept).sum())
    assert column.inf == 2 - int(nulls[5]) - int(nulls[6])
    assert column.missing_rate == pytest.approx((column.missing + column.nan) / 100_000)
    moments = _numeric(profile, "x").moments
    assert moments.n == finite.size
    assert moments.mean == pytest.approx(finite.mean(), rel=1e-12)
    assert moments.std == pytest.approx(finite.std(ddof=1), rel=1e-12)
    assert moments.sum == pytest.approx(finite.sum(), rel=1e-12)
    assert (moments.min, moments.max) == (finite.min(), finite.max())
    ranks = [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99]
    for rank, value in zip(ranks, _numeric(profile, "x").quantiles(ranks), strict=True):
        assert _rank_ok(finite, value, rank), (rank, value)
    histogram = _numeric(profile, "x").histogram
    exact, _ = np.histogram(finite, bins=np.asarray(histogram.edges))
    assert sum(histogram.counts) == finite.size
    assert np.abs(np.asarray(histogram.counts) - exact).max() <= 2 * EPS * finite.size


def test_small_columns_are_exact_ints_and_decimals_included() -> None:
    table = pa.table({
        "i": pa.array([3, None, 1, 2, 2], pa.int16()),
        "d": pa.array([1, 2, None, 4, 5], pa.decimal128(6, 2)),
        "u": pa.array([7, 7, 7, 7, 7], pa.uint64()),
    })
    profile = profile_table(table)
    i = _numeric(profile, "i")
    assert profile.column("i").missing == 1
    assert (i.moments.n, i.moments.mean, i.moments.min, i.moments.max) == (4, 2.0, 1.0, 3.0)
    assert i.quantiles([0.0, 0.5, 1.0]) == [1.0, 2.0, 3.0]
    assert i.histogram.counts[0] == 1 and i.histogram.counts[-1] == 1
    assert sum(i.histogram.counts) == 4
    d = _numeric(profile, "d")
    assert profile.column("d").kind is Kind.NUMERIC
    assert d.moments.mean == pytest.approx(3.0) and d.moments.std == pytest.approx(np.std(
        [1, 2, 4, 5], ddof=1))
    u = _numeric(profile, "u")
    assert u.histogram.edges == (7.0, 7.0) and u.histogram.counts == (5,)
    assert u.moments.std == 0.0


def test_boolean_string_and_categorical_columns() -> None:
    rng = np.random.default_rng(2)
    words = rng.choice(["alpha", "beta", "gamma", "", "ünïcode"], 5_000, p=[.4, .3, .2, .05, .05])
    mask = rng.random(words.size) < 0.1
    frame = pd.DataFrame({
        "flag": pd.array([True, False, None, True] * 1_250, dtype="boolean"),
        "word": pd.Series(np.where(mask, None, words), dtype=object),
        "cat": pd.Categorical(words),
    })
    profile = profile_dataframe(frame)

    flag = profile.column("flag")
    assert flag.kind is Kind.BOOLEAN and flag.boolean is not None
    assert (flag.boolean.true, flag.boolean.false, flag.missing) == (2_500, 1_250, 1_250)

    word = profile.column("word")
    assert word.kind is Kind.STRING and word.strings is not None
    kept = words[~mask]
    values, counts = np.unique(kept, return_counts=True)
    assert word.strings.categories.as_dict() == dict(zip(values.tolist(), counts.tolist(),
                                                         strict=True))
    assert word.strings.categories.other == 0 and word.strings.categories.exact
    assert [c for _, c in word.strings.categories.counts] == sorted(counts, reverse=True)
    assert word.missing == int(mask.sum()) and word.strings.distinct == 5
    lengths = np.array([len(w) for w in kept], dtype=float)
    assert word.strings.lengths.mean == pytest.approx(lengths.mean())
    assert word.strings.lengths.std == pytest.approx(lengths.std(ddof=1))

    cat = profile.column("cat")
    assert cat.kind is Kind.STRING and cat.strings is not None
    assert cat.dtype.startswith("dictionary")
    assert sum(cat.strings.categories.as_dict().values()) == words.size


def test_many_categories_keep_the_top_ones_and_an_other_count() -> None:
    # value k appears k + 1 times, so the ranking is unambiguous
    values = [f"v{k:03d}" for k in range(250) for _ in range(k + 1)]
    column = profile_table(pa.table({"s": values})).column("s")
    assert column.strings is not None
    categories = column.strings.categories
    assert len(categories.counts) == TOP_CATEGORIES
    assert categories.counts[0] == ("v249", 250)
    assert categories.counts[-1] == (f"v{250 - TOP_CATEGORIES:03d}", 251 - TOP_CATEGORIES)
    assert categories.other == sum(k + 1 for k in range(250 - TOP_CATEGORIES))
    assert categories.total == len(values)
    assert column.strings.distinct == pytest.approx(250, rel=0.05)


def test_temporal_columns_profile_epoch_seconds_and_iso_ends() -> None:
    stamps = [dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC), None,
              dt.datetime(2024, 3, 1, 0, 0, 0, 500_000, tzinfo=dt.UTC)]
    table = pa.table({
        "at": pa.array(stamps, pa.timestamp("ms", tz="UTC")),
        "naive": pa.array([dt.datetime(2020, 5, 17, 8, 30)] * 3, pa.timestamp("ns")),
        "day": pa.array([dt.date(2021, 6, 5), dt.date(1969, 12, 31), None]),
    })
    profile = profile_table(table)
    at = profile.column("at")
    assert at.kind is Kind.TEMPORAL and at.missing == 1
    assert _numeric(profile, "at").moments.min == stamps[0].timestamp()  # type: ignore[union-attr]
    assert (at.min_text, at.max_text) == ("2024-01-01T12:00:00+00:00",
                                          "2024-03-01T00:00:00.500000+00:00")
    assert profile.column("naive").max_text == "2020-05-17T08:30:00"
    day = profile.column("day")
    assert (day.min_text, day.max_text) == ("1969-12-31", "2021-06-05")
    assert _numeric(profile, "day").moments.min == -86400.0
    assert _roundtrip(profile).to_dict()["columns"][2]["min_text"] == "1969-12-31"


def test_other_and_all_null_columns_hold_counts_only() -> None:
    table = pa.table({"blob": pa.array([b"x", None]), "nothing": pa.nulls(2),
                      "items": pa.array([[1], [2, 3]])})
    profile = profile_table(table)
    for name, kind, missing in (("blob", Kind.OTHER, 1), ("nothing", Kind.NULL, 2),
                                ("items", Kind.OTHER, 0)):
        column = profile.column(name)
        assert (column.kind, column.count, column.missing) == (kind, 2, missing)
        assert column.numeric is column.strings is column.boolean is None


def test_empty_table_profiles_and_round_trips() -> None:
    table = pa.table({"x": pa.array([], pa.float64()), "s": pa.array([], pa.string())})
    profile = profile_table(table)
    assert profile.num_rows == 0
    assert _numeric(profile, "x").moments.n == 0 and _numeric(profile, "x").quantiles([0.5]) == []
    assert _roundtrip(profile) == profile


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(InvalidInputError) as info:
        profile_table([1, 2, 3])  # type: ignore[arg-type]
    assert info.value.field == "table"
    duplicated = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["a", "a"])
    with pytest.raises(InvalidInputError, match="duplicate column names"):
        profile_table(duplicated)
    with pytest.raises(KeyError, match="no column 'zz'"):
        profile_table(pa.table({"a": [1]})).column("zz")


# --- merging -----------------------------------------------------------------------------

_floats = st.one_of(st.none(), st.just(math.nan), st.just(math.inf),
                    st.floats(-1e6, 1e6, allow_nan=False))
_rows = st.lists(st.tuples(_floats, st.one_of(st.none(), st.integers(-1000, 1000)),
                           st.one_of(st.none(), st.sampled_from(["a", "b", "c", "dd", ""])),
                           st.one_of(st.none(), st.booleans())), max_size=60)


def _table(rows: list[tuple[Any, ...]]) -> pa.Table:
    f, i, s, b = (list(c) for c in zip(*rows, strict=True)) if rows else ([], [], [], [])
    return pa.table({"f": pa.array(f, pa.float64()), "i": pa.array(i, pa.int64()),
                     "s": pa.array(s, pa.string()), "b": pa.array(b, pa.bool_())})


def _assert_same_stats(merged: ColumnProfile, whole: ColumnProfile, data: np.ndarray) -> None:
    assert (merged.kind, merged.count, merged.missing, merged.nan, merged.inf, merged.absent) == (
        whole.kind, whole.count, whole.missing, whole.nan, whole.inf, whole.absent)
    assert merged.boolean == whole.boolean
    if whole.strings is not None:
        assert merged.strings is not None
        assert merged.strings.categories == whole.strings.categories
        assert merged.strings.distinct == whole.strings.distinct
        assert merged.strings.lengths.n == whole.strings.lengths.n
    if whole.numeric is not None:
        assert merged.numeric is not None
        a, b = merged.numeric.moments, whole.numeric.moments
        assert (a.n, a.min, a.max) == (b.n, b.min, b.max)
        assert a.mean == pytest.approx(b.mean, rel=1e-9, abs=1e-6)
        assert a.sum == pytest.approx(b.sum, rel=1e-9, abs=1e-6)
        assert a.m2 == pytest.approx(b.m2, rel=1e-9, abs=1e-3)
        assert merged.numeric.histogram == whole.numeric.histogram
        ranks = [0.0, 0.1, 0.5, 0.9, 1.0]
        values = merged.numeric.quantiles(ranks)
        assert len(values) == (len(ranks) if data.size else 0)
        for rank, value in zip(ranks, values, strict=False):
            assert _rank_ok(data, value, rank)


@settings(max_examples=80, deadline=None)
@given(_rows, st.data())
def test_merging_halves_gives_the_whole_tables_profile(rows: list[tuple[Any, ...]],
                                                       data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(rows)))
    whole = profile_table(_table(rows))
    merged = merge(profile_table(_table(rows[:cut])), profile_table(_table(rows[cut:])))
    assert merged.num_rows == whole.num_rows == len(rows)
    assert merged.names == whole.names
    f = np.array([r[0] for r in rows if r[0] is not None and math.isfinite(r[0])], dtype=float)
    i = np.array([r[1] for r in rows if r[1] is not None], dtype=float)
    for name, values in (("f", f), ("i", i), ("s", None), ("b", None)):
        _assert_same_stats(merged.column(name), whole.column(name), values)
    assert _roundtrip(merged) == merged


def test_merging_large_partitions_keeps_quantiles_within_the_sketch_bound() -> None:
    rng = np.random.default_rng(3)
    parts = [rng.normal(loc, 1, 150_000) for loc in (0.0, 0.5, 3.0, -1.0)]
    merged = reduce(merge, (profile_table(pa.table({"x": p})) for p in parts))
    data = np.concatenate(parts)
    stats = _numeric(merged, "x")
    assert stats.moments.n == data.size
    assert stats.moments.mean == pytest.approx(data.mean(), rel=1e-9)
    assert stats.moments.std == pytest.approx(data.std(ddof=1), rel=1e-9)
    ranks = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]
    for rank, value in zip(ranks, stats.quantiles(ranks), strict=True):
        assert _rank_ok(data, value, rank), (rank, value)


def test_merge_marks_absent_and_mixed_columns_instead_of_mixing_them() -> None:
    left = profile_table(pa.table({"a": [1.0, 2.0], "k": [1, 2], "z": pa.nulls(2)}))
    right = profile_table(pa.table({"a": [3.0, None, 5.0], "k": ["x", "y", "z"],
                                    "z": [1.5, 2.5, 3.5], "new": ["p", "q", "r"]}))
    merged = merge(left, right)
    assert merged.names == ["a", "k", "z", "new"]
    a = merged.column("a")
    assert (a.count, a.missing, a.absent) == (5, 1, 0)
    k = merged.column("k")
    assert k.kind is Kind.MIXED and k.dtype == "int64 | string" and k.count == 5
    assert k.numeric is k.strings is None
    z = merged.column("z")  # the all-null part adds counts to the numeric part
    assert (z.kind, z.count, z.missing, z.dtype) == (Kind.NUMERIC, 5, 2, "double")
    assert _numeric(merged, "z").moments.mean == pytest.approx(2.5)
    new = merged.column("new")
    assert (new.count, new.absent) == (3, 2) and new.count + new.absent == merged.num_rows
    assert merge(merged, left).column("k").kind is Kind.MIXED
    assert _roundtrip(merged) == merged


def test_merged_truncated_categories_say_they_are_approximate() -> None:
    many = [f"v{k:03d}" for k in range(150) for _ in range(k + 1)]
    big = profile_table(pa.table({"s": many}))  # v000..v049 are only in its other count
    small = profile_table(pa.table({"s": ["v000"] * 500 + ["v149"]}))
    merged = merge(big, small).column("s").strings
    assert merged is not None
    counts = merged.categories.as_dict()
    assert counts["v149"] == 151  # listed on both sides: exact
    assert counts["v000"] == 500  # the true 501 has one in big's other count
    assert not merged.categories.exact
    assert merged.categories.total == len(many) + 501
    known = merge(big, profile_table(pa.table({"s": ["v149", "v100"]}))).column("s").strings
    assert known is not None and known.categories.exact
    assert known.categories.as_dict()["v100"] == 102


# --- JSON --------------------------------------------------------------------------------


def _sample_profile() -> TableProfile:
    return profile_table(pa.table({
        "x": [1.5, None, 3.0, float("nan")], "s": ["a", "b", None, "a"],
        "b": [True, False, None, True],
        "t": pa.array([0, 1, 2, None], pa.timestamp("s")),
    }))


def test_json_round_trip_uses_plain_types() -> None:
    profile = _sample_profile()
    data = profile.to_dict()
    assert data["format"] == 1
    text = json.dumps(data, allow_nan=False)
    assert TableProfile.from_dict(json.loads(text)) == profile
    x = data["columns"][0]
    assert (x["count"], x["missing"], x["nan"], x["numeric"]["n"]) == (4, 1, 1, 2)
    assert x["numeric"]["quantiles"]["p50"] in (1.5, 3.0)
    assert data["columns"][1]["string"]["top"] == [["a", 2], ["b", 1]]
    assert data["columns"][3]["max_text"] == "1970-01-01T00:00:02"


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(d: dict[str, Any]) -> None:
        reduce(lambda node, key: node[key], path[:-1], d)[path[-1]] = value
    return change


def _drop(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
    def change(d: dict[str, Any]) -> None:
        del reduce(lambda node, key: node[key], path[:-1], d)[path[-1]]
    return change


@pytest.mark.parametrize(("damage", "field"), [
    (_drop(("format",)), "format"),
    (_set(("format",), 2), "format"),
    (_set(("format",), "1"), "format"),
    (_set(("num_rows",), -1), "num_rows"),
    (_set(("columns",), {}), "columns"),
    (_set(("columns", 0, "count"), "4"), "columns[0].count"),
    (_set(("columns", 0, "count"), 9), "columns[0].count"),
    (_set(("columns", 0, "kind"), "vector"), "columns[0].kind"),
    (_drop(("columns", 0, "numeric")), "columns[0].numeric"),
    (_set(("columns", 0, "numeric", "mean"), None), "columns[0].numeric.mean"),
    (_set(("columns", 0, "numeric", "n"), 3), "columns[0].numeric.n"),
    (_set(("columns", 0, "numeric", "kll"), "not base64!"), "columns[0].numeric.kll"),
    (_set(("columns", 0, "numeric", "kll"), base64.b64encode(b"\x05\x01\x0f" * 9).decode()),
     "columns[0].numeric.kll"),
    (_set(("columns", 0, "numeric", "histogram", "counts"), [1]), "columns[0].numeric.histogram"),
    (_set(("columns", 1, "string", "top"), [["a", 2, 0]]), "columns[1].string.top"),
    (_set(("columns", 1, "string", "other"), 5), "columns[1].string.other"),
    (_set(("columns", 1, "string", "hll"), base64.b64encode(b"nope").decode()),
     "columns[1].string.hll"),
    (_set(("columns", 2, "boolean", "true"), True), "columns[2].boolean.true"),
    (_set(("columns", 3, "name"), "x"), "columns[3].name"),
])
def test_damaged_json_names_the_field(damage: Callable[[dict[str, Any]], None],
                                      field: str) -> None:
    data = copy.deepcopy(_sample_profile().to_dict())
    damage(data)
    with pytest.raises(InvalidInputError) as info:
        TableProfile.from_dict(data)
    assert info.value.field == field
    assert field in info.value.message


def test_non_object_json_is_rejected() -> None:
    with pytest.raises(InvalidInputError) as info:
        TableProfile.from_dict([])
    assert info.value.field == "profile"


# --- drift -------------------------------------------------------------------------------


def test_identical_data_shows_no_drift() -> None:
    rng = np.random.default_rng(4)
    table = pa.table({"x": rng.normal(size=50_000), "c": rng.choice(["a", "b", "c"], 50_000),
                      "b": rng.random(50_000) > 0.5})
    profile = profile_table(table)
    for drift in compare(profile, profile):
        assert drift.status == "compared" and not drift.drifted and drift.psi == 0.0
        assert drift.ks in (None, 0.0) and drift.tvd in (None, 0.0)
        assert drift.mean_change in (None, 0.0) and drift.missing_rate_change == 0.0
    # KLL compacts at random, so profiling the same data again gives slightly other sketches
    again = compare(profile, profile_table(table))
    for drift in again:
        assert not drift.drifted and drift.psi is not None and drift.psi < 0.01
    assert again[0].ks is not None and again[0].ks < 2 * EPS
    json.dumps([d.to_dict() for d in again], allow_nan=False)


def test_two_samples_of_one_distribution_do_not_drift() -> None:
    rng = np.random.default_rng(5)
    reference = profile_table(pa.table({"x": rng.normal(size=40_000)}))
    current = profile_table(pa.table({"x": rng.normal(size=40_000)}))
    (drift,) = compare(reference, current)
    assert drift.psi is not None and drift.psi < 0.02
    assert drift.ks is not None and drift.ks < 0.03
    assert not drift.drifted


def test_shifted_numeric_distribution_is_flagged() -> None:
    rng = np.random.default_rng(6)
    ref_data, cur_data = rng.normal(10, 2, 60_000), rng.normal(10 + 2 * 2, 2, 60_000)
    (drift,) = compare(profile_table(pa.table({"x": ref_data})),
                       profile_table(pa.table({"x": cur_data})))
    assert drift.drifted and drift.psi is not None and drift.psi >= 0.2
    assert any("PSI" in reason for reason in drift.reasons)
    assert drift.ks is not None and drift.ks > 0.6
    assert drift.mean_change == pytest.approx(cur_data.mean() - ref_data.mean())
    assert drift.std_reference == pytest.approx(ref_data.std(ddof=1))
    assert drift.std_change == pytest.approx(cur_data.std(ddof=1) - ref_data.std(ddof=1))


def _exact_ks(a: np.ndarray, b: np.ndarray) -> float:
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(np.sort(a), grid, side="right") / a.size
    cdf_b = np.searchsorted(np.sort(b), grid, side="right") / b.size
    return float(np.abs(cdf_a - cdf_b).max())


def test_sketch_psi_and_ks_match_the_raw_data_statistics() -> None:
    rng = np.random.default_rng(7)
    ref_data, cur_data = rng.normal(10, 2, 60_000), rng.normal(10.5, 2, 60_000)
    (drift,) = compare(profile_table(pa.table({"x": ref_data})),
                       profile_table(pa.table({"x": cur_data})))
    assert drift.ks == pytest.approx(_exact_ks(ref_data, cur_data), abs=0.02)
    edges = np.quantile(ref_data, np.linspace(0.1, 0.9, 9))  # the exact deciles
    bins = np.concatenate([[-np.inf], edges, [np.inf]])
    r = np.maximum(np.histogram(ref_data, bins)[0] / ref_data.size, 1e-4)
    c = np.maximum(np.histogram(cur_data, bins)[0] / cur_data.size, 1e-4)
    assert drift.psi == pytest.approx(float(np.sum((c - r) * np.log(c / r))), abs=0.015)
    assert not drift.drifted  # a quarter of a standard deviation is a moderate shift


def test_categorical_drift_uses_psi_and_total_variation() -> None:
    reference = profile_table(pa.table({"c": ["a"] * 50 + ["b"] * 30 + ["c"] * 20}))
    same_mix = profile_table(pa.table({"c": ["a"] * 500 + ["b"] * 300 + ["c"] * 200}))
    shifted = profile_table(pa.table({"c": ["a"] * 20 + ["b"] * 30 + ["c"] * 40 + ["d"] * 10}))
    (calm,) = compare(reference, same_mix)
    assert calm.psi == pytest.approx(0.0) and calm.tvd == pytest.approx(0.0)
    (moved,) = compare(reference, shifted)
    assert moved.tvd == pytest.approx(0.5 * (0.3 + 0.0 + 0.2 + 0.1))
    expected = sum((c - r) * math.log(c / r)
                   for r, c in ((0.5, 0.2), (0.3, 0.3), (0.2, 0.4), (1e-4, 0.1)))
    assert moved.psi == pytest.approx(expected)
    assert moved.drifted and moved.ks is None


def test_schema_and_missing_rate_changes() -> None:
    reference = profile_table(pa.table({"keep": [1.0, 2.0, 3.0, 4.0], "gone": [1, 2, 3, 4],
                                        "typed": [1, 2, 3, 4]}))
    current = profile_table(pa.table({"keep": [1.0, None, None, 4.0], "typed": ["1", "2",
                                                                                "3", "4"],
                                      "extra": [True, False, True, True]}))
    by_name = {d.column: d for d in compare(reference, current)}
    assert list(by_name) == ["keep", "gone", "typed", "extra"]
    assert by_name["keep"].missing_rate_change == pytest.approx(0.5)
    assert by_name["keep"].drifted and "missing rate" in by_name["keep"].reasons[0]
    assert (by_name["gone"].status, by_name["gone"].drifted) == ("removed", True)
    typed = by_name["typed"]
    assert (typed.status, typed.reference_kind, typed.current_kind) == (
        "retyped", "numeric", "string")
    assert typed.drifted
    assert (by_name["extra"].status, by_name["extra"].drifted) == ("added", False)
