"""An Optuna journal backend over the metadata database (``store/tuning.py``).

Optuna's ``JournalStorage`` records a study as a log of operations and replays it in memory,
reading only the logs it has not seen. With this backend the log lives in SQLite or
PostgreSQL next to the runs, so processes on one machine (one SQLite file) or many (one
PostgreSQL) tune one study together.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from optuna.storages.journal import BaseJournalBackend
from sqlalchemy import Engine

from shipyard.store import tuning as store


class SqlJournalBackend(BaseJournalBackend):
    """The journal of one study, ``study``, in the database of ``engine``."""

    def __init__(self, engine: Engine, study: str) -> None:
        self._engine = engine
        self._study = study
        self._journal = store.Journal(engine, study)

    def __getstate__(self) -> dict[str, Any]:
        # Why: a study's storage travels to Dask workers; the engine is reopened there.
        return {"url": self._engine.url.render_as_string(hide_password=False),
                "study": self._study}

    def __setstate__(self, state: dict[str, Any]) -> None:
        from shipyard.store.db import create_db_engine

        self._engine = create_db_engine(state["url"])
        self._study = state["study"]
        self._journal = store.Journal(self._engine, self._study)

    def read_logs(self, log_number_from: int) -> Iterable[dict[str, Any]]:
        return [json.loads(body) for body in self._journal.read(log_number_from)]

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        self._journal.append([json.dumps(log, separators=(",", ":")) for log in logs])

    def close(self) -> None:
        """Return the journal's connection to the pool."""
        self._journal.close()
