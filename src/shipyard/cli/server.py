"""``shipyard server``: run the tracking server with uvicorn.

Only typer is imported with the CLI; uvicorn and FastAPI load when the command runs, and the
store (SQLAlchemy) opens in the background, so ``/health`` answers soon after the start.
"""

from __future__ import annotations

import os
import re
from typing import Annotated

import typer

from shipyard import settings
from shipyard.errors import InvalidInputError

APP_FACTORY = "shipyard.server.app:create_app_from_settings"

HostOption = Annotated[str, typer.Option(
    metavar="HOST", help="Address to listen on; 0.0.0.0 listens on every interface.")]
PortOption = Annotated[int, typer.Option(
    metavar="PORT", min=1, max=65535, help="Port to listen on.")]
StoreOption = Annotated[str | None, typer.Option(
    metavar="URL", help="Database URL of the metadata (sqlite:///…, postgresql+psycopg://…). "
    "Default: SHIPYARD_TRACKING_URI, else the embedded store in SHIPYARD_HOME.")]
ArtifactsOption = Annotated[str | None, typer.Option(
    metavar="URL_OR_FOLDER", help="Where artifact bytes go: an fsspec URL (file://, s3://…) or "
    "a folder. Default: SHIPYARD_ARTIFACTS_URI, else SHIPYARD_HOME/artifacts.")]
WorkersOption = Annotated[int, typer.Option(
    metavar="N", min=1, help="Worker processes; each opens the store itself.")]
AuthOption = Annotated[bool, typer.Option(
    "--auth", help="Require an API token on every request but /health and /docs (also "
    "SHIPYARD_SERVER_AUTH=true). Create the first admin on this host with `shipyard users "
    "create NAME --role admin`.")]
AccessLogOption = Annotated[bool, typer.Option(
    "--access-log/--no-access-log",
    help="Log every request (costs a noticeable share of a small request's time).")]
SchedulerOption = Annotated[bool, typer.Option(
    "--scheduler", help="Also queue due pipeline schedule runs from this process, as "
    "`shipyard scheduler` does (run `shipyard worker`s to take them).")]


def serve(
    host: HostOption = "127.0.0.1",
    port: PortOption = 5000,
    backend_store_uri: StoreOption = None,
    artifacts_destination: ArtifactsOption = None,
    workers: WorkersOption = 1,
    auth: AuthOption = False,
    access_log: AccessLogOption = False,
    scheduler: SchedulerOption = False,
) -> None:
    """Run the tracking server: Shipyard's REST API over one store (listed at /docs).

    Clients set SHIPYARD_TRACKING_URI=http://HOST:PORT and need no database or cloud credentials.
    """
    tracking = backend_store_uri or settings.tracking_uri()
    if tracking.startswith(("http://", "https://")):
        raise InvalidInputError(
            f"the server keeps metadata in a database, but {_masked(tracking)} names a server; "
            "pass --backend-store-uri sqlite:///… or postgresql+psycopg://…",
            field="--backend-store-uri",
        )
    artifacts = artifacts_destination or settings.artifacts_uri()  # the app reads a folder too
    # The app factory reads the settings: every worker process inherits them from here.
    os.environ[settings.TRACKING_URI.env] = tracking
    os.environ[settings.ARTIFACTS_URI.env] = artifacts
    auth = auth or settings.SERVER_AUTH.get()
    os.environ[settings.SERVER_AUTH.env] = "true" if auth else "false"
    typer.echo(f"Shipyard server: metadata in {_masked(tracking)}, artifacts in {artifacts}, "
               + ("API tokens required (--auth)" if auth else
                  "no authentication (anyone who reaches it may read and write)"), err=True)

    if scheduler:
        _start_scheduler(tracking)

    import uvicorn

    uvicorn.run(APP_FACTORY, factory=True, host=host, port=port, workers=workers,
                ws="none", lifespan="on", timeout_graceful_shutdown=10, access_log=access_log)


def _start_scheduler(tracking: str) -> None:
    """The schedule loop on a daemon thread of this process (it ends with the server)."""
    import threading

    from shipyard.pipelines.scheduler import run_scheduler
    from shipyard.store.db import create_db_engine, open_current

    engine = create_db_engine(tracking)
    open_current(engine)
    threading.Thread(target=run_scheduler, args=(engine,), name="shipyard-scheduler",
                     daemon=True).start()
    typer.echo("Shipyard server: queueing due pipeline schedule runs (--scheduler)", err=True)


def _masked(url: str) -> str:
    """A URL with its password hidden, for messages."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)
