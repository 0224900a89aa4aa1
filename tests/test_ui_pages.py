"""The web UI's pages through the real app in-process: status codes, the runs table's filter,
sort, columns and pages, the run page, artifact previews, metric series and the banner shown
when the browser libraries are missing."""

from __future__ import annotations

import io
import json
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipyard.entities import Metric, RunStatus
from shipyard.entities import run_tags as rt
from shipyard.server.app import create_app
from shipyard.server.ui import templating
from shipyard.store.tracking.sql import SqlTrackingStore
from tests.conftest import make_store

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from starlette.testclient import TestClient

HX = {"HX-Request": "true"}
PNG = bytes.fromhex(  # a 1x1 PNG
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


def seed(store: SqlTrackingStore, runs: int = 12, points: int = 50) -> tuple[str, list[str]]:
    """An experiment with ``runs`` finished runs (params, metrics with series, tags) and, on
    the first run, one artifact of each previewed kind. Returns its id and the run ids."""
    exp = store.create_experiment("churn-model", tags={"team": "risk"})
    ids = []
    for i in range(runs):
        run = store.create_run(exp, run_name=f"run-{i:02d}", user="ana", start_time=1_000 + i,
                               tags={"team": "risk" if i % 2 else "growth",
                                     rt.TAG_GIT_COMMIT: f"{i:040x}", rt.TAG_PYTHON: "3.11.9"})
        series = [Metric("loss", 1.0 / (s + 1 + i), s, 2_000 + s) for s in range(points)]
        store.log_batch(run.run_id, metrics=[*series, Metric("f1", 0.5 + i / 100, 0, 3_000)],
                        params={"model": "rf" if i % 3 else "gbm", "depth": str(i)})
        ids.append(run.run_id)
    first = ids[0]
    store.log_artifact_bytes(first, "notes.txt", b"hello from the run\n")
    store.log_artifact_bytes(first, "config.json", b'{"lr": 0.1, "layers": [1, 2]}')
    store.log_artifact_bytes(first, "plots/roc.png", PNG)
    rows = "".join(f"{n},{n * n}\n" for n in range(80))
    store.log_artifact_bytes(first, "data/sample.csv", ("n,square\n" + rows).encode())
    buffer = io.BytesIO()
    pq.write_table(pa.table({"id": list(range(120)), "name": [f"r{n}" for n in range(120)]}),
                   buffer)
    store.log_artifact_bytes(first, "data/sample.parquet", buffer.getvalue())
    store.log_artifact_bytes(first, "model.bin", b"\x00\x01\x02")
    store.log_artifact_bytes(first, rt.ENVIRONMENT_FILE, b'{"python": "3.11.9"}')
    for run_id in ids:
        store.update_run(run_id, status=RunStatus.FINISHED, end_time=90_000)
    return exp, ids


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlTrackingStore]:
    sql = make_store("sqlite", tmp_path / "ui")
    assert isinstance(sql, SqlTrackingStore)
    yield sql
    sql.engine.dispose()


@pytest.fixture
def seeded(store: SqlTrackingStore) -> tuple[str, list[str]]:
    return seed(store)


@pytest.fixture
def http(store: SqlTrackingStore) -> Iterator[TestClient]:
    with TestClient(create_app(store)) as client:
        yield client


def run_names(html: str) -> list[str]:
    return re.findall(r'<a href="/ui/runs/[0-9a-f]+">(run-\d+)</a>', html)


def test_root_redirects_to_the_experiments_and_the_api_is_unchanged(
        http: TestClient, seeded: tuple[str, list[str]]) -> None:
    answer = http.get("/", follow_redirects=False)
    assert answer.status_code == 307 and answer.headers["location"] == "/ui/experiments"
    page = http.get("/ui/experiments")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "churn-model" in page.text and f'/ui/experiments/{seeded[0]}"' in page.text
    assert http.get("/health").json()["status"] == "ok"
    assert http.get(f"/api/v1/experiments/{seeded[0]}").json()["experiment"]["name"] == \
        "churn-model"
    assert http.get("/api/v1/nope").json()["code"] == "NOT_FOUND"


