"""The dataset pages through the real app in-process, over real dataset versions on SQLite with
local artifacts: the list, a dataset's versions, a version's schema, profiles and runs, the
diff of two versions, bad and unknown input, and a store with no dataset support."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shipyard.entities.dataset import DatasetRole
from shipyard.server.app import create_app
from shipyard.services.data.service import DatasetService
from shipyard.services.data.stat_cache import StatCache
from shipyard.store.data.sql import SqlDatasetStore
from shipyard.store.tracking.sql import SqlTrackingStore
from tests.conftest import make_store
from tests.data_support import write_tree

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from starlette.testclient import TestClient


def customers(rows: int, shift: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.normal(40 + shift, 8, rows).round(1),
        "plan": rng.choice(["basic", "pro", "team"], rows, p=[0.6, 0.3, 0.1]),
        "active": rng.random(rows) > 0.3,
    })


def seed_datasets(store: SqlTrackingStore, cache: Path) -> dict[str, str]:
    """``customers`` v1 and v2 (ages shifted by 25 years, a column added, more rows), a folder
    dataset ``images``, and a run that read v1 and wrote v2. Returns the run's id."""
    service = DatasetService(SqlDatasetStore(store.engine), store.content, user="alice",
                             cache=StatCache(cache))
    service.add(customers(300, 0, 1), "customers", description="first export")
    newer = customers(400, 25, 2)
    newer["region"] = "eu"
    service.add(newer, "customers", description="spring export")
    write_tree(cache.parent / "images", {"a.txt": "one", "b/c.txt": "two"})
    service.add(cache.parent / "images", "images")
    exp = store.create_experiment("prep")
    run = store.create_run(exp, run_name="clean", user="alice", start_time=1)
    service.log_run_dataset(run.run_id, "customers@v1", DatasetRole.INPUT)
    service.log_run_dataset(run.run_id, "customers@v2", DatasetRole.OUTPUT)
    service.cache.close()
    return {"run_id": run.run_id}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlTrackingStore]:
    sql = make_store("sqlite", tmp_path / "ui")
    assert isinstance(sql, SqlTrackingStore)
    yield sql
    sql.engine.dispose()


@pytest.fixture
def seeded(store: SqlTrackingStore, tmp_path: Path) -> dict[str, str]:
    return seed_datasets(store, tmp_path / "cache")


@pytest.fixture
def http(store: SqlTrackingStore) -> Iterator[TestClient]:
    with TestClient(create_app(store)) as client:
        yield client


def test_the_list_shows_each_dataset_with_its_latest_version(
        http: TestClient, seeded: dict[str, str]) -> None:
    page = http.get("/ui/datasets")
    assert page.status_code == 200
    row = re.search(r'<a href="/ui/datasets/customers">customers</a>.*?</tr>', page.text, re.S)
    assert row is not None
    assert 'href="/ui/datasets/customers/v/2">v2</a>' in row.group(0)
    assert ">400<" in row.group(0)  # rows of the latest version
    assert 'href="/ui/datasets/images"' in page.text
    assert not re.search(r'(src|href)="(https?:)?//', page.text)


def test_a_dataset_lists_its_versions_with_a_diff_form(
        http: TestClient, seeded: dict[str, str]) -> None:
    page = http.get("/ui/datasets/customers")
    assert page.status_code == 200
    assert page.text.index(">v2</a>") < page.text.index(">v1</a>")  # newest first
    assert "spring export" in page.text and "first export" in page.text
    assert 'action="/ui/datasets/customers/diff"' in page.text
    assert '<label for="diff-a">' in page.text


def test_a_version_shows_schema_profiles_files_and_runs(
        http: TestClient, seeded: dict[str, str]) -> None:
    page = http.get("/ui/datasets/customers/v/2")
    assert page.status_code == 200
    text = page.text
    for column, kind in (("age", "double"), ("plan", "string"), ("region", "string")):
        assert re.search(rf"<th scope=\"row\">{column}</th><td><code>{kind}</code>", text)
    assert text.count('<svg class="histogram"') == 1  # age is the one numeric column
    assert re.search(r'aria-label="Histogram of age: \d+ bins', text)
    assert "<th scope=\"col\">p50</th>" in text
    assert re.search(r'<th scope="row">basic</th><td class="num">\d+</td>', text)
    assert "data.parquet" in text
    assert f'href="/ui/runs/{seeded["run_id"]}"' in text and "wrote it (output)" in text
    older = http.get("/ui/datasets/customers/v/1").text
    assert "read it (input)" in older
    folder = http.get("/ui/datasets/images/v/1")
    assert folder.status_code == 200 and "b/c.txt" in folder.text
    assert "has no schema or column profile" in folder.text


def test_the_diff_shows_files_schema_rows_and_the_drifted_column(
        http: TestClient, seeded: dict[str, str]) -> None:
    page = http.get("/ui/datasets/customers/diff", params={"a": "1", "b": "v2"})
    assert page.status_code == 200
    text = page.text
    assert re.search(r"added</span> region <code>string</code>", text)
    assert re.search(r'<th scope="row">Rows</th><td class="num">300</td><td class="num">400',
                     text)
    age = re.search(r'<tr class="drifted">\s*<th scope="row">age</th>.*?</tr>', text, re.S)
    assert age is not None and "<td>yes</td>" in age.group(0)
    assert "changed</span> data.parquet" in text
    same = http.get("/ui/datasets/customers/diff", params={"a": "2", "b": "2"})
    assert same.status_code == 200 and "same content" in same.text


def test_unknown_names_and_versions_are_404_pages(
        http: TestClient, seeded: dict[str, str]) -> None:
    for url in ("/ui/datasets/nope", "/ui/datasets/customers/v/9", "/ui/datasets/nope/v/1",
                "/ui/datasets/nope/diff?a=1&b=2", "/ui/datasets/customers/diff?a=1&b=7"):
        page = http.get(url)
        assert page.status_code == 404, url
        assert "<h1>Not found</h1>" in page.text and 'role="alert"' in page.text


def test_bad_versions_are_400_naming_the_field(
        http: TestClient, seeded: dict[str, str]) -> None:
    page = http.get("/ui/datasets/customers/v/latest")
    assert page.status_code == 400 and "version must be a version number" in page.text
    missing = http.get("/ui/datasets/customers/diff", params={"a": "1"})
    assert missing.status_code == 400 and "b must be a version number" in missing.text
    bad = http.get("/ui/datasets/customers/diff", params={"a": "one", "b": "2"})
    assert bad.status_code == 400 and "a must be a version number such as 3" in bad.text


def test_an_empty_store_says_how_to_add_a_dataset(http: TestClient) -> None:
    page = http.get("/ui/datasets")
    assert page.status_code == 200 and "No datasets yet" in page.text


def test_a_store_without_a_database_gets_a_message_not_a_500(
        store: SqlTrackingStore) -> None:
    class Remote:  # a tracking store that is a client of another server: no engine here
        def __getattr__(self, name: str) -> object:
            if name in ("engine", "content"):
                raise AttributeError(name)
            return getattr(store, name)

    with TestClient(create_app(Remote())) as client:  # type: ignore[arg-type]
        page = client.get("/ui/datasets")
        models = client.get("/ui/models")  # the registry needs the database too
    assert page.status_code == 501
    assert "has neither" in page.text and "shipyard server" in page.text
    assert models.status_code == 501 and "The model registry lives" in models.text
