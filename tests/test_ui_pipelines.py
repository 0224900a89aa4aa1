"""The pipeline pages through the real app over real pipeline runs (``run_pipeline`` on the
SQLite store of the test's SHIPYARD_HOME): the pipelines list with schedules and the queue,
a pipeline's runs, a run's DAG (one node per step, coloured by state, with its edges), a
failed run's step and log, the live fragment, the layout, and the error pages."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator

import pytest

from shipyard.pipelines import pipeline, run_pipeline, step
from shipyard.pipelines import queue as run_queue
from shipyard.pipelines.schedules import create_schedule
from shipyard.sdk import fluent
from shipyard.server.app import create_app
from shipyard.server.ui import dag_layout
from shipyard.store.tracking.sql import SqlTrackingStore

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from starlette.testclient import TestClient

HX = {"HX-Request": "true"}
FAIL = {"on": False}


@step
def load(n: int) -> int:
    print(f"loading {n} rows")
    return n


@step
def double(x: int) -> int:
    return 2 * x


@step
def square(x: int) -> int:
    if FAIL["on"]:
        print("about to fail on purpose")
        raise RuntimeError("square failed on purpose")
    return x * x


@step
def total(a: int, b: int) -> int:
    return a + b


@pipeline(name="ui-diamond")
def diamond(n: int = 3) -> object:
    first = load(n)
    return total(double(first), square(first))


@pytest.fixture
def store() -> SqlTrackingStore:
    found = fluent.client().store
    assert isinstance(found, SqlTrackingStore)
    return found


@pytest.fixture
def http(store: SqlTrackingStore) -> Iterator[TestClient]:
    with TestClient(create_app(store)) as client:
        yield client


def nodes(html: str) -> dict[str, str]:
    """The DAG's nodes: step name -> state class."""
    return dict(re.findall(r'<g class="node node-[\w-]+" data-step="([^"]+)" '
                           r'data-state="([\w-]+)"', html))


def edges(html: str) -> set[tuple[str, str]]:
    return set(re.findall(r'class="edge" d="[^"]+" marker-end="url\(#arrow\)" '
                          r'data-source="([^"]+)" data-target="([^"]+)"', html))


def test_a_run_shows_its_dag_steps_and_cache_hits(http: TestClient,
                                                   store: SqlTrackingStore) -> None:
    first = run_pipeline(diamond, {"n": 3})
    again = run_pipeline(diamond, {"n": 3})  # every step from the cache
    page = http.get(f"/ui/pipelines/runs/{first.run_id}")
    assert page.status_code == 200, page.text
    assert nodes(page.text) == {"load": "finished", "double": "finished",
                                "square": "finished", "total": "finished"}
    assert edges(page.text) == {("load", "double"), ("load", "square"), ("double", "total"),
                                ("square", "total")}
    # Each node links to its step run; the polling is off for an ended run.
    for name, result in first.steps.items():
        assert f'href="/ui/runs/{result.run_id}" class="node-link"' in page.text, name
    assert "hx-trigger" not in page.text
    assert "4 of 4 steps done, 0 from the cache, 0 failed" in page.text
    assert "loading 3 rows" in page.text  # the load step's captured log
    cached = http.get(f"/ui/pipelines/runs/{again.run_id}").text
    assert set(nodes(cached).values()) == {"cached"}
    assert "4 of 4 steps done, 4 from the cache" in cached

    listing = http.get("/ui/pipelines").text
    assert '<a href="/ui/pipelines/ui-diamond">ui-diamond</a>' in listing
    assert f'/ui/pipelines/runs/{again.run_id}"' in listing  # the latest run
    runs = http.get("/ui/pipelines/ui-diamond").text
    assert runs.count("/ui/pipelines/runs/") == 2
    cells = re.findall(r'<td class="num">(\d+)</td>', runs)
    assert cells == ["4", "4", "0", "4", "0", "0"]  # newest first: done, cached, failed


def test_a_failed_run_shows_the_failed_step_its_log_and_what_never_started(
        http: TestClient) -> None:
    run_pipeline(diamond, {"n": 2})
    FAIL["on"] = True
    try:
        with pytest.raises(RuntimeError, match="on purpose"):
            run_pipeline(diamond, {"n": 5})
    finally:
        FAIL["on"] = False
    failed = fluent.client().search_runs(
        None, "tags.`shipyard.pipeline` = 'ui-diamond' and attributes.status = 'FAILED'")
    assert len(failed) == 1
    page = http.get(f"/ui/pipelines/runs/{failed[0].info.run_id}").text
    states = nodes(page)
    assert states["square"] == "failed" and states["load"] == "finished"
    assert states["total"] == "not-started"  # from the run's own pipeline.json
    assert "taken from this pipeline's last finished run" not in page
    assert re.search(r'<details class="step-log" open>\s*<summary>square', page)
    assert "about to fail on purpose" in page
    assert "0 failed" not in page and "1 failed" in page