def test_no_page_loads_anything_from_another_site(http: TestClient,
                                                  seeded: tuple[str, list[str]]) -> None:
    exp, ids = seeded
    for url in ("/ui/experiments", f"/ui/experiments/{exp}", f"/ui/runs/{ids[0]}"):
        html = http.get(url).text
        assert not re.search(r'(src|href)="(https?:)?//', html), url
    static = Path(templating.STATIC_DIR)
    for path in static.glob("*.*"):
        assert "http" not in path.read_text(), path


def test_runs_table_filters_and_sorts_through_the_store(
        http: TestClient, seeded: tuple[str, list[str]]) -> None:
    exp, _ = seeded
    page = http.get(f"/ui/experiments/{exp}")
    assert page.status_code == 200
    assert run_names(page.text)[:3] == ["run-11", "run-10", "run-09"]  # newest first
    assert "metrics.f1" in page.text and "params.model" in page.text
    ranked = http.get(f"/ui/experiments/{exp}", params={"order_by": "metrics.`f1` ASC"})
    assert run_names(ranked.text)[:2] == ["run-00", "run-01"]
    assert 'aria-sort="ascending"' in ranked.text
    # The header link of the sorted column turns the order round.
    assert "order_by=metrics.%60f1%60+DESC" in ranked.text
    by_name = http.get(f"/ui/experiments/{exp}", params={"order_by": "attributes.`run_name` ASC"})
    assert run_names(by_name.text)[:2] == ["run-00", "run-01"]
    only = http.get(f"/ui/experiments/{exp}",
                    params={"filter": "params.model = 'gbm' and metrics.f1 > 0.52"})
    assert run_names(only.text) == ["run-09", "run-06", "run-03"]
    none = http.get(f"/ui/experiments/{exp}", params={"filter": "tags.team = 'nobody'"})
    assert none.status_code == 200 and "No runs match this filter" in none.text


def test_a_bad_filter_is_shown_beside_the_box_with_400(
        http: TestClient, seeded: tuple[str, list[str]]) -> None:
    exp, _ = seeded
    for headers in ({}, HX):
        answer = http.get(f"/ui/experiments/{exp}", params={"filter": "metrics.f1 >"},
                          headers=headers)
        assert answer.status_code == 400
        assert 'id="filter-error"' in answer.text and "expected a number" in answer.text
        assert 'aria-invalid="true"' in answer.text
        assert ("<html" in answer.text) is not bool(headers)  # htmx gets the part only
    restore = http.get(f"/ui/experiments/{exp}", headers={**HX,
                                                          "HX-History-Restore-Request": "true"})
    assert "<html" in restore.text  # htmx restoring history needs the whole page
    bad_sort = http.get(f"/ui/experiments/{exp}", params={"order_by": "nonsense.x DESC"})
    assert bad_sort.status_code == 400 and 'id="filter-error"' in bad_sort.text


def test_pages_follow_the_store_page_token(http: TestClient,
                                           seeded: tuple[str, list[str]]) -> None:
    exp, _ = seeded
    first = http.get(f"/ui/experiments/{exp}", params={"max_results": 5})
    assert len(run_names(first.text)) == 5
    link = re.search(r'<a href="([^"]+)"[^>]*rel="next"', first.text)
    assert link is not None
    seen = run_names(first.text)
    url = link.group(1).replace("&amp;", "&")
    while url:
        page = http.get(url, headers=HX)
        assert page.status_code == 200 and "<html" not in page.text
        seen += run_names(page.text)
        found = re.search(r'<a href="([^"]+)"[^>]*rel="next"', page.text)
        url = found.group(1).replace("&amp;", "&") if found else ""
    assert seen == [f"run-{i:02d}" for i in range(11, -1, -1)]


