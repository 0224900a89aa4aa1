"""``require``: refuse a principal an action their grants do not cover, saying who, what,
where, and the exact command an admin runs to allow it."""

from __future__ import annotations

from shipyard.entities.auth import LEAST_ROLE, Permission, Principal, check_permission, check_scope
from shipyard.errors import PermissionDeniedError


def require(principal: Principal, permission: Permission | str, *,
            model: str | None = None) -> None:
    wanted = check_permission(permission)
    model = check_scope(model)
    if principal.allows(wanted, model):
        return
    name = principal.name
    if principal.user.disabled:
        raise PermissionDeniedError(
            f"user {name!r} is disabled; an admin can enable it: shipyard users enable {name}",
            user=name, permission=str(wanted))
    where = "" if model is None else f" on model {model!r}"
    has = ", ".join(g.label for g in principal.grants) or "no role"
    role = LEAST_ROLE[wanted]
    scope = "" if model is None else f" --model {model}"
    raise PermissionDeniedError(
        f"user {name!r} lacks the '{wanted}' permission{where} (has: {has}); ask an admin: "
        f"shipyard users grant {name} {role}{scope}",
        user=name, permission=str(wanted), model=model, needs_role=str(role))
