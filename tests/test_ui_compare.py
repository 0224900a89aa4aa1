"""The compare page through the real app: params side by side with the differing rows marked,
latest metrics, overlaid series downsampled on the server, the parallel-coordinates SVG, the
runs table's "Compare selected", bad inputs (a clear 400 or 404 page), the stores'
``get_metric_series`` (SQLite, PostgreSQL when configured, the REST client's default) and the
page in a real browser."""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.entities import Metric
from shipyard.errors import NotFoundError
from shipyard.server.app import create_app
from shipyard.store.tracking.protocol import TrackingStore
from shipyard.store.tracking.sql import SqlTrackingStore
from tests.conftest import _rest_store, make_store
from tests.test_ui_pages import HX, seed
from tests.ui_support import BROWSER_SKIPS, ensure_assets, shot
from tests.uvicorn_support import serving

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from starlette.testclient import TestClient


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlTrackingStore]:
    sql = make_store("sqlite", tmp_path / "ui")
    assert isinstance(sql, SqlTrackingStore)
    yield sql
    sql.engine.dispose()


@pytest.fixture
def seeded(store: SqlTrackingStore) -> tuple[str, list[str]]:
    return seed(store, runs=4, points=30)


@pytest.fixture
def http(store: SqlTrackingStore) -> Iterator[TestClient]:
    with TestClient(create_app(store)) as client:
        yield client


def rows(html: str, table_class: str) -> dict[str, tuple[bool, list[str]]]:
    """``key -> (marked as differing, cell texts)`` of one compare table."""
    table = re.search(rf'<table class="grid compare {table_class}">(.*?)</table>', html, re.S)
    assert table, f"no {table_class} table"
    found = {}
    for tr, key, cells in re.findall(
            r'<tr( class="differs")?>\s*<th scope="row">([^<\s]+).*?</th>(.*?)</tr>',
            table.group(1), re.S):
        texts = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>",
                                                                        cells, re.S)]
        found[key] = (bool(tr), texts)
    return found


def test_compare_shows_params_metrics_and_marks_differences(
        http: TestClient, seeded: tuple[str, list[str]]) -> None:
    _, ids = seeded
    page = http.get("/ui/compare", params={"run": [ids[0], ids[1], ids[3]]})
    assert page.status_code == 200
    html = page.text
    assert "Compare 3 runs" in html
    params = rows(html, "params")
    # model: gbm for run 0 and 3, rf for run 1; depth differs everywhere.
    assert params["model"] == (True, ["gbm", "rf", "gbm"])
    assert params["depth"] == (True, ["0", "1", "3"])
    assert "2 of 2 params differ" in html
    metrics = rows(html, "metrics")
    assert metrics["f1"] == (True, ["0.5", "0.51", "0.53"])
    # One chart per metric, asking for every run's series.
    charts = re.findall(r'data-series="([^"]+)"', html)
    assert len(charts) == 2 and all(c.count("run=") == 3 for c in charts)
    # The parallel coordinates: one line per run, an axis per differing param and the metric.
    assert html.count('class="run-line"') == 3
    assert re.findall(r'class="axis-label"[^>]*>([^<]+)<', html) == [
        "params.depth", "params.model", "metrics.f1"]
    assert 'aria-labelledby="parallel-title parallel-desc"' in html


def test_only_differences_toggle(http: TestClient, store: SqlTrackingStore) -> None:
    exp = store.create_experiment("toggle")
    a = store.create_run(exp, run_name="a").run_id
    b = store.create_run(exp, run_name="b").run_id
    store.log_batch(a, params={"lr": "0.1", "seed": "7"})
    store.log_batch(b, params={"lr": "0.2", "seed": "7", "extra": "x"})
    full = http.get("/ui/compare", params={"run": [a, b]}).text
    assert rows(full, "params") == {"extra": (True, ["—", "x"]), "lr": (True, ["0.1", "0.2"]),
                                    "seed": (False, ["7", "7"])}
    link = re.search(r'class="diff-toggle" href="([^"]+)"', full)
    assert link and "Show only the params that differ" in full
    only = http.get(link.group(1).replace("&amp;", "&")).text
    assert set(rows(only, "params")) == {"extra", "lr"}
    assert "Show all params" in only
    assert "No metric" not in only and "None of these runs logged a metric." in only


@pytest.mark.parametrize(("count", "message"), [(1, "compare needs 2 to 10 different runs, got 1"),
                                                (11, "got 11")])
