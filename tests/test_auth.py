"""Access control: tokens, roles and their boundaries, the audit trail, the CLI, and how the
role check composes with the registry's four-eyes rule. SQLite, and PostgreSQL when
SHIPYARD_TEST_DATABASE_URL is set."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from shipyard.entities.auth import ApiToken, Permission, Principal, Role
from shipyard.errors import (
    HTTP_STATUS,
    AlreadyExistsError,
    InvalidInputError,
    InvalidStateError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
)
from shipyard.services.audit.log import AuditLog
from shipyard.services.auth import AuthService
from shipyard.services.registry.service import RegistryService
from shipyard.store import schema as t
from tests.cli_support import as_json, failed, ok
from tests.conftest import make_store
from tests.registry_support import _REGISTRY_TABLES

T0 = 1_800_000_000_000
MINUTE = 60_000
DAY = 86_400_000


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


@dataclass
class Env:
    auth: AuthService
    clock: Clock
    engine: Engine
    tmp_path: Path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setenv("SHIPYARD_AUDIT_KEY", "test-audit-key-0123456789abcdef")
    engine = make_store(request.param, tmp_path).engine  # type: ignore[attr-defined]
    with engine.begin() as conn:  # PostgreSQL outlives a test: start empty
        for table in (t.api_tokens, t.role_grants, t.users, *_REGISTRY_TABLES):
            conn.execute(delete(table))
    clock = Clock()
    audit = AuditLog(engine, checkpoint=tmp_path / "checkpoint.json")
    yield Env(AuthService(engine, audit, clock=clock), clock, engine, tmp_path)
    engine.dispose()


def _refused(auth: AuthService, token: str, *reason: str) -> str:
    with pytest.raises(UnauthenticatedError) as caught:
        auth.authenticate(token)
    message = caught.value.message
    for part in reason:
        assert part in message, message
    secret = token.rpartition("_")[2]
    assert len(secret) < 16 or secret not in message  # the secret is never echoed
    return message


# -- Tokens ----------------------------------------------------------------------------------


def test_token_round_trip_stores_only_a_hash(env: Env) -> None:
    user, token = env.auth.create_user("alice", role="admin", actor="ops")
    assert (user.name, user.created_by, user.disabled) == ("alice", "ops", False)
    assert re.fullmatch(r"shy_[0-9a-f]{12}_[0-9a-f]{64}", token)
    principal = env.auth.authenticate(token)
    assert principal.name == "alice"
    assert [(g.role, g.model) for g in principal.grants] == [(Role.ADMIN, None)]

    env.clock.now = T0 + 1  # list_tokens is oldest first
    second, token2 = env.auth.create_token("alice", actor="ops", description="CI")
    assert token2 != token and token2.startswith(f"shy_{second.id}_")
    assert env.auth.authenticate(token2).name == "alice"
    listed = env.auth.list_tokens("alice")
    assert [tok.id for tok in listed] == [token.split("_")[1], second.id]
    assert all(isinstance(tok, ApiToken) and not hasattr(tok, "secret") for tok in listed)
    with env.engine.connect() as conn:
        row = conn.execute(select(t.api_tokens).where(t.api_tokens.c.id == second.id)).one()
    secret = token2.split("_")[2]
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in tuple(str(v) for v in row)


def test_wrong_secret_unknown_id_and_malformed_tokens_are_refused(env: Env) -> None:
    _, token = env.auth.create_user("alice", role="viewer", actor="ops")
    token_id, secret = token.split("_")[1:]
    wrong = f"shy_{token_id}_{'0' * 64}"
    _refused(env.auth, wrong, token_id, "not valid")
    _refused(env.auth, f"shy_{'a' * 12}_{secret}", "not valid")
    for bad in ("", "Bearer " + token, token[:-1], token + "0", f"shy_{token_id}",
                token.upper(), f"xyz_{token_id}_{secret}", "shy__" + secret):
        message = _refused(env.auth, bad, "malformed")
        assert secret not in message
    assert HTTP_STATUS[UnauthenticatedError.code] == 401


def test_expired_token_is_refused(env: Env) -> None:
    env.auth.create_user("alice", role="viewer", actor="ops")
    created, token = env.auth.create_token("alice", actor="ops", expires_in_days=1)
    assert created.expires_time == T0 + DAY
    env.clock.now = T0 + DAY - 1
    assert env.auth.authenticate(token).name == "alice"
    env.clock.now = T0 + DAY
    _refused(env.auth, token, created.id, "expired")
    listed = {tok.id: tok.state(env.clock.now) for tok in env.auth.list_tokens("alice")}
    assert listed[created.id] == "expired" and len(listed) == 2


def test_revoked_token_and_disabled_user_are_refused(env: Env) -> None:
    _, first = env.auth.create_user("alice", role="contributor", actor="ops")
    created, second = env.auth.create_token("alice", actor="ops")
    revoked = env.auth.revoke_token(created.id, actor="ops")
    assert revoked.revoked_time == T0 and revoked.state(T0) == "revoked"
    _refused(env.auth, second, created.id, "revoked")
    assert env.auth.authenticate(first).name == "alice"  # only that token
    with pytest.raises(InvalidStateError, match="already revoked"):
        env.auth.revoke_token(created.id, actor="ops")

    env.auth.disable_user("alice", actor="ops")
    _refused(env.auth, first, "disabled")
    with pytest.raises(InvalidStateError, match="disabled"):
        env.auth.create_token("alice", actor="ops")
    env.auth.enable_user("alice", actor="ops")
    assert env.auth.authenticate(first).name == "alice"


def test_a_whole_token_revokes_by_its_id_without_being_echoed(env: Env) -> None:
    _, token = env.auth.create_user("alice", role="viewer", actor="ops")
    assert env.auth.revoke_token(token, actor="ops").id == token.split("_")[1]
    with pytest.raises(InvalidInputError) as caught:
        env.auth.revoke_token("shy_" + "z" * 70, actor="ops")
    assert "z" * 10 not in caught.value.message
    with pytest.raises(NotFoundError):
        env.auth.revoke_token("0" * 12, actor="ops")


def test_last_used_time_is_written_at_most_once_a_minute(env: Env) -> None:
    _, token = env.auth.create_user("alice", role="viewer", actor="ops")

    def last_used() -> int | None:
        return env.auth.list_tokens("alice")[0].last_used_time

    assert last_used() is None
    env.auth.authenticate(token)
    assert last_used() == T0
    env.clock.now = T0 + MINUTE - 1
    env.auth.authenticate(token)
    assert last_used() == T0
    env.clock.now = T0 + MINUTE
    env.auth.authenticate(token)
    assert last_used() == T0 + MINUTE


# -- Roles -----------------------------------------------------------------------------------

EXPECTED = {  # role -> the permissions it must carry; every other one is refused
    Role.VIEWER: {"read"},
    Role.CONTRIBUTOR: {"read", "write"},
    Role.APPROVER: {"read", "write", "approve"},
    Role.DEPLOYER: {"read", "write", "deploy"},
    Role.ADMIN: {"read", "write", "approve", "deploy", "admin"},
}


@pytest.mark.parametrize("role", list(Role))
def test_each_role_allows_exactly_its_permissions(env: Env, role: Role) -> None:
    _, token = env.auth.create_user(f"u-{role}", role=role, actor="ops")
    principal = env.auth.authenticate(token)
    for permission in Permission:
        for model in (None, "er-matcher"):
            allowed = str(permission) in EXPECTED[role]
            assert principal.allows(permission, model) is allowed, (role, permission, model)
            if allowed:
                env.auth.require(principal, permission, model=model)
            else:
                with pytest.raises(PermissionDeniedError):
                    env.auth.require(principal, permission, model=model)


def test_named_boundaries_and_the_denial_says_how_to_get_it(env: Env) -> None:
    def who(name: str, role: str) -> Principal:
        return env.auth.authenticate(env.auth.create_user(name, role=role, actor="ops")[1])

    viewer, contributor = who("vera", "viewer"), who("carl", "contributor")
    approver, deployer = who("anna", "approver"), who("dave", "deployer")
    for principal, permission, role in ((viewer, "write", "contributor"),
                                        (contributor, "approve", "approver"),
                                        (approver, "deploy", "deployer"),
                                        (deployer, "approve", "approver")):
        with pytest.raises(PermissionDeniedError) as caught:
            env.auth.require(principal, permission, model="er-matcher")
        assert caught.value.message == (
            f"user {principal.name!r} lacks the '{permission}' permission on model "
            f"'er-matcher' (has: {principal.grants[0].role}); ask an admin: shipyard users "
            f"grant {principal.name} {role} --model er-matcher")
        assert HTTP_STATUS[caught.value.code] == 403
    with pytest.raises(PermissionDeniedError, match=r"shipyard users grant vera admin$"):
        env.auth.require(viewer, "admin")


def test_a_grant_scoped_to_one_model_allows_only_that_model(env: Env) -> None:
    _, token = env.auth.create_user("bob", role="approver", model="model-a", actor="ops")
    bob = env.auth.authenticate(token)
    assert bob.allows("approve", "model-a") and bob.allows("write", "model-a")
    assert not bob.allows("approve", "model-b") and not bob.allows("read", "model-b")
    assert not bob.allows("read")  # an action on no one model needs an unscoped grant
    with pytest.raises(PermissionDeniedError, match=r"--model model-b$"):
        env.auth.require(bob, "approve", model="model-b")

    env.auth.grant("bob", "viewer", actor="ops")
    bob = env.auth.authenticate(token)
    assert bob.allows("read", "model-b") and not bob.allows("approve", "model-b")
    env.auth.revoke_grant("bob", "approver", model="model-a", actor="ops")
    assert not env.auth.authenticate(token).allows("approve", "model-a")


def test_bad_input_and_missing_records_are_clear_errors(env: Env) -> None:
    env.auth.create_user("alice@example.com", role="viewer", actor="ops")
    with pytest.raises(AlreadyExistsError):
        env.auth.create_user("alice@example.com", role="admin", actor="ops")
    for name in ("", "has space", "a/b", "x" * 257):
        with pytest.raises(InvalidInputError) as caught:
            env.auth.create_user(name, role="viewer", actor="ops")
        assert caught.value.field == "name"
    with pytest.raises(InvalidInputError, match="viewer, contributor, approver, deployer, admin"):
        env.auth.grant("alice@example.com", "owner", actor="ops")
    with pytest.raises(AlreadyExistsError, match="already has viewer"):
        env.auth.grant("alice@example.com", "viewer", actor="ops")
    with pytest.raises(NotFoundError, match="has: viewer"):
        env.auth.revoke_grant("alice@example.com", "viewer", model="m", actor="ops")
    with pytest.raises(NotFoundError, match="no user named 'nobody'"):
        env.auth.grant("nobody", "viewer", actor="ops")
    with pytest.raises(NotFoundError):
        env.auth.list_tokens("nobody")
    for days in (0, -1, float("nan"), float("inf"), True):
        with pytest.raises(InvalidInputError):
            env.auth.create_token("alice@example.com", actor="ops", expires_in_days=days)
    with pytest.raises(InvalidStateError, match="already enabled"):
        env.auth.enable_user("alice@example.com", actor="ops")
    assert [p.name for p in env.auth.list_users()] == ["alice@example.com"]


def test_the_database_refuses_a_second_grant_on_every_model(env: Env) -> None:
    # "" (not NULL) marks "every model", so the unique constraint covers it.
    env.auth.create_user("alice", role="viewer", actor="ops")
    row = {"user_name": "alice", "role": "viewer", "model": "", "created_time": 1,
           "created_by": "ops"}
    with pytest.raises(IntegrityError), env.engine.begin() as conn:
        conn.execute(insert(t.role_grants), row)


# -- Audit -----------------------------------------------------------------------------------


def test_every_change_is_audited_without_secrets(env: Env) -> None:
    _, first = env.auth.create_user("alice", role="admin", actor="ops")
    created, second = env.auth.create_token("alice", actor="ops", expires_in_days=2)
    env.auth.grant("alice", "approver", model="er-matcher", actor="ops")
    env.auth.revoke_grant("alice", "approver", model="er-matcher", actor="ops")
    env.auth.revoke_token(created.id, actor="ops")
    env.auth.disable_user("alice", actor="ops")
    env.auth.enable_user("alice", actor="ops")

    events = env.auth.audit.events(newest_first=False)
    first_id = first.split("_")[1]
    assert [(e.actor, e.action, e.entity_type, e.entity_id) for e in events] == [
        ("ops", "user.create", "user", "alice"), ("ops", "token.create", "token", first_id),
        ("ops", "token.create", "token", created.id),
        ("ops", "role.grant", "user", "alice"), ("ops", "role.revoke", "user", "alice"),
        ("ops", "token.revoke", "token", created.id), ("ops", "user.disable", "user", "alice"),
        ("ops", "user.enable", "user", "alice")]
    assert events[3].before_value() == {"disabled": False, "grants": ["admin"]}
    assert events[3].after_value() == {"disabled": False,
                                       "grants": ["admin", "approver on er-matcher"]}
    assert events[5].after_value()["revoked_time"] == T0
    assert env.auth.audit.verify().ok

    with env.engine.connect() as conn:
        stored = " ".join(str(v) for row in conn.execute(select(t.audit_events)) for v in row)
        hashes = conn.execute(select(t.api_tokens.c.secret_hash)).scalars().all()
    for token in (first, second):
        assert token.split("_")[2] not in stored
    assert len(hashes) == 2 and not any(h in stored for h in hashes)


def test_a_failed_change_leaves_no_event(env: Env) -> None:
    env.auth.create_user("alice", role="viewer", actor="ops")
    before = env.auth.audit.count()
    with pytest.raises(AlreadyExistsError):
        env.auth.grant("alice", "viewer", actor="ops")
    assert env.auth.audit.count() == before


# -- The CLI ---------------------------------------------------------------------------------


def test_cli_create_prints_a_token_that_authenticates(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.store.db import create_db_engine

    url = f"sqlite:///{tmp_path / 'server.db'}"
    monkeypatch.setenv("SHIPYARD_TRACKING_URI", url)
    monkeypatch.setenv("SHIPYARD_USER", "root-op")
    result = ok("users", "create", "alice", "--role", "admin")
    assert "cannot be shown again" in result.stderr
    token = re.search(r"shy_[0-9a-f]{12}_[0-9a-f]{64}", result.stdout)
    assert token is not None
    auth = AuthService(create_db_engine(url))
    assert auth.authenticate(token.group()).name == "alice"

    ok("users", "grant", "alice", "approver", "--model", "er-matcher")
    users = {u["name"]: u for u in as_json("users", "list")["users"]}
    assert [(g["role"], g["model"]) for g in users["alice"]["grants"]] == [
        ("admin", None), ("approver", "er-matcher")]
    made = as_json("tokens", "create", "alice", "--expires-in-days", "3", "--description", "CI")
    assert auth.authenticate(made["token"]).name == "alice"
    listed = as_json("tokens", "list", "alice")["tokens"]
    assert {x["id"] for x in listed} == {token.group().split("_")[1], made["id"]}
    assert all("token" not in x and "secret_hash" not in x for x in listed)
    ok("tokens", "revoke", made["id"])
    with pytest.raises(UnauthenticatedError):
        auth.authenticate(made["token"])
    assert "no user named 'bob'" in failed("tokens", "create", "bob").stderr
    assert [e.actor for e in auth.audit.events()] == ["root-op"] * 5


def test_cli_refuses_a_server_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_TRACKING_URI", "http://127.0.0.1:5000")
    assert "server's host" in failed("users", "list").stderr
    assert "database URL" in failed("tokens", "list").stderr


# -- Composition with the registry -----------------------------------------------------------


def test_the_role_check_and_four_eyes_compose(env: Env) -> None:
    registry = RegistryService(env.engine, env.auth.audit)
    alice = env.auth.authenticate(
        env.auth.create_user("alice", role="approver", model="er-matcher", actor="ops")[1])
    bob = env.auth.authenticate(
        env.auth.create_user("bob", role="approver", model="er-matcher", actor="ops")[1])

    env.auth.require(alice, "write", model="er-matcher")
    mv = registry.create_version("er-matcher", "runs:/r/model", actor=alice.name)
    registry.request_approval("er-matcher", mv.version, actor=alice.name)
    # The role allows alice to approve er-matcher, but not her own version: four eyes.
    env.auth.require(alice, "approve", model="er-matcher")
    with pytest.raises(PermissionDeniedError, match="four eyes"):
        registry.approve("er-matcher", mv.version, actor=alice.name)
    env.auth.require(bob, "approve", model="er-matcher")
    assert registry.approve("er-matcher", mv.version, actor=bob.name).status == "approved"
