"""``AuthService``: users, role grants and API tokens, and turning a token into a principal.

Every change appends its audit event (``user.*``, ``role.*``, ``token.*``) in the same
transaction as the change; events never carry a token's secret or its hash. Authenticating is
a read, plus at most one write a minute per token to keep ``last_used_time`` roughly current
without a write per request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from shipyard.entities.auth import (
    ApiToken,
    Grant,
    Permission,
    Principal,
    Role,
    User,
    check_role,
    check_scope,
    check_user_name,
)
from shipyard.errors import (
    AlreadyExistsError,
    BackendError,
    InvalidStateError,
    NotFoundError,
    UnauthenticatedError,
)
from shipyard.services.audit.log import AuditLog
from shipyard.services.auth import access, rows, tokens
from shipyard.store import schema as t
from shipyard.store.db import open_current, reading, writing

TOUCH_INTERVAL_MS = 60_000  # last_used_time is refreshed at most this often
_NO_HASH = "0" * 64  # compared against for an unknown id, so both failures cost the same
_log = logging.getLogger("shipyard.auth")


def _now() -> int:
    return time.time_ns() // 1_000_000


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class AuthService:
    """``clock`` (milliseconds since the epoch) is for tests of expiry."""

    def __init__(self, engine: Engine, audit: AuditLog | None = None, *,
                 clock: Callable[[], int] | None = None) -> None:
        self.engine = engine
        self.audit = audit or AuditLog(engine)
        self._clock = clock or _now
        open_current(engine)

    def _event(self, conn: Connection, actor: str, action: str, kind: str, entity: str,
               before: Any, after: Any) -> None:
        self.audit.append(conn, actor=actor, action=action, entity_type=kind, entity_id=entity,
                          before=before, after=after)

    # -- Users and grants ------------------------------------------------------------------

    def create_user(self, name: str, *, role: Role | str, model: str | None = None,
                    actor: str) -> tuple[User, str]:
        """Create ``name`` with one grant and a first token (no expiry); the token string is
        returned here and never again."""
        name, role, scope = check_user_name(name), check_role(role), check_scope(model)
        now = self._clock()
        try:
            with self.audit.transaction() as conn:
                if conn.execute(select(t.users.c.name).where(t.users.c.name == name)).first():
                    raise AlreadyExistsError(f"a user named {name!r} already exists",
                                             field="name")
                conn.execute(insert(t.users), {"name": name, "created_time": now,
                                               "created_by": actor, "disabled": False})
                self._insert_grant(conn, name, role, scope, actor, now)
                created = rows.load_principal(conn, name)
                self._event(conn, actor, "user.create", "user", name, None,
                            rows.user_state(created))
                _, token = self._insert_token(conn, name, actor, now, None,
                                              "created with the user")
        except IntegrityError:  # a concurrent create won (PostgreSQL)
            raise AlreadyExistsError(f"a user named {name!r} already exists",
                                     field="name") from None
        return created.user, token

    def _insert_grant(self, conn: Connection, name: str, role: Role, scope: str | None,
                      actor: str, now: int) -> None:
        conn.execute(insert(t.role_grants), {
            "user_name": name, "role": str(role),
            "model": rows.ALL_MODELS if scope is None else scope, "created_time": now,
            "created_by": actor})

    def grant(self, user: str, role: Role | str, *, model: str | None = None,
              actor: str) -> Grant:
        """Give ``user`` ``role`` on ``model`` (None: every model)."""
        role, scope = check_role(role), check_scope(model)
        try:
            with self.audit.transaction() as conn:
                before = rows.load_principal(conn, user)
                if any(g.role is role and g.model == scope for g in before.grants):
                    raise AlreadyExistsError(
                        f"user {user!r} already has {_label(role, scope)}", field="role")
                self._insert_grant(conn, user, role, scope, actor, self._clock())
                after = rows.load_principal(conn, user)
                self._event(conn, actor, "role.grant", "user", user, rows.user_state(before),
                            rows.user_state(after))
        except IntegrityError:
            raise AlreadyExistsError(f"user {user!r} already has {_label(role, scope)}",
                                     field="role") from None
        return next(g for g in after.grants if g.role is role and g.model == scope)

    def revoke_grant(self, user: str, role: Role | str, *, model: str | None = None,
                     actor: str) -> None:
        """Take ``role`` on ``model`` (None: the grant on every model) from ``user``."""
        role, scope = check_role(role), check_scope(model)
        g = t.role_grants
        with self.audit.transaction() as conn:
            before = rows.load_principal(conn, user)
            found = next((x for x in before.grants if x.role is role and x.model == scope), None)
            if found is None:
                has = ", ".join(x.label for x in before.grants) or "no role"
                raise NotFoundError(f"user {user!r} does not have {_label(role, scope)} "
                                    f"(has: {has})", field="role")
            conn.execute(delete(g).where(g.c.id == found.id))
            after = rows.load_principal(conn, user)
            self._event(conn, actor, "role.revoke", "user", user, rows.user_state(before),
                        rows.user_state(after))

    def disable_user(self, name: str, *, actor: str) -> User:
        """Refuse every token of ``name`` from now on (kept, so the user can be enabled)."""
        return self._set_disabled(name, True, actor)

    def enable_user(self, name: str, *, actor: str) -> User:
        return self._set_disabled(name, False, actor)

    def _set_disabled(self, name: str, disabled: bool, actor: str) -> User:
        with self.audit.transaction() as conn:
            before = rows.load_principal(conn, name)
            if before.user.disabled is disabled:
                raise InvalidStateError(f"user {name!r} is already "
                                        f"{'disabled' if disabled else 'enabled'}", field="name")
            conn.execute(update(t.users).where(t.users.c.name == name)
                         .values(disabled=disabled))
            after = rows.load_principal(conn, name)
            self._event(conn, actor, "user.disable" if disabled else "user.enable", "user",
                        name, rows.user_state(before), rows.user_state(after))
        return after.user

    def get_user(self, name: str) -> Principal:
        """A user with their grants."""
        with reading(self.engine) as conn:
            return rows.load_principal(conn, name)

    def list_users(self) -> list[Principal]:
        """Every user with their grants, by name."""
        with reading(self.engine) as conn:
            return rows.all_principals(conn)

    # -- Tokens ----------------------------------------------------------------------------

    def create_token(self, user: str, *, actor: str, expires_in_days: float | None = None,
                     description: str | None = None) -> tuple[ApiToken, str]:
        """A new token for ``user``; the token string is returned here and never again."""
        days = tokens.check_days(expires_in_days)
        description = tokens.check_description(description)
        now = self._clock()
        expires = None if days is None else now + max(1, round(days * tokens.DAY_MS))
        with self.audit.transaction() as conn:
            owner = rows.load_user(conn, user)
            if owner.disabled:
                raise InvalidStateError(f"user {user!r} is disabled; enable it first: "
                                        f"shipyard users enable {user}", field="user")
            return self._insert_token(conn, user, actor, now, expires, description)

    def _insert_token(self, conn: Connection, user: str, actor: str, now: int,
                      expires: int | None, description: str | None) -> tuple[ApiToken, str]:
        token_id, secret, token = tokens.new_token()
        conn.execute(insert(t.api_tokens), {
            "id": token_id, "user_name": user, "secret_hash": tokens.hash_secret(secret),
            "description": description, "created_time": now, "created_by": actor,
            "expires_time": expires})
        created = rows.load_token(conn, token_id)
        self._event(conn, actor, "token.create", "token", token_id, None,
                    rows.token_state(created))
        return created, token

    def revoke_token(self, token_id: str, *, actor: str) -> ApiToken:
        """Refuse the token from now on; it stays listed as revoked."""
        token_id = tokens.check_token_id(token_id)
        with self.audit.transaction() as conn:
            before = rows.load_token(conn, token_id)
            if before.revoked_time is not None:
                raise InvalidStateError(f"API token {token_id} was already revoked on "
                                        f"{_when(before.revoked_time)}", field="token_id")
            conn.execute(update(t.api_tokens).where(t.api_tokens.c.id == token_id)
                         .values(revoked_time=self._clock()))
            after = rows.load_token(conn, token_id)
            self._event(conn, actor, "token.revoke", "token", token_id,
                        rows.token_state(before), rows.token_state(after))
        return after

    def list_tokens(self, user: str | None = None) -> list[ApiToken]:
        """Tokens (never their secrets), oldest first; only ``user``'s when given."""
        a = t.api_tokens
        with reading(self.engine) as conn:
            query = select(a).order_by(a.c.created_time, a.c.id)
            if user is not None:
                rows.load_user(conn, user)
                query = query.where(a.c.user_name == user)
            return [rows.token_from(r) for r in conn.execute(query)]

    # -- Requests --------------------------------------------------------------------------

    def authenticate(self, token: str) -> Principal:
        """The principal ``token`` acts as, or ``UnauthenticatedError`` saying why not. The
        secret is checked first, so only its holder learns whether a token expired or was
        revoked; no message repeats the secret."""
        token_id, secret = tokens.parse_token(token)
        now = self._clock()
        with reading(self.engine) as conn:
            row = conn.execute(select(t.api_tokens)
                               .where(t.api_tokens.c.id == token_id)).first()
            if not tokens.secret_matches(secret, _NO_HASH if row is None else row.secret_hash) \
                    or row is None:
                raise UnauthenticatedError(
                    f"API token {token_id} is not valid: no token has this id and secret (was it "
                    "copied whole?)", field="token")
            found = rows.token_from(row)
            principal = rows.load_principal(conn, found.user)
        if found.revoked_time is not None:
            raise UnauthenticatedError(f"API token {token_id} was revoked on "
                                       f"{_when(found.revoked_time)}; ask an admin for a new "
                                       "one", field="token")
        if found.expires_time is not None and now >= found.expires_time:
            raise UnauthenticatedError(f"API token {token_id} expired on "
                                       f"{_when(found.expires_time)}; ask an admin for a new "
                                       "one", field="token")
        if principal.user.disabled:
            raise UnauthenticatedError(f"user {principal.name!r} is disabled; ask an admin",
                                       field="token")
        self._touch(found, now)
        return principal

    def _touch(self, token: ApiToken, now: int) -> None:
        if token.last_used_time is not None and now - token.last_used_time < TOUCH_INTERVAL_MS:
            return
        a = t.api_tokens
        stale = or_(a.c.last_used_time.is_(None), a.c.last_used_time <= now - TOUCH_INTERVAL_MS)
        try:
            with writing(self.engine) as conn:  # the guard makes concurrent requests write once
                conn.execute(update(a).where(a.c.id == token.id, stale)
                             .values(last_used_time=now))
        except BackendError as exc:  # bookkeeping only: never refuse a valid token for it
            _log.warning("could not record the use of API token %s: %s", token.id, exc)

    @staticmethod
    def require(principal: Principal, permission: Permission | str, *,
                model: str | None = None) -> None:
        """``PermissionDeniedError`` unless ``principal`` may do ``permission`` on ``model``
        (None: an action on no one model, which needs an unscoped grant)."""
        access.require(principal, permission, model=model)


def _label(role: Role, scope: str | None) -> str:
    return str(role) if scope is None else f"{role} on {scope}"
