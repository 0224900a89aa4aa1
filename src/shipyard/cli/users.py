"""``shipyard users``: the users of `shipyard server --auth`, and their roles.

Run on the server's host, against its database (SHIPYARD_TRACKING_URI set to the database URL,
or unset for the embedded store), with the server's audit key: whoever can write the database
is trusted already. Changes act as SHIPYARD_USER (or the OS user) and are audited.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipyard.cli import output
from shipyard.cli.experiments import JsonFlag
from shipyard.entities.auth import Role

if TYPE_CHECKING:
    from shipyard.entities.auth import ApiToken, Principal
    from shipyard.services.auth import AuthService

app = typer.Typer(name="users", help="Users of `shipyard server --auth` and their roles.",
                  no_args_is_help=True)

UserName = Annotated[str, typer.Argument(help="The user's name (letters, digits, . _ - @).")]
RoleArg = Annotated[Role, typer.Argument(case_sensitive=False,
                                         help="viewer, contributor, approver, deployer or "
                                              "admin (docs/access-control.md).")]
ModelOption = Annotated[str | None, typer.Option(
    "--model", help="Only on this registered model (default: every model).")]
_ONCE = "Keep the token now (e.g. in a secret store): it cannot be shown again."


def service() -> AuthService:
    """The access-control service over the database the settings name (never a server)."""
    from shipyard import settings
    from shipyard.errors import InvalidStateError
    from shipyard.services.auth import AuthService
    from shipyard.store.db import create_db_engine

    uri = settings.tracking_uri()
    if uri.startswith(("http://", "https://")):
        raise InvalidStateError(
            "users and tokens are managed on the server's host, against its database, and "
            "SHIPYARD_TRACKING_URI names a server: run this on the server's machine with "
            "SHIPYARD_TRACKING_URI set to the server's database URL (sqlite:///… or "
            "postgresql+psycopg://…), or unset for the embedded store", field="tracking_uri")
    return AuthService(create_db_engine(uri))


def principal_json(p: Principal) -> dict[str, Any]:
    return {"name": p.name, "disabled": p.user.disabled, "created_by": p.user.created_by,
            **output.time_fields("created", p.user.created_time),
            "grants": [{"role": str(g.role), "model": g.model, "created_by": g.created_by,
                        **output.time_fields("created", g.created_time)} for g in p.grants]}


def token_json(tok: ApiToken, now_ms: int) -> dict[str, Any]:
    return {"id": tok.id, "user": tok.user, "description": tok.description,
            "state": tok.state(now_ms), "created_by": tok.created_by,
            **output.time_fields("created", tok.created_time),
            **output.time_fields("expires", tok.expires_time),
            **output.time_fields("revoked", tok.revoked_time),
            **output.time_fields("last_used", tok.last_used_time)}


def print_new_token(token: ApiToken, secret_token: str, as_json: bool) -> None:
    import time

    if as_json:
        output.emit_json({**token_json(token, time.time_ns() // 1_000_000),
                          "token": secret_token})
        return
    expiry = "never expires" if token.expires_time is None else \
        f"expires {output.local_time(token.expires_time, seconds=False)}"
    output.done(f"token {token.id} for {token.user} ({expiry}):\n{secret_token}")
    output.note(_ONCE)


@app.command("create")
def create(
    name: UserName,
    role: Annotated[Role, typer.Option("--role", case_sensitive=False,
                                       help="The user's first role.")],
    model: ModelOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a user with one role; prints their first API token, which is not shown again."""
    from shipyard import settings
    from shipyard.services.auth.tokens import parse_token

    svc = service()
    user, token = svc.create_user(name, role=role, model=model, actor=settings.current_user())
    token_id = parse_token(token)[0]
    first = next(tok for tok in svc.list_tokens(user.name) if tok.id == token_id)
    if not as_json:
        output.done(f"created user {user.name} ({role}{'' if model is None else f' on {model}'})")
    print_new_token(first, token, as_json)


@app.command("list")
def list_users(as_json: JsonFlag = False) -> None:
    """List users with their roles."""
    found = service().list_users()
    if as_json:
        output.emit_json({"users": [principal_json(p) for p in found]})
        return
    table = output.new_table("name", "roles", "state", "by", "created")
    for p in found:
        output.add_row(table, p.name, ", ".join(g.label for g in p.grants) or "(none)",
                       "disabled" if p.user.disabled else "active", p.user.created_by,
                       output.local_time(p.user.created_time, seconds=False))
    output.print_table(table)


@app.command("grant")
def grant(name: UserName, role: RoleArg, model: ModelOption = None) -> None:
    """Give a user a role, on every model or on one."""
    from shipyard import settings

    found = service().grant(name, role, model=model, actor=settings.current_user())
    output.done(f"{name} is now {found.label}")


@app.command("revoke")
def revoke(name: UserName, role: RoleArg, model: ModelOption = None) -> None:
    """Take a role from a user (the grant on every model, or with --model the one on it)."""
    from shipyard import settings

    service().revoke_grant(name, role, model=model, actor=settings.current_user())
    output.done(f"{name} is no longer {role}{'' if model is None else f' on {model}'}")


@app.command("disable")
def disable(name: UserName) -> None:
    """Disable a user: every one of their tokens is refused until they are enabled."""
    from shipyard import settings

    service().disable_user(name, actor=settings.current_user())
    output.done(f"user {name} disabled")


@app.command("enable")
def enable(name: UserName) -> None:
    """Enable a disabled user again (their unexpired, unrevoked tokens work again)."""
    from shipyard import settings

    service().enable_user(name, actor=settings.current_user())
    output.done(f"user {name} enabled")
