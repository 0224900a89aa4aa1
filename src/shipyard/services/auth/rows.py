"""Reading access-control rows on a caller's connection, and the state an audit event keeps
of each record (never a secret or its hash)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, select

from shipyard.entities.auth import ApiToken, Grant, Principal, Role, User
from shipyard.errors import NotFoundError
from shipyard.store import schema as t

ALL_MODELS = ""  # role_grants.model for a grant on every model (see store/schema.py)


def user_from(row: Row[Any]) -> User:
    return User(row.name, row.created_time, row.created_by, bool(row.disabled))


def grant_from(row: Row[Any]) -> Grant:
    return Grant(row.id, row.user_name, Role(row.role),
                 None if row.model == ALL_MODELS else row.model, row.created_time,
                 row.created_by)


def token_from(row: Row[Any]) -> ApiToken:
    return ApiToken(row.id, row.user_name, row.created_time, row.created_by, row.description,
                    row.expires_time, row.revoked_time, row.last_used_time)


def load_user(conn: Connection, name: str) -> User:
    row = conn.execute(select(t.users).where(t.users.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"no user named {name!r}; see `shipyard users list`", field="name")
    return user_from(row)


def grants_of(conn: Connection, name: str) -> tuple[Grant, ...]:
    g = t.role_grants
    return tuple(grant_from(r) for r in conn.execute(
        select(g).where(g.c.user_name == name).order_by(g.c.role, g.c.model)))


def load_principal(conn: Connection, name: str) -> Principal:
    return Principal(load_user(conn, name), grants_of(conn, name))


def all_principals(conn: Connection) -> list[Principal]:
    users = [user_from(r) for r in conn.execute(select(t.users).order_by(t.users.c.name))]
    grants: dict[str, list[Grant]] = {u.name: [] for u in users}
    g = t.role_grants
    for row in conn.execute(select(g).order_by(g.c.user_name, g.c.role, g.c.model)):
        grants[row.user_name].append(grant_from(row))
    return [Principal(u, tuple(grants[u.name])) for u in users]


def load_token(conn: Connection, token_id: str) -> ApiToken:
    row = conn.execute(select(t.api_tokens).where(t.api_tokens.c.id == token_id)).first()
    if row is None:
        raise NotFoundError(f"no API token with id {token_id!r}; see `shipyard tokens list`",
                            field="token_id")
    return token_from(row)


# -- What the audit log keeps ----------------------------------------------------------------


def user_state(principal: Principal) -> dict[str, Any]:
    return {"disabled": principal.user.disabled,
            "grants": sorted(g.label for g in principal.grants)}


def token_state(token: ApiToken) -> dict[str, Any]:
    """The token as audited: its id, owner, description and times; the secret and its hash
    never leave the token table."""
    return {"user": token.user, "description": token.description,
            "expires_time": token.expires_time, "revoked_time": token.revoked_time}