def test_column_chooser_shows_the_chosen_keys(http: TestClient,
                                              seeded: tuple[str, list[str]]) -> None:
    exp, _ = seeded
    page = http.get(f"/ui/experiments/{exp}")
    assert 'name="cols" value="tags.team"' in page.text  # offered, not shown by default
    assert "tags.team</a>" not in page.text
    chosen = http.get(f"/ui/experiments/{exp}",
                      params={"chooser": "1", "cols": ["tags.team", "params.depth"]})
    assert "tags.team</a>" in chosen.text and "params.depth</a>" in chosen.text
    assert "metrics.f1</a>" not in chosen.text
    assert '<label for="filter">' in chosen.text  # the filter box has its label


def test_run_page_shows_params_metrics_tags_code_and_lineage(
        http: TestClient, store: SqlTrackingStore, seeded: tuple[str, list[str]]) -> None:
    _, ids = seeded
    child = store.create_run(store.get_run(ids[0]).info.experiment_id, run_name="child-run",
                             parent_run_id=ids[0])
    page = http.get(f"/ui/runs/{ids[0]}")
    assert page.status_code == 200
    text = page.text
    for expected in ("run-00", "depth", "gbm", "loss", "f1", "growth", "0" * 40, "3.11.9",
                     "child-run", f"/ui/runs/{child.run_id}", "notes.txt", "plots/"):
        assert expected in text, expected
    assert f"artifact={quote(rt.ENVIRONMENT_FILE, safe='')}" in text  # the environment link
    assert "requirements.lock" not in text  # not logged, so not linked
    assert text.count('class="chart"') == 2
    assert f"/ui/runs/{ids[0]}/metric-series?key=loss" in text
    child_page = http.get(f"/ui/runs/{child.run_id}").text
    assert f'href="/ui/runs/{ids[0]}"' in child_page  # the parent link
    missing = http.get("/ui/runs/" + "f" * 32)
    assert missing.status_code == 404 and "<html" in missing.text
    assert http.get("/ui/experiments/99999").status_code == 404


def test_metric_series_is_downsampled_on_the_server(
        http: TestClient, store: SqlTrackingStore) -> None:
    exp = store.create_experiment("long")
    run = store.create_run(exp)
    values = [float(i % 97) for i in range(20_000)]
    values[12_345] = 1_000.0  # a spike the chart must keep
    for start in range(0, len(values), 5_000):
        store.log_batch(run.run_id, metrics=[Metric("loss", values[i], i, 0)
                                             for i in range(start, start + 5_000)])
    series = http.get(f"/ui/runs/{run.run_id}/metric-series", params={"key": "loss"}).json()
    assert series["total"] == 20_000 and series["shown"] == len(series["x"]) <= 2_000
    assert max(series["y"]) == 1_000.0 and series["x_label"] == "step"
    small = http.get(f"/ui/runs/{run.run_id}/metric-series",
                     params={"key": "loss", "points": 100}).json()
    assert len(small["x"]) <= 100
    assert http.get(f"/ui/runs/{run.run_id}/metric-series",
                    params={"key": "loss", "points": 5000}).status_code == 400
    assert http.get("/ui/runs/" + "0" * 32 + "/metric-series",
                    params={"key": "loss"}).status_code == 404


def test_artifact_previews(http: TestClient, seeded: tuple[str, list[str]]) -> None:
    _, ids = seeded
    base = f"/ui/runs/{ids[0]}/artifacts"

    def part(**params: str) -> str:
        answer = http.get(base, params=params, headers=HX)
        assert answer.status_code == 200, answer.text
        return answer.text

    assert "hello from the run" in part(artifact="notes.txt")
    pretty = part(artifact="config.json")
    assert json.dumps({"lr": 0.1}, indent=2)[2:-2] in pretty.replace("&#34;", '"')
    image = part(dir="plots", artifact="plots/roc.png")
    assert f'src="/ui/runs/{ids[0]}/file?path=plots%2Froc.png"' in image
    csv = part(dir="data", artifact="data/sample.csv")
    assert "<th scope=\"col\">square</th>" in csv and "<td>49</td>" in csv
    assert "<td>2500</td>" not in csv and "first 50 rows" in csv  # 50 of 80 rows
    parquet = part(dir="data", artifact="data/sample.parquet")
    assert "<td>r49</td>" in parquet and "<td>r50</td>" not in parquet
    assert "first 50 of 120 rows" in parquet
    assert "no preview" in part(artifact="model.bin")
    assert "has no file" in part(artifact="nope.txt")
    assert "No artifacts in gone" in part(dir="gone")  # a stale folder link
    listing = part(dir="data")
    assert "sample.csv" in listing and "notes.txt" not in listing
    raw = http.get(f"/ui/runs/{ids[0]}/file", params={"path": "plots/roc.png"})
    assert raw.content == PNG and raw.headers["content-type"] == "image/png"
    assert raw.headers["content-security-policy"] == "sandbox"
    # The full page opens the same preview, for links and reloads.
    assert "hello from the run" in http.get(f"/ui/runs/{ids[0]}",
                                            params={"artifact": "notes.txt"}).text


