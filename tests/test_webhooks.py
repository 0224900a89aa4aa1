"""Registry webhooks end to end: real POSTs to a local HTTP receiver, on SQLite and PostgreSQL.

The outbox is written in the registry's transaction, so what rolls back sends nothing; what
commits is posted at once (best effort) and retried by the dispatcher until delivered or
failed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from shipyard.entities.webhook import DeliveryStatus
from shipyard.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from shipyard.services import webhooks
from shipyard.services.audit.log import AuditLog
from shipyard.services.registry.service import RegistryService
from shipyard.services.webhooks.background import start_background_dispatcher
from shipyard.services.webhooks.dispatcher import Dispatcher
from shipyard.services.webhooks.service import WebhookService
from shipyard.services.webhooks.signing import verify
from shipyard.store import schema as t
from shipyard.store.db import create_db_engine
from tests.registry_support import registry
from tests.webhook_support import Receiver, closed_port_url, receiver

__all__ = ["receiver", "registry"]  # fixtures


@pytest.fixture
def hooks(registry: RegistryService, monkeypatch: pytest.MonkeyPatch
          ) -> Iterator[WebhookService]:
    monkeypatch.setenv("SHIPYARD_WEBHOOK_BACKOFF", "0.01")
    monkeypatch.setenv("SHIPYARD_WEBHOOK_BACKOFF_MAX", "0.05")
    monkeypatch.setenv("SHIPYARD_WEBHOOK_TIMEOUT", "5")

    def wipe() -> None:  # PostgreSQL outlives a test, and other suites use its registry
        with registry.engine.begin() as conn:
            conn.execute(delete(t.webhooks))

    wipe()
    yield WebhookService(registry.engine, registry.audit)
    wipe()


def _deliveries(hooks: WebhookService) -> list[tuple[int, str, str]]:
    return sorted((d.webhook_id, d.event_type, str(d.status)) for d in hooks.deliveries())


def _drain(engine_hooks: WebhookService, timeout: float = 10.0) -> None:
    """Run the dispatcher until nothing is pending (retries wait a few milliseconds)."""
    dispatcher = Dispatcher(engine_hooks.engine)
    deadline = time.monotonic() + timeout
    while engine_hooks.deliveries(status="pending") and time.monotonic() < deadline:
        dispatcher.deliver_due()
        time.sleep(0.02)


def _approved_version(registry: RegistryService) -> None:
    registry.create_version("er-matcher", "runs:/r1/model", actor="alice")
    registry.request_approval("er-matcher", 1, actor="alice", comment="beats baseline")
    registry.approve("er-matcher", 1, actor="bob", comment="reviewed the report")


def test_an_approval_posts_one_signed_request(registry: RegistryService,
                                              hooks: WebhookService, receiver: Receiver) -> None:
    created = hooks.add(receiver.url(), actor="ops", events=["model_version.approved"])
    _approved_version(registry)

    # Delivered right after the commit, in the same call: no daemon needed.
    [request] = receiver.requests
    body = json.loads(request.body)
    assert request.path == "/hook"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Shipyard-Event"] == "model_version.approved"
    assert request.headers["X-Shipyard-Delivery"] == body["id"]
    stamp = request.headers["X-Shipyard-Timestamp"]
    assert abs(time.time() - int(stamp)) < 60
    # The receiver's own check, written out as docs/webhooks.md shows it.
    expected = hmac.new(created.secret.encode(), stamp.encode() + b"." + request.body,
                        hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["X-Shipyard-Signature"], f"sha256={expected}")
    assert verify(created.secret, request.body, stamp, request.headers["X-Shipyard-Signature"])
    assert not verify(created.secret, request.body + b" ", stamp,
                      request.headers["X-Shipyard-Signature"])
    assert not verify("another secret", request.body, stamp,
                      request.headers["X-Shipyard-Signature"])
    assert not verify(created.secret, request.body, stamp,
                      request.headers["X-Shipyard-Signature"], now=int(stamp) + 3600)

    assert body["event"] == "model_version.approved"
    data = body["data"]
    assert (data["model"], data["version"], data["status"]) == ("er-matcher", 1, "approved")
    assert (data["actor"], data["comment"]) == ("bob", "reviewed the report")
    assert data["alias"] is None and isinstance(data["time"], int)
    assert data["audit_seq"] == registry.audit.events(limit=1)[0].seq

    [logged] = hooks.deliveries()
    assert logged.id == body["id"] and logged.payload.encode() == request.body
    assert (logged.status, logged.attempts, logged.last_status_code) == (
        DeliveryStatus.DELIVERED, 1, 200)
    assert logged.delivered_time is not None and logged.last_error is None
    assert Dispatcher(registry.engine).deliver_due() == []  # never sent twice


def test_a_rolled_back_change_enqueues_nothing(registry: RegistryService,
                                               hooks: WebhookService, receiver: Receiver) -> None:
    hooks.add(receiver.url(), actor="ops")
    registry.create_version("er-matcher", "runs:/r1/model", actor="alice")
    registry.request_approval("er-matcher", 1, actor="alice")
    with pytest.raises(PermissionDeniedError, match="four eyes"):
        registry.approve("er-matcher", 1, actor="alice")

    assert [e for _, e, _ in _deliveries(hooks)] == ["model_version.approval_requested",
                                                     "model_version.created"]
    assert Dispatcher(registry.engine).deliver_due() == []
    assert [r.headers["X-Shipyard-Event"] for r in receiver.requests] == [
        "model_version.created", "model_version.approval_requested"]

    # The same through the outbox API: enqueued, then rolled back with the transaction.
    with pytest.raises(RuntimeError), webhooks.transaction(registry.audit) as conn:
        assert len(webhooks.enqueue(conn, "alias.moved", {"model": "er-matcher"})) == 1
        raise RuntimeError("the change failed")
    assert len(hooks.deliveries()) == 2 and len(receiver.requests) == 2


def test_a_failing_receiver_is_retried_until_it_answers_2xx(
        registry: RegistryService, hooks: WebhookService, receiver: Receiver) -> None:
    hooks.add(receiver.url(), actor="ops", events=["model_version.created"])
    receiver.answers = [500, 500]
    registry.create_version("er-matcher", "runs:/r1/model", actor="alice")

    [first] = hooks.deliveries()  # the attempt after the commit failed; the change stands
    assert (first.status, first.attempts, first.last_status_code) == (
        DeliveryStatus.PENDING, 1, 500)
    assert first.last_error == "HTTP 500: receiver is down"
    assert registry.get_version("er-matcher", 1).created_by == "alice"

    _drain(hooks)
    [done] = hooks.deliveries()
    assert (done.status, done.attempts, done.last_status_code, done.last_error) == (
        DeliveryStatus.DELIVERED, 3, 200, None)
    assert len(receiver.requests) == 3
    assert {r.headers["X-Shipyard-Delivery"] for r in receiver.requests} == {done.id}
    assert {r.body for r in receiver.requests} == {done.payload.encode()}


def test_an_unreachable_url_fails_after_max_attempts(registry: RegistryService,
                                                     hooks: WebhookService,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_WEBHOOK_MAX_ATTEMPTS", "3")
    hooks.add(closed_port_url(), actor="ops")
    registry.create_version("er-matcher", "runs:/r1/model", actor="alice")  # does not fail

    _drain(hooks)
    [failed] = hooks.deliveries()
    assert (failed.status, failed.attempts, failed.last_status_code) == (
        DeliveryStatus.FAILED, 3, None)
    assert failed.last_error is not None and "ConnectError" in failed.last_error
    assert failed.delivered_time is None
    time.sleep(0.1)
    assert Dispatcher(registry.engine).deliver_due() == []  # failed is final
    assert hooks.deliveries(status="failed") == [failed]


def test_event_and_model_filters(registry: RegistryService, hooks: WebhookService,
                                 receiver: Receiver) -> None:
    aliases = hooks.add(receiver.url("/aliases"), actor="ops", events=["alias.moved"],
                        model="fraud").webhook
    every = hooks.add(receiver.url("/all"), actor="ops").webhook
    other = hooks.add(receiver.url("/other"), actor="ops", model="other",
                      events=["model_version.created"]).webhook
    registry.create_version("fraud", "runs:/r1/model", actor="alice")
    registry.set_alias("fraud", "champion", 1, actor="alice", reason="first model")
    registry.delete_alias("fraud", "champion", actor="alice")

    assert _deliveries(hooks) == sorted(
        [(aliases.id, "alias.moved", "delivered")] * 2
        + [(every.id, "alias.moved", "delivered")] * 2
        + [(every.id, "model_version.created", "delivered")])
    assert not hooks.deliveries(webhook_id=other.id)
    moves = [json.loads(r.body)["data"] for r in receiver.requests if r.path == "/aliases"]
    assert [(m["alias"], m["version"], m["previous_version"], m["comment"]) for m in moves] == [
        ("champion", 1, None, "first model"), ("champion", None, 1, None)]
    [created] = [json.loads(r.body)["data"] for r in receiver.requests
                 if r.headers["X-Shipyard-Event"] == "model_version.created"]
    assert (created["source"], created["status"], created["actor"]) == (
        "runs:/r1/model", "none", "alice")


def test_partial_approval_is_no_approved_event(registry: RegistryService,
                                               hooks: WebhookService, receiver: Receiver) -> None:
    from shipyard.entities.policy import Policy

    hooks.add(receiver.url(), actor="ops", events=["model_version.approved"])
    registry.create_version("er-matcher", "runs:/r1/model", actor="alice")
    registry.set_policy("er-matcher", Policy(approvals=2), actor="admin")
    registry.request_approval("er-matcher", 1, actor="alice")
    registry.approve("er-matcher", 1, actor="bob")
    assert receiver.requests == []  # still pending: one more approver is needed
    registry.approve("er-matcher", 1, actor="carol")
    [request] = receiver.requests
    assert json.loads(request.body)["data"]["actor"] == "carol"


def test_bad_input_is_a_clear_error(registry: RegistryService, hooks: WebhookService) -> None:
    for url in ("ftp://example.com/hook", "example.com/hook", "http://", "http://a b/",
                "http://host:99999/", ""):
        with pytest.raises(InvalidInputError) as bad_url:
            hooks.add(url, actor="ops")
        assert bad_url.value.field == "url"
    with pytest.raises(InvalidInputError, match=r"model_version\.deployed") as bad_event:
        hooks.add("https://ci.example.com/hook", actor="ops",
                  events=["model_version.deployed"])
    assert bad_event.value.field == "events" and "alias.moved" in bad_event.value.message
    with pytest.raises(InvalidInputError, match="alone"):
        hooks.add("https://ci.example.com/hook", actor="ops", events=["*", "alias.moved"])
    with pytest.raises(InvalidInputError) as bad_model:
        hooks.add("https://ci.example.com/hook", actor="ops", model="a/b")
    assert bad_model.value.field == "model"
    with pytest.raises(InvalidInputError, match="pending, delivered, failed"):
        hooks.deliveries(status="sent")
    with pytest.raises(InvalidInputError, match="unknown webhook event type"), \
            webhooks.transaction(registry.audit) as conn:
        webhooks.enqueue(conn, "model.deleted", {})
    with pytest.raises(NotFoundError, match="no webhook with id 999"):
        hooks.remove(999, actor="ops")
    assert hooks.list_webhooks() == []  # nothing half-written


def test_adding_and_removing_are_audited_without_the_secret(
        registry: RegistryService, hooks: WebhookService, receiver: Receiver) -> None:
    created = hooks.add(receiver.url() + "?token=abc", actor="ops", model="er-matcher")
    assert created.webhook.events == ("*",) and len(created.secret) == 64
    assert hooks.list_webhooks() == [created.webhook]
    registry.create_version("er-matcher", "runs:/r1/model", actor="alice")
    assert len(hooks.deliveries()) == 1

    hooks.set_active(created.webhook.id, False, actor="ops")
    registry.create_version("er-matcher", "runs:/r2/model", actor="alice")
    assert len(hooks.deliveries()) == 1  # a paused webhook gets no new deliveries
    hooks.remove(created.webhook.id, actor="ops")
    assert hooks.list_webhooks() == [] and hooks.deliveries() == []  # the log goes with it

    events = registry.audit.events(entity_type="webhook", newest_first=False)
    assert [(e.actor, e.action) for e in events] == [
        ("ops", "webhook.add"), ("ops", "webhook.disable"), ("ops", "webhook.remove")]
    assert events[0].after_value()["url"] == receiver.url()  # no query string: it may hold a token
    assert all(created.secret not in f"{e.before}{e.after}" for e in events)
    assert registry.audit.verify().ok


def test_queued_deliveries_of_a_paused_webhook_wait(registry: RegistryService,
                                                    hooks: WebhookService, receiver: Receiver,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_WEBHOOK_DELIVER_ON_COMMIT", "false")
    hook = hooks.add(receiver.url(), actor="ops").webhook
    registry.create_version("er-matcher", "runs:/r1/model", actor="alice")
    assert receiver.requests == []  # not sent on commit when that is switched off
    hooks.set_active(hook.id, False, actor="ops")
    assert Dispatcher(registry.engine).deliver_due() == []
    hooks.set_active(hook.id, True, actor="ops")
    [result] = Dispatcher(registry.engine).deliver_due()
    assert (result.status, result.status_code, result.url) == (
        DeliveryStatus.DELIVERED, 200, receiver.url())
    assert len(receiver.requests) == 1


def test_background_dispatcher_sends_on_commit(registry: RegistryService,
                                               hooks: WebhookService, receiver: Receiver) -> None:
    hooks.add(receiver.url(), actor="ops")
    dispatcher = start_background_dispatcher(registry.engine, interval=60)
    try:
        assert start_background_dispatcher(registry.engine, interval=60) is dispatcher
        registry.create_version("er-matcher", "runs:/r1/model", actor="alice")
        # The commit wakes the thread long before its 60 s interval is over.
        assert len(receiver.wait_for(1, timeout=10)) == 1
        deadline = time.monotonic() + 10
        while hooks.deliveries(status="delivered") == [] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(hooks.deliveries(status="delivered")) == 1
    finally:
        dispatcher.stop()
    assert not dispatcher.alive


def test_concurrent_dispatchers_send_each_delivery_once(
        registry: RegistryService, hooks: WebhookService, receiver: Receiver,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_WEBHOOK_DELIVER_ON_COMMIT", "false")
    hooks.add(receiver.url(), actor="ops", events=["model_version.created"])
    for n in range(24):
        registry.create_version("er-matcher", f"runs:/r{n}/model", actor="alice")

    def drain() -> None:
        dispatcher = Dispatcher(registry.engine)
        while dispatcher.deliver_due(limit=3):
            pass

    threads = [threading.Thread(target=drain) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    sent = Counter(r.headers["X-Shipyard-Delivery"] for r in receiver.requests)
    assert len(sent) == 24 and set(sent.values()) == {1}
    d = t.webhook_deliveries
    with registry.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(d)
                            .where(d.c.status == "delivered", d.c.attempts == 1)
                            ).scalar_one() == 24


def test_webhooks_service_opens_a_fresh_database(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    service = WebhookService(engine, AuditLog(engine, key=b"k" * 32,
                                              checkpoint=tmp_path / "cp.json"))
    assert service.list_webhooks() == [] and service.deliveries() == []
    engine.dispose()


def test_cli_add_list_deliver_and_remove(receiver: Receiver, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import shipyard as sy
    from tests.cli_support import as_json, failed, ok

    monkeypatch.setenv("SHIPYARD_AUDIT_KEY", "cli-test-audit-key-0123456789")
    monkeypatch.setenv("SHIPYARD_AUDIT_CHECKPOINT", str(tmp_path / "checkpoint.json"))
    monkeypatch.setenv("SHIPYARD_USER", "ops")
    added = as_json("webhooks", "add", receiver.url(), "--event", "model_version.created",
                    "--event", "alias.moved", "--model", "er-matcher")
    assert added["events"] == ["model_version.created", "alias.moved"]
    assert added["model"] == "er-matcher" and len(added["secret"]) == 64
    shown = ok("webhooks", "add", receiver.url("/second"))
    assert "secret: " in shown.stdout and "not shown again" in shown.stderr
    listed = ok("webhooks", "list").stdout
    assert receiver.url() in listed and added["secret"] not in listed
    assert "secret" not in as_json("webhooks", "list")["webhooks"][0]

    receiver.answers = [503]
    sy.registry.register_version("er-matcher", "runs:/r1/model")
    pending = as_json("webhooks", "deliveries", "--status", "pending")["deliveries"]
    assert [(d["webhook_id"], d["last_status_code"]) for d in pending] == [(added["id"], 503)]
    assert pending[0]["body"]["data"]["model"] == "er-matcher"
    time.sleep(0.1)  # the default first retry waits 30 s: not due yet
    assert "0 attempt(s)" in ok("webhooks", "deliver").stdout
    d = t.webhook_deliveries
    engine = sy.registry.service.engine
    with engine.begin() as conn:  # the wait is over
        conn.execute(d.update().values(next_attempt_time=0).where(d.c.status == "pending"))
    assert as_json("webhooks", "deliver")["results"][0]["status"] == "delivered"
    assert "delivered" in ok("webhooks", "deliveries").stdout

    assert "removed webhook" in ok("webhooks", "rm", str(added["id"])).stdout
    assert "no webhook with id" in failed("webhooks", "rm", str(added["id"])).stderr
    assert "unknown webhook event type" in failed(
        "webhooks", "add", receiver.url(), "--event", "nope").stderr
    assert "http:// or https://" in failed("webhooks", "add", "file:///etc/passwd").stderr


def test_the_documented_receiver_check_accepts_a_real_request(
        registry: RegistryService, hooks: WebhookService, receiver: Receiver) -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "webhooks.md").read_text()
    snippet = doc.split("<!-- verify-snippet", 1)[1].split("```python\n", 1)[1]
    namespace: dict[str, Any] = {}
    exec(snippet.split("```", 1)[0], namespace)  # our own docs, as a reader would copy them
    documented_verify = namespace["verify"]

    secret = hooks.add(receiver.url(), actor="ops").secret
    registry.create_version("er-matcher", "runs:/r1/model", actor="alice")
    [request] = receiver.requests
    assert documented_verify(secret, request.headers, request.body)
    assert not documented_verify(secret, request.headers, request.body.replace(b"alice", b"eve"))
    assert not documented_verify("a wrong secret", request.headers, request.body)
    replayed = {**request.headers, "X-Shipyard-Timestamp": str(int(time.time()) - 3600)}
    assert not documented_verify(secret, replayed, request.body)