def test_too_few_or_too_many_runs_is_a_400_saying_so(
        http: TestClient, store: SqlTrackingStore, count: int, message: str) -> None:
    exp = store.create_experiment("many")
    ids = [store.create_run(exp).run_id for _ in range(count)]
    page = http.get("/ui/compare", params={"run": ids})
    assert page.status_code == 400
    assert message in page.text and "run=&lt;run id&gt;" in page.text
    # The same id twice counts once.
    assert http.get("/ui/compare", params={"run": [ids[0], ids[0]]}).status_code == 400
    assert http.get("/ui/compare").status_code == 400


def test_unknown_or_deleted_runs_are_404_pages(http: TestClient, store: SqlTrackingStore,
                                               seeded: tuple[str, list[str]]) -> None:
    _, ids = seeded
    missing = "0" * 32
    page = http.get("/ui/compare", params={"run": [ids[0], missing]})
    assert page.status_code == 404 and missing in page.text and "Not found" in page.text
    other = store.create_experiment("gone")
    gone = store.create_run(other).run_id
    store.delete_experiment(other)
    page = http.get("/ui/compare", params={"run": [ids[0], gone]})
    assert page.status_code == 404
    assert f"run {gone} is deleted" in page.text
    assert http.get("/ui/compare/series", params={"run": [ids[0], missing],
                                                  "key": "loss"}).status_code == 404


def test_an_unknown_metric_is_a_400(http: TestClient, seeded: tuple[str, list[str]]) -> None:
    _, ids = seeded
    page = http.get("/ui/compare", params={"run": ids[:2], "metric": "nope"})
    assert page.status_code == 400
    assert ("metric &#39;nope&#39; is not logged by any of these runs; choose one of: f1, loss"
            in page.text)
    part = http.get("/ui/compare/parallel", params={"run": ids[:2], "metric": "nope"},
                    headers=HX)
    assert part.status_code == 400 and part.text.startswith('<p class="error" role="alert">')


def test_choosing_another_metric_swaps_the_svg(http: TestClient,
                                               seeded: tuple[str, list[str]]) -> None:
    _, ids = seeded
    part = http.get("/ui/compare/parallel", params={"run": ids[:3], "metric": "loss"},
                    headers=HX)
    assert part.status_code == 200
    assert part.text.startswith('<div id="parallel"') and "<html" not in part.text
    assert "metrics.loss" in part.text and part.text.count('class="run-line"') == 3
    # Colours follow the metric: the highest value gets the dark end of the scale.
    strokes = re.findall(r'stroke="(#[0-9a-f]{6})"', part.text)
    assert "#b3410a" in strokes and "#3a86c8" in strokes
    # Reloading the URL htmx pushed shows the whole page with that metric chosen.
    whole = http.get("/ui/compare/parallel", params={"run": ids[:3], "metric": "loss"})
    assert "<html" in whole.text and '<option value="loss" selected>' in whole.text


def test_a_run_without_the_metric_is_dashed_and_a_missing_param_breaks_its_line(
        http: TestClient, store: SqlTrackingStore) -> None:
    exp = store.create_experiment("gaps")
    a = store.create_run(exp, run_name="a").run_id
    b = store.create_run(exp, run_name="b").run_id
    store.log_batch(a, metrics=[Metric("acc", 0.9, 0, 0)], params={"lr": "0.1", "opt": "adam"})
    store.log_batch(b, params={"opt": "sgd"})
    html = http.get("/ui/compare", params={"run": [a, b], "metric": "acc"}).text
    lines = dict(re.findall(r'd="([^"]*)" stroke="[^"]+" data-run="([0-9a-f]+)"', html))
    paths = {run: path for path, run in lines.items()}
    assert paths[a].count("M") == 1 and paths[a].count("L") == 2  # lr, opt, acc
    assert paths[b].count("M") == 1 and "L" not in paths[b]  # only opt
    assert 'class="run-line no-metric"' in html and "b: acc = no value" in html


