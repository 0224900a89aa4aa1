"""Entity resolution on FEBRL 4, end to end with Shipyard: two versioned sources, a pipeline
that blocks, compares and trains four matchers (one of them tuned), the best registered with
its evaluation report, approved by a second person and put in production.

Run with ``make demo``. Everything lands in ``./shipyard-data`` (SQLite + local files).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the `er` package beside this file

from er.data import DATASETS
from er.governance import review_and_promote
from er.pipeline import EXPERIMENT, MODEL, PIPELINE, held_out, run_training

import shipyard as sy
from shipyard import settings


class _KnownWarning(logging.Filter):
    """The matcher's class lives in `er`, importable from this folder but from no installed
    distribution, and saving a package warns about that once per matcher: said once here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "no installed distribution provides (er)" not in record.getMessage()


logging.getLogger("shipyard.models").addFilter(_KnownWarning())


def comparison_table(comparison: dict[str, object]) -> Table:
    table = Table(title="Matchers on the held-out half of the entities (best F1 first)")
    for column in ("matcher", "precision", "recall", "F1", "train s", "run"):
        table.add_column(column, justify="left" if column in ("matcher", "run") else "right",
                         no_wrap=True)
    ranking = comparison["ranking"]
    assert isinstance(ranking, list)
    for row in ranking:
        table.add_row(row["matcher"], f"{row['precision']:.4f}", f"{row['recall']:.4f}",
                      f"{row['f1']:.4f}", f"{row['train_seconds']:.2f}", row["run_id"][:8])
    return table


def main() -> None:
    console = Console()
    n_entities = int(os.environ.get("ER_ENTITIES", "5000"))
    author, reviewer = os.environ.get("SHIPYARD_USER") or "ana", "ben"
    os.environ["SHIPYARD_USER"] = author
    started = time.perf_counter()
    with console.status(f"running pipeline {PIPELINE} on {n_entities} entities…"):
        run = run_training({"n_entities": n_entities})
    cached = sum(step.cache_hit for step in run.steps.values())
    console.print(f"pipeline [bold]{PIPELINE}[/] run {run.run_id[:8]}: {len(run.steps)} steps "
                  f"({cached} from cache) in {time.perf_counter() - started:.1f} s")
    for name in DATASETS.values():
        version = sy.get_dataset(f"{name}@latest")
        console.print(f"data: [bold]{version.ref}[/] ({version.row_count:,} records, digest "
                      f"{version.digest[:12]})")
    comparison = run.output("compare_matchers")
    blocking = comparison["blocking"]
    console.print(f"blocking: {int(blocking['candidate_pairs']):,} candidate pairs, pair "
                  f"completeness [bold]{blocking['pair_completeness']:.4f}[/], reduction ratio "
                  f"{blocking['reduction_ratio']:.5f}")
    console.print(comparison_table(comparison))
    registered = run.output("register_best")
    version = registered["version"]
    console.print(f"\nBest: [bold]{registered['matcher']}[/]; registered as {MODEL} v{version} "
                  f"with its evaluation report (F1 {registered['evaluation']['f1']:.4f} on "
                  f"{int(registered['evaluation']['n_samples']):,} held-out pairs).")
    refusal = review_and_promote(version, author=author, reviewer=reviewer)
    console.print(f"[dim]{author} tried to approve: {refusal}[/]")
    served = sy.load_model(f"models:/{MODEL}@production")
    holdout = held_out(run.output("compute_features"), run.output("split_entities"))
    agreed = (served.predict(holdout) == holdout["match"].to_numpy()).mean()
    console.print(f"[bold]{MODEL} v{version}[/] approved by {reviewer} and in production; "
                  f"loaded back, it labels {agreed:.2%} of the held-out pairs right.")
    console.print("\nWhere to look next:")
    for command in (f"shipyard runs list --experiment {EXPERIMENT}",
                    f"shipyard pipelines runs {PIPELINE}",
                    f"shipyard pipelines show {run.run_id[:8]}",
                    f"shipyard models show {MODEL}",
                    "shipyard data ls",
                    "shipyard audit verify"):
        console.print(f"  .venv/bin/{command}", soft_wrap=True)
    console.print("  make ui    (the same runs, models and datasets in a browser)")
    console.print(f"  data: {settings.home()} (shipyard.db + artifacts/)", soft_wrap=True)


if __name__ == "__main__":
    main()