def test_a_run_without_its_graph_takes_waiting_steps_from_the_last_finished_run(
        http: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.server.ui import pipelines_data

    run_pipeline(diamond, {"n": 2})
    FAIL["on"] = True
    try:
        with pytest.raises(RuntimeError, match="on purpose"):
            run_pipeline(diamond, {"n": 5})
    finally:
        FAIL["on"] = False
    (failed,) = fluent.client().search_runs(
        None, "tags.`shipyard.pipeline` = 'ui-diamond' and attributes.status = 'FAILED'")
    # As for a run recorded before pipeline runs kept their graph:
    monkeypatch.setattr(pipelines_data, "GRAPH_FILE", "no-such-file.json")
    page = http.get(f"/ui/pipelines/runs/{failed.info.run_id}").text
    assert nodes(page)["total"] == "not-started"
    assert "taken from this pipeline's last finished run" in page


def test_the_fragment_is_only_the_live_part(http: TestClient) -> None:
    done = run_pipeline(diamond, {"n": 1})
    part = http.get(f"/ui/pipelines/runs/{done.run_id}/dag", headers=HX)
    assert part.status_code == 200
    assert part.text.lstrip().startswith("{#") is False and "<html" not in part.text
    assert 'id="pipeline-run"' in part.text and "hx-trigger" not in part.text


def test_a_running_pipeline_polls(http: TestClient, store: SqlTrackingStore) -> None:
    exp = store.create_experiment("live")
    parent = store.create_run(exp, run_name="ui-diamond", tags={"shipyard.pipeline": "ui-diamond"})
    store.create_run(exp, run_name="load", parent_run_id=parent.run_id,
                     tags={"shipyard.step": "load", "shipyard.step.cache_hit": "False",
                           "shipyard.step.upstream": ""})
    page = http.get(f"/ui/pipelines/runs/{parent.run_id}").text
    assert f'hx-get="/ui/pipelines/runs/{parent.run_id}/dag" hx-trigger="every 2s"' in page
    assert nodes(page) == {"load": "running"}
    assert "shown once the run has ended" in page


def test_schedules_and_queue(http: TestClient, store: SqlTrackingStore) -> None:
    schedule = create_schedule(store.engine, "nightly", "flows.py:diamond", cron="0 3 * * *",
                               start_ms=1_700_000_000_000)
    run_queue.enqueue(store.engine, "flows.py:diamond", {"n": 2}, "manual")
    page = http.get("/ui/pipelines")
    assert page.status_code == 200
    assert "<code>0 3 * * *</code>" in page.text and "nightly" in page.text
    assert schedule.next_due_time == 1_700_017_200_000  # 03:00 the next day, UTC
    assert "2023-11-15 03:00:00" in page.text
    assert "manual" in page.text and "No pipeline has run here yet" in page.text


def test_unknown_runs_and_pipelines_are_404_pages(http: TestClient,
                                                  store: SqlTrackingStore) -> None:
    missing = http.get("/ui/pipelines/runs/0123456789abcdef0123456789abcdef")
    assert missing.status_code == 404 and "<h1>Not found</h1>" in missing.text
    assert http.get("/ui/pipelines/runs/nope/dag").status_code == 404
    unknown = http.get("/ui/pipelines/no-such-pipeline")
    assert unknown.status_code == 404 and "no pipeline named" in unknown.text
    quoted = http.get("/ui/pipelines/it's")
    assert quoted.status_code == 400 and "may not contain a quote" in quoted.text
    exp = store.create_experiment("plain")
    plain = store.create_run(exp, run_name="not-a-pipeline")
    refused = http.get(f"/ui/pipelines/runs/{plain.run_id}")
    assert refused.status_code == 400 and "is not a pipeline run" in refused.text


def test_the_layout_is_layered_left_to_right() -> None:
    placed = dag_layout.layout({"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"],
                                "e": ["a", "d"]})
    assert [placed.nodes[n].layer for n in "abcde"] == [0, 1, 1, 2, 3]
    assert placed.nodes["a"].x < placed.nodes["b"].x < placed.nodes["d"].x
    assert placed.nodes["b"].y != placed.nodes["c"].y
    assert len(placed.edges) == 6 and placed.width > 0 and placed.height > 0
    # Barycenters: the node fed by the lower node of a layer moves below its sibling.
    crossed = dag_layout.layout({"a": [], "b": [], "x": ["b"], "y": ["a"]})
    assert crossed.nodes["y"].row == 0 and crossed.nodes["x"].row == 1
    assert dag_layout.layers({"a": ["b"], "b": ["a"]}) in ({"a": 1, "b": 0}, {"a": 0, "b": 1})