def test_series_overlay_is_downsampled_on_the_server(http: TestClient,
                                                     store: SqlTrackingStore) -> None:
    exp = store.create_experiment("long")
    a = store.create_run(exp, run_name="long").run_id
    b = store.create_run(exp, run_name="short").run_id
    values = [float(i % 97) for i in range(20_000)]
    values[12_345] = 1_000.0  # a spike the chart must keep
    for start in range(0, len(values), 5_000):
        store.log_batch(a, metrics=[Metric("loss", values[i], i, 0)
                                    for i in range(start, start + 5_000)])
    store.log_batch(b, metrics=[Metric("loss", 1.0 / (s + 1), s, 0) for s in range(10)])
    series = http.get("/ui/compare/series", params={"run": [a, b], "key": "loss"}).json()
    assert series["x_label"] == "step"
    long, short = series["runs"]
    assert (long["name"], long["total"]) == ("long", 20_000)
    assert long["shown"] == len(long["x"]) <= 2_000 and max(long["y"]) == 1_000.0
    assert 12_345.0 in long["x"]
    assert short["x"] == [float(s) for s in range(10)] and short["total"] == 10
    few = http.get("/ui/compare/series", params={"run": [a, b], "key": "loss", "points": 100})
    assert len(few.json()["runs"][0]["x"]) <= 100
    assert http.get("/ui/compare/series", params={"run": [a, b], "key": "loss",
                                                  "points": 5_000}).status_code == 400


def test_series_without_steps_use_seconds_since_the_first_point(
        http: TestClient, store: SqlTrackingStore) -> None:
    exp = store.create_experiment("timed")
    a = store.create_run(exp).run_id
    b = store.create_run(exp).run_id
    store.log_batch(a, metrics=[Metric("gpu", 1.0, 0, 10_000), Metric("gpu", 2.0, 0, 12_000)])
    store.log_batch(b, metrics=[Metric("gpu", 3.0, 0, 50_000), Metric("gpu", 4.0, 0, 51_000)])
    series = http.get("/ui/compare/series", params={"run": [a, b], "key": "gpu"}).json()
    assert series["x_label"] == "seconds since the first point"
    assert [r["x"] for r in series["runs"]] == [[0.0, 2.0], [0.0, 1.0]]


def test_runs_table_has_a_compare_selected_form(http: TestClient,
                                                seeded: tuple[str, list[str]]) -> None:
    exp, ids = seeded
    html = http.get(f"/ui/experiments/{exp}").text
    form = re.search(r'<form class="compare-select" method="get" action="(/ui/compare)">(.*?)'
                     r'</form>', html, re.S)
    assert form, "no compare form around the runs table"
    boxes = re.findall(r'<input type="checkbox" name="run" value="([0-9a-f]{32})" '
                       r'aria-label="Compare (run-\d+)">', form.group(2))
    assert {run_id for run_id, _ in boxes} == set(ids)
    assert "Compare selected" in form.group(2)
    # The htmx fragment (filter, sort) keeps the checkboxes.
    part = http.get(f"/ui/experiments/{exp}", params={"filter": "params.model = 'gbm'"},
                    headers=HX).text
    assert part.count('type="checkbox" name="run"') == 2


# -- The stores' get_metric_series ----------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "rest"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TrackingStore]:
    """SQLite and PostgreSQL (SHIPYARD_TEST_DATABASE_URL) downsample in SQL; the REST client
    uses the protocol's default over ``get_metric_history``."""
    if request.param == "rest":
        yield from _rest_store(tmp_path)
        return
    sql = make_store(request.param, tmp_path)
    yield sql
    assert isinstance(sql, SqlTrackingStore)
    sql.engine.dispose()


def test_get_metric_series_keeps_extremes_within_the_limit(any_store: TrackingStore) -> None:
    exp = any_store.create_experiment("series")
    run_id = any_store.create_run(exp).run_id
    values = [math.sin(i / 50) for i in range(6_000)]
    values[4_321] = 50.0
    values[777] = -50.0
    values[100] = math.nan
    values[200] = math.inf
    for start in range(0, len(values), 3_000):
        any_store.log_batch(run_id, metrics=[Metric("loss", values[i], i, 1_000 + i)
                                             for i in range(start, start + 3_000)])
    total, points = any_store.get_metric_series(run_id, "loss", 200)
    assert total == 6_000 and 2 <= len(points) <= 200
    steps = [p.step for p in points]
    assert steps == sorted(steps)
    assert max(p.value for p in points) == 50.0 and min(p.value for p in points) == -50.0
    assert {4_321, 777} <= set(steps)
    assert all(math.isfinite(p.value) for p in points)
    assert all(p.value == values[p.step] and p.key == "loss" for p in points)
    # A short series comes back whole, non-finite values included.
    whole_total, whole = any_store.get_metric_series(run_id, "loss", 10_000)
    assert whole_total == 6_000 and len(whole) == 6_000 and math.isnan(whole[100].value)
    assert any_store.get_metric_series(run_id, "nothing", 100) == (0, [])
    with pytest.raises(NotFoundError):
        any_store.get_metric_series("0" * 32, "loss", 100)


