"""``shipyard models``: registered models, versions, approvals, aliases and policies.

Writes act as SHIPYARD_USER (or the OS user); the registry's rules decide what is allowed and
say which rule refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipyard.cli import models_predict, output
from shipyard.cli.experiments import JsonFlag

if TYPE_CHECKING:
    from shipyard.entities.registry import ModelVersion, RegisteredModel
    from shipyard.sdk.registry import Registry

app = typer.Typer(name="models", help="Registered models: versions, approvals, aliases, policies.",
                  no_args_is_help=True)
alias_app = typer.Typer(name="alias", help="Point aliases at versions; see their history.",
                        no_args_is_help=True)
policy_app = typer.Typer(name="policy", help="A model's governance policy.",
                         no_args_is_help=True)
app.add_typer(alias_app)
app.add_typer(policy_app)

Name = Annotated[str, typer.Argument(help="The registered model's name.")]
Version = Annotated[int, typer.Argument(help="The version number.", min=1)]
Comment = Annotated[str | None, typer.Option("--comment", "-m", help="Why; kept in the audit "
                                                                     "log.")]


def registry() -> Registry:
    from shipyard.sdk.registry import registry as found

    return found


def model_json(m: RegisteredModel) -> dict[str, Any]:
    return {"name": m.name, "description": m.description, "created_by": m.created_by,
            **output.time_fields("created", m.created_time),
            **output.time_fields("updated", m.updated_time), "tags": m.tags,
            "latest_version": m.latest_version, "aliases": m.aliases}


def version_json(v: ModelVersion) -> dict[str, Any]:
    return {"name": v.name, "version": v.version, "uri": v.uri, "status": str(v.status),
            "source": v.source, "run_id": v.run_id, "digest": v.digest, "flavor": v.flavor,
            "description": v.description, "created_by": v.created_by,
            **output.time_fields("created", v.created_time), "tags": v.tags,
            "aliases": list(v.aliases)}


@app.command("list")
def list_models(as_json: JsonFlag = False) -> None:
    """List registered models with their latest version and aliases."""
    found = registry().list_models()
    if as_json:
        output.emit_json({"models": [model_json(m) for m in found]})
        return
    table = output.new_table("name", "latest", "aliases", "updated", "description")
    for m in found:
        aliases = ", ".join(f"{a}=v{v}" for a, v in sorted(m.aliases.items()))
        output.add_row(table, m.name, "" if m.latest_version is None else f"v{m.latest_version}",
                       aliases, output.local_time(m.updated_time, seconds=False),
                       output.clip(m.description or "", 60))
    output.print_table(table)


@app.command("show")
def show(name: Name, as_json: JsonFlag = False) -> None:
    """A model's details, policy and versions."""
    reg = registry()
    model = reg.get_model(name)
    versions = reg.list_versions(name)
    policy = reg.get_policy(name)
    if as_json:
        output.emit_json({**model_json(model), "policy": policy.to_dict(),
                          "versions": [version_json(v) for v in versions]})
        return
    out = output.stdout_console()
    out.print(output.styled(model.name, "bold"))
    if model.description:
        out.print(output.styled(f"  {model.description}"))
    out.print(output.styled(f"  policy: {policy.approvals} approval(s); protected: "
                            f"{', '.join(policy.protected_aliases) or 'none'}; reports: "
                            f"{', '.join(policy.required_reports) or 'none'}; thresholds: "
                            f"{', '.join(str(t) for t in policy.thresholds) or 'none'}"))
    _versions_table(versions)


@app.command("versions")
def versions(name: Name, as_json: JsonFlag = False) -> None:
    """A model's versions with their approval status and aliases."""
    found = registry().list_versions(name)
    if as_json:
        output.emit_json({"name": name, "versions": [version_json(v) for v in found]})
        return
    _versions_table(found)


def _versions_table(found: list[ModelVersion]) -> None:
    table = output.new_table("version", "status", "aliases", "flavor", "by", "created",
                             "source", no_wrap=("version",))
    for v in found:
        output.add_row(table, f"v{v.version}", str(v.status), ", ".join(v.aliases),
                       v.flavor or "", v.created_by,
                       output.local_time(v.created_time, seconds=False), v.source)
    output.print_table(table)


