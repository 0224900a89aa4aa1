"""The audit page through the real app over a real SQLite store: events newest first, each
filter, paging, bad filters (400 with the message beside the form), and the chain's status:
verified, then broken after a row is edited in the database."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from shipyard.server.app import create_app
from shipyard.server.ui import audit_query
from shipyard.services.audit.log import AuditLog
from shipyard.store.tracking.sql import SqlTrackingStore
from tests.conftest import make_store

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from starlette.testclient import TestClient


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SqlTrackingStore]:
    monkeypatch.setenv("SHIPYARD_AUDIT_KEY", "ui-audit-test-key-0123456789abcdef")
    sql = make_store("sqlite", tmp_path / "audit")
    assert isinstance(sql, SqlTrackingStore)
    log = AuditLog(sql.engine)
    for i, (actor, action, kind, entity) in enumerate([
            ("ada", "model.create", "registered_model", "fraud"),
            ("ada", "version.create", "model_version", "fraud/1"),
            ("carl", "version.approve", "model_version", "fraud/1"),
            ("ada", "alias.set", "alias", "fraud@production"),
            ("vera", "model.create", "registered_model", "churn"),
            ("ada", "token.create", "token", "0123456789ab")]):
        log.record(actor=actor, action=action, entity_type=kind, entity_id=entity,
                   after={"n": i}, reason="looks good" if action == "version.approve" else None)
    yield sql
    sql.engine.dispose()


@pytest.fixture
def http(store: SqlTrackingStore) -> Iterator[TestClient]:
    with TestClient(create_app(store)) as client:
        yield client


def seqs(html: str) -> list[int]:
    return [int(s) for s in re.findall(r'<th scope="row" class="num">(\d+)</th>', html)]


def test_events_newest_first_with_the_chain_verified(http: TestClient) -> None:
    page = http.get("/ui/audit")
    assert page.status_code == 200, page.text
    assert seqs(page.text) == [6, 5, 4, 3, 2, 1]
    assert "Chain verified." in page.text and "Events 1 to 6 (6 events) were checked" in \
        page.text
    assert "looks good" in page.text and '<option value="version.approve">' in page.text


def test_each_filter(http: TestClient) -> None:
    assert seqs(http.get("/ui/audit?actor=ada").text) == [6, 4, 2, 1]
    assert seqs(http.get("/ui/audit?action=version").text) == [3, 2]  # a prefix
    assert seqs(http.get("/ui/audit?action=model.create").text) == [5, 1]
    assert seqs(http.get("/ui/audit?kind=alias").text) == [4]
    assert seqs(http.get("/ui/audit?entity=fraud").text) == [4, 3, 2, 1]  # versions, aliases
    assert seqs(http.get("/ui/audit?entity=fraud&actor=carl").text) == [3]
    today = datetime.now(UTC).date()
    assert seqs(http.get(f"/ui/audit?since={today}&until={today}").text) == [6, 5, 4, 3, 2, 1]
    assert seqs(http.get(f"/ui/audit?since={today + timedelta(days=1)}").text) == []
    nothing = http.get(f"/ui/audit?until={today - timedelta(days=1)}T23:59")
    assert nothing.status_code == 200 and "No event matches these filters." in nothing.text


def test_pages_go_back_by_seq(http: TestClient, store: SqlTrackingStore) -> None:
    with store.engine.connect() as conn:
        first, cursor = audit_query.page(conn, audit_query.Filters(), size=4)
        assert [e.seq for e in first] == [6, 5, 4, 3] and cursor == 3
        rest, end = audit_query.page(conn, audit_query.Filters(before=str(cursor)), size=4)
        assert [e.seq for e in rest] == [2, 1] and end is None
    assert seqs(http.get("/ui/audit?before=3&actor=ada").text) == [2, 1]


@pytest.mark.parametrize(("params", "message"), [
    ("since=yesterday", "since 'yesterday' is not a date: use a UTC date or date-time"),
    ("until=2026-13-01", "until '2026-13-01' is not a date"),
    ("since=2026-03-02&until=2026-03-01", "since is after until: swap them"),
    ("before=abc", "before must be an event number (seq)"),
    ("actor=" + "x" * 501, "actor is longer than 500 characters"),
])
def test_bad_filters_are_400_with_the_message(http: TestClient, params: str,
                                              message: str) -> None:
    page = http.get(f"/ui/audit?{params}")
    assert page.status_code == 400
    found = re.search(r'<p class="error" role="alert" id="filter-error">([^<]+)</p>', page.text)
    assert found is not None and message in found.group(1).replace("&#39;", "'")
    assert "Chain verified." in page.text  # the rest of the page is still there


def test_an_edited_row_breaks_the_chain(http: TestClient, store: SqlTrackingStore) -> None:
    assert "Chain verified." in http.get("/ui/audit").text
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3"))
    page = http.get("/ui/audit?verify=now").text  # the kept result is bypassed
    assert "The chain is broken at event 3." in page
    assert "Events 1 to 2 (2) verified" in page
    assert re.search(r'<tr class="event-bad">\s*<th scope="row" class="num">3</th>', page)


def test_without_a_key_the_status_says_so(http: TestClient,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHIPYARD_AUDIT_KEY")
    page = http.get("/ui/audit?verify=now")
    assert page.status_code == 200 and "The chain could not be verified here" in page.text
    assert seqs(page.text) == [6, 5, 4, 3, 2, 1]