def test_pages_render_with_a_banner_when_vendor_assets_are_missing(
        http: TestClient, seeded: tuple[str, list[str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    exp, ids = seeded
    monkeypatch.setattr(templating, "VENDOR_DIR", Path("/nonexistent/vendor"))
    for url in ("/ui/experiments", f"/ui/experiments/{exp}", f"/ui/runs/{ids[0]}"):
        page = http.get(url)
        assert page.status_code == 200, url
        assert 'class="banner" role="alert"' in page.text and "make ui-assets" in page.text
        assert "vendor/htmx.min.js" not in page.text


def test_static_files_are_served(http: TestClient) -> None:
    css = http.get("/ui/static/ui.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]
    assert http.get("/ui/static/ui.js").status_code == 200


def test_without_jinja2_the_ui_says_what_to_install_and_the_api_works(
        store: SqlTrackingStore, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from shipyard.server import ui

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "jinja2" else real(name, *a))
    with TestClient(create_app(store)) as client:
        page = client.get("/ui/experiments")
        assert page.status_code == 503 and ui.MISSING_JINJA in page.text
        assert "shipyard-mlops[server,ui]" in page.text
        assert client.get("/", follow_redirects=False).status_code == 307
        assert client.get("/api/v1/experiments").status_code == 200


def test_with_auth_the_pages_need_a_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    from shipyard.server.app import create_app_from_uris
    from shipyard.services.auth import AuthService
    from shipyard.store.db import create_db_engine

    monkeypatch.setenv("SHIPYARD_SERVER_AUTH_CACHE_SECONDS", "0")
    db_url = f"sqlite:///{tmp_path / 'meta.db'}"
    engine = create_db_engine(db_url)
    _user, token = AuthService(engine).create_user("vera", role="viewer", actor="ops")
    app = create_app_from_uris(db_url, str(tmp_path / "artifacts"), auth=True)
    with TestClient(app) as client:
        away = client.get("/ui/experiments", follow_redirects=False)
        assert away.status_code == 303
        assert away.headers["location"].startswith("/ui/login?next=")
        page = client.get("/ui/experiments", headers={"Authorization": f"Bearer {token}"})
        assert page.status_code == 200 and "<h1>Experiments</h1>" in page.text
    engine.dispose()


def test_run_page_links_the_datasets_and_model_versions_of_the_run(
        http: TestClient, store: SqlTrackingStore, seeded: tuple[str, list[str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.entities import DatasetKind, DatasetRole
    from shipyard.services.registry.service import RegistryService
    from shipyard.store.data.sql import SqlDatasetStore

    monkeypatch.setenv("SHIPYARD_AUDIT_KEY", "test-audit-key-0123456789abcdef")
    _, ids = seeded
    datasets = SqlDatasetStore(store.engine)
    datasets.create_version("addresses", digest="ab" * 32, kind=DatasetKind.TABLE, size=10,
                            file_count=1, created_by="ana")
    datasets.log_run_dataset(ids[0], "addresses", 1, DatasetRole.INPUT)
    RegistryService(store.engine).create_version("matcher", f"runs:/{ids[0]}/model",
                                                 actor="ana", run_id=ids[0])
    page = http.get(f"/ui/runs/{ids[0]}").text
    assert "addresses@v1" in page and "Dataset (input)" in page
    assert "models:/matcher/1" in page