@app.command("request-approval")
def request_approval(name: Name, version: Version, comment: Comment = None) -> None:
    """Ask for a version's review (it becomes pending)."""
    v = registry().request_approval(name, version, comment=comment)
    output.done(f"{v.uri}: {v.status}")


@app.command("approve")
def approve(name: Name, version: Version, comment: Comment = None) -> None:
    """Approve a pending version (never your own: four eyes)."""
    v = registry().approve(name, version, comment=comment)
    output.done(f"{v.uri}: {v.status}")


@app.command("reject")
def reject(name: Name, version: Version, comment: Comment = None) -> None:
    """Reject a pending version (final)."""
    v = registry().reject(name, version, comment=comment)
    output.done(f"{v.uri}: {v.status}")


@app.command("delete-version")
def delete_version(name: Name, version: Version, comment: Comment = None) -> None:
    """Delete a version no alias points at."""
    registry().delete_version(name, version, reason=comment)
    output.done(f"deleted models:/{name}/{version}")


@alias_app.command("set")
def set_alias(name: Name, alias: Annotated[str, typer.Argument(help="e.g. production")],
              version: Version, comment: Comment = None) -> None:
    """Point an alias at a version (protected aliases need an approved, passing version)."""
    v = registry().set_alias(name, alias, version, reason=comment)
    output.done(f"models:/{name}@{alias} -> v{v.version}")


@alias_app.command("rm")
def remove_alias(name: Name, alias: Annotated[str, typer.Argument()],
                 comment: Comment = None) -> None:
    """Remove an alias."""
    registry().delete_alias(name, alias, reason=comment)
    output.done(f"removed models:/{name}@{alias}")


@alias_app.command("history")
def alias_history(name: Name, alias: Annotated[str | None, typer.Argument()] = None,
                  as_json: JsonFlag = False) -> None:
    """Every move of a model's aliases: which version held each, when, set by whom."""
    changes = registry().alias_history(name, alias)
    if as_json:
        output.emit_json({"name": name, "changes": [
            {"alias": c.alias, "version": c.version, "actor": c.actor,
             **output.time_fields("time", c.time), "reason": c.reason} for c in changes]})
        return
    table = output.new_table("time", "alias", "version", "by", "reason")
    for c in changes:
        output.add_row(table, output.local_time(c.time), c.alias,
                       "(removed)" if c.version is None else f"v{c.version}", c.actor,
                       c.reason or "")
    output.print_table(table)


@policy_app.command("set")
def set_policy(name: Name, path: Annotated[Path, typer.Argument(help="A YAML policy file.")],
               comment: Comment = None) -> None:
    """Set a model's policy from YAML (required_reports, thresholds, approvals,
    protected_aliases)."""
    from shipyard.errors import InvalidInputError

    try:
        text = path.read_text()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror or exc}",
                                field="path") from None
    policy = registry().set_policy(name, text, reason=comment)
    output.done(f"{name}: policy set ({policy.approvals} approval(s), protected: "
                f"{', '.join(policy.protected_aliases) or 'none'})")


@policy_app.command("show")
def show_policy(name: Name, as_json: JsonFlag = False) -> None:
    """A model's policy (the default when none was set)."""
    policy = registry().get_policy(name)
    if as_json:
        output.emit_json({"name": name, "policy": policy.to_dict()})
        return
    import yaml

    output.done(yaml.safe_dump(policy.to_dict(), sort_keys=False).rstrip())


@app.command("build-context")
def build_context(
    uri: Annotated[str, typer.Argument(metavar="MODEL_URI",
                                       help="models:/name/3, models:/name@alias or a folder.")],
    output_dir: Annotated[Path, typer.Option("--output", "-o", help="A new or empty folder.")],
    trust: Annotated[bool, typer.Option(help="Allow a package that runs its own code when "
                                             "loaded (a pickle).")] = False,
    python: Annotated[str | None, typer.Option(help="Python of the image (default: the one "
                                                     "the model was saved with).")] = None,
) -> None:
    """Write a Docker build context: a slim Dockerfile, the model, its pinned runtime
    requirements and the command that scores with it."""
    from shipyard.sdk.models import build_context as write

    written = write(uri, output_dir, trust=trust, python_version=python)
    output.done(f"{uri}: build context in {written} (docker build {written})")


app.command("predict")(models_predict.predict)