def test_get_metric_series_without_steps_buckets_by_time(any_store: TrackingStore) -> None:
    exp = any_store.create_experiment("timed")
    run_id = any_store.create_run(exp).run_id
    any_store.log_batch(run_id, metrics=[Metric("gpu", float(i % 10), 0, 5_000 + i * 10)
                                         for i in range(1_000)])
    total, points = any_store.get_metric_series(run_id, "gpu", 20)
    assert total == 1_000 and len(points) <= 20
    assert {p.value for p in points} == {0.0, 9.0}
    times = [p.timestamp for p in points]
    assert times == sorted(times)


# -- The runs page's query at scale -------------------------------------------------------


def test_sorted_by_a_metric_sqlite_reads_the_sort_index_first_even_with_statistics(
        store: SqlTrackingStore) -> None:
    """With ``ANALYZE`` statistics SQLite's planner used to scan every run of the experiment
    and sort them (600 ms at 100,000 runs); the ranked search pins the join order so a page
    stops after a page's worth of rows."""
    from sqlalchemy import text

    from shipyard.entities import ViewType
    from shipyard.store.tracking import sql_search

    exp = store.create_experiment("plan")
    for i in range(40):
        run_id = store.create_run(exp).run_id
        store.log_batch(run_id, metrics=[Metric(f"m{k}", (i * 7 + k) % 10 / 10, 0, 0)
                                         for k in range(3)], params={"p": "xy"[i % 2]})
    query = sql_search.first_query([exp], "metrics.m0 > 0.5 and params.p = 'x'",
                                   ["metrics.m2 DESC"], ViewType.ACTIVE_ONLY, "sqlite")
    sql = str(query.compile(store.engine, compile_kwargs={"literal_binds": True}))
    assert "FROM latest_metrics AS ranked CROSS JOIN runs ON" in sql
    with store.engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        plan = [row[3] for row in conn.execute(text("EXPLAIN QUERY PLAN " + sql))]
    assert plan[0].startswith("SEARCH ranked USING INDEX ix_latest_metrics_experiment_id_key_value")
    found = store.search_runs([exp], "metrics.m0 > 0.5 and params.p = 'x'", ["metrics.m2 DESC"])
    values = [r.data.metrics["m2"] for r in found.items]
    assert values == sorted(values, reverse=True) and len(values) == 8
    assert all(r.data.metrics["m0"] > 0.5 and r.data.params["p"] == "x" for r in found.items)


# -- In a real browser ----------------------------------------------------------------------


def _browser_only(test: Any) -> Any:
    for mark in BROWSER_SKIPS:  # skipped, with the reason, without Chromium or Playwright
        test = mark(test)
    return test


@_browser_only
def test_compare_two_runs_in_the_browser(page: Any, tmp_path: Path) -> None:
    ensure_assets()
    sql = make_store("sqlite", tmp_path)
    assert isinstance(sql, SqlTrackingStore)
    exp, _ = seed(sql, runs=4, points=3_000)
    with serving(create_app(sql)) as url:
        page.goto(f"{url}/ui/experiments/{exp}")
        page.get_by_label("Compare run-01").check()
        page.get_by_label("Compare run-02").check()
        page.get_by_role("button", name="Compare selected").click()
        page.wait_for_url(re.compile(r"/ui/compare\?run="))
        assert page.get_by_role("heading", name="Compare 2 runs").is_visible()
        canvases = page.locator(".compare-chart canvas")
        canvases.nth(1).wait_for()  # one chart per metric: f1 and loss
        # loss: 3,000 points per run, at most 2,000 of each sent.
        page.locator(".chart-note", has_text="of 6000 points (lowest and highest").wait_for()
        assert page.locator("#parallel path.run-line").count() == 2
        shot(page, "compare")
        page.evaluate("window.stillHere = true")  # htmx swaps the SVG, not the page
        page.get_by_label("Colour and last axis by").select_option("loss")
        page.locator("#parallel text", has_text="metrics.loss").wait_for()
        assert page.evaluate("window.stillHere") is True
        assert "metric=loss" in page.url
        shot(page, "compare-parallel-loss")
    sql.engine.dispose()
