"""``shipyard experiments``: list, create, delete and restore experiments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.cli import output
from shipyard.entities.run import LifecycleStage, ViewType
from shipyard.errors import InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from shipyard.entities import Experiment
    from shipyard.sdk.client import Client

app = typer.Typer(name="experiments", help="List, create, delete and restore experiments.",
                  no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document instead.")]
ViewOption = Annotated[
    ViewType, typer.Option("--view", case_sensitive=False,
                           help="Show active, deleted or all experiments."),
]
ExperimentRef = Annotated[str, typer.Argument(metavar="NAME_OR_ID",
                                              help="The experiment's name or numeric id.")]


def client() -> Client:
    from shipyard.sdk.client import Client

    return Client()


def resolve_experiment(client: Client, ref: str) -> Experiment:
    """An experiment by numeric id first, else by name; ``NotFoundError`` when neither."""
    if ref.isdigit():
        try:
            return client.get_experiment(ref)
        except NotFoundError:
            pass
    found = client.get_experiment_by_name(ref)
    if found is None:
        raise NotFoundError(
            f"experiment {ref!r} does not exist; give a name or a numeric id "
            "(see `shipyard experiments list --view all`)",
            field="experiment",
        )
    return found


def parse_tags(pairs: list[str] | None) -> dict[str, str]:
    """``KEY=VALUE`` strings to a dict; the value may hold '=' and may be empty."""
    tags: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(
                f"{pair!r} is not KEY=VALUE (for example --tag team=er)", field="--tag"
            )
        tags[key.strip()] = value
    return tags


@app.command("list")
def list_experiments(view: ViewOption = ViewType.ACTIVE_ONLY, as_json: JsonFlag = False) -> None:
    """List experiments, oldest first."""
    found = client().search_experiments(view)
    if as_json:
        output.emit_json({"experiments": [output.experiment_json(e) for e in found]})
        return
    if not found:
        output.note("No experiments." if view == ViewType.ALL else f"No {view.value} experiments.")
        return
    columns = ["ID", "Name", "Created", "Tags"]
    if view != ViewType.ACTIVE_ONLY:
        columns.insert(2, "Stage")
    table = output.new_table(*columns, title="Experiments")
    for experiment in found:
        tags = ", ".join(f"{k}={v}" for k, v in sorted(experiment.tags.items()))
        row = [experiment.experiment_id, experiment.name,
               output.local_time(experiment.creation_time), tags]
        if view != ViewType.ACTIVE_ONLY:
            row.insert(2, str(experiment.lifecycle_stage))
        style = "dim" if experiment.lifecycle_stage == LifecycleStage.DELETED else None
        output.add_row(table, *row, style=style)
    output.print_table(table)


@app.command("create")
def create_experiment(
    name: Annotated[str, typer.Argument(metavar="NAME",
                                        help="A unique name for the experiment.")],
    tag: Annotated[list[str] | None, typer.Option(
        "--tag", "-t", metavar="KEY=VALUE", help="A tag to set; repeat for more.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an experiment and print its id."""
    tags = parse_tags(tag)
    experiment_id = client().create_experiment(name, tags)
    if as_json:
        output.emit_json({"experiment_id": experiment_id, "name": name, "tags": tags})
    else:
        typer.echo(experiment_id)


@app.command("delete")
def delete_experiment(ref: ExperimentRef) -> None:
    """Delete an experiment and its runs (they can be restored)."""
    c = client()
    experiment = resolve_experiment(c, ref)
    c.delete_experiment(experiment.experiment_id)
    output.done(f"Deleted experiment {experiment.experiment_id} ({experiment.name}).")


@app.command("restore")
def restore_experiment(ref: ExperimentRef) -> None:
    """Restore a deleted experiment and its runs."""
    c = client()
    experiment = resolve_experiment(c, ref)
    c.restore_experiment(experiment.experiment_id)
    output.done(f"Restored experiment {experiment.experiment_id} ({experiment.name}).")
