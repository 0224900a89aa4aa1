"""Access control's records: roles, the permissions each grants, users, grants, API tokens,
and the authenticated ``Principal`` that answers "may this user do that?" (no I/O).

A role grant is either on every model (``model is None``) or on one registered model; a grant
on model M allows actions on M only, so a user with just a scoped grant cannot act outside M.
``admin`` implies every permission. See docs/access-control.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from shipyard.entities.registry import check_model_name
from shipyard.errors import InvalidInputError

USER_NAME_MAX = 256
_USER_NAME_RE = re.compile(r"[A-Za-z0-9._@-]+")


class Permission(StrEnum):
    READ = "read"  # see runs, experiments, datasets, models, versions, audit
    WRITE = "write"  # log runs, add datasets, register models and versions, request approval
    APPROVE = "approve"  # approve or reject a version (never one's own: the registry's rule)
    DEPLOY = "deploy"  # move aliases (and, later, deployments)
    ADMIN = "admin"  # users, tokens, policies, webhooks; implies every other permission


class Role(StrEnum):
    VIEWER = "viewer"
    CONTRIBUTOR = "contributor"
    APPROVER = "approver"
    DEPLOYER = "deployer"
    ADMIN = "admin"


P = Permission
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({P.READ}),
    Role.CONTRIBUTOR: frozenset({P.READ, P.WRITE}),
    Role.APPROVER: frozenset({P.READ, P.WRITE, P.APPROVE}),
    Role.DEPLOYER: frozenset({P.READ, P.WRITE, P.DEPLOY}),
    Role.ADMIN: frozenset(Permission),
}

# The least role that carries each permission: what a refusal tells the user to ask for.
LEAST_ROLE: dict[Permission, Role] = {
    P.READ: Role.VIEWER, P.WRITE: Role.CONTRIBUTOR, P.APPROVE: Role.APPROVER,
    P.DEPLOY: Role.DEPLOYER, P.ADMIN: Role.ADMIN,
}


def check_role(role: object, field_name: str = "role") -> Role:
    try:
        return Role(role.strip().lower() if isinstance(role, str) else "")
    except ValueError:
        raise InvalidInputError(f"role {role!r} is not one of "
                                f"{', '.join(r.value for r in Role)}", field=field_name) from None


def check_permission(permission: object, field_name: str = "permission") -> Permission:
    try:
        return Permission(permission if isinstance(permission, str) else "")
    except ValueError:
        raise InvalidInputError(f"permission {permission!r} is not one of "
                                f"{', '.join(p.value for p in Permission)}",
                                field=field_name) from None


def check_user_name(name: object, field_name: str = "name") -> str:
    """Letters, digits, '.', '_', '-' and '@' (so e-mail addresses work), at most 256."""
    if not isinstance(name, str) or not name:
        raise InvalidInputError("a user name must not be empty", field=field_name)
    if len(name) > USER_NAME_MAX:
        raise InvalidInputError(f"user name is {len(name)} characters long; at most "
                                f"{USER_NAME_MAX} are allowed", field=field_name)
    if not _USER_NAME_RE.fullmatch(name):
        raise InvalidInputError(
            f"user name {name!r} may only hold letters, digits, '.', '_', '-' and '@' "
            "(e.g. 'alice' or 'alice@example.com')", field=field_name)
    return name


def check_scope(model: object, field_name: str = "model") -> str | None:
    """A grant's model: None (every model) or a valid registered-model name."""
    return None if model is None else check_model_name(model, field_name)


@dataclass(frozen=True, slots=True)
class User:
    name: str
    created_time: int
    created_by: str
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class Grant:
    """``role`` for ``user`` on ``model`` (None: every model)."""

    id: int
    user: str
    role: Role
    model: str | None
    created_time: int
    created_by: str

    @property
    def label(self) -> str:
        """``approver`` or ``approver on er-matcher``."""
        return str(self.role) if self.model is None else f"{self.role} on {self.model}"


@dataclass(frozen=True, slots=True)
class ApiToken:
    """An API token without its secret: the secret is returned once, at creation."""

    id: str
    user: str
    created_time: int
    created_by: str
    description: str | None = None
    expires_time: int | None = None  # ms since the epoch; None: never
    revoked_time: int | None = None
    last_used_time: int | None = None

    def state(self, now_ms: int) -> str:
        """``active``, ``expired`` or ``revoked``."""
        if self.revoked_time is not None:
            return "revoked"
        if self.expires_time is not None and now_ms >= self.expires_time:
            return "expired"
        return "active"


@dataclass(frozen=True, slots=True)
class Principal:
    """A user and their grants: who a request acts as, and what they may do."""

    user: User
    grants: tuple[Grant, ...] = ()

    @property
    def name(self) -> str:
        return self.user.name

    def allows(self, permission: Permission | str, model: str | None = None) -> bool:
        """Whether some grant carries ``permission`` for ``model`` (None: an action on no
        particular model, which only an unscoped grant allows)."""
        if self.user.disabled:
            return False
        wanted = check_permission(permission)
        for grant in self.grants:
            if grant.model is not None and grant.model != model:
                continue
            carried = ROLE_PERMISSIONS[grant.role]
            if wanted in carried or Permission.ADMIN in carried:
                return True
        return False
