"""The addresses ``shipyard sync`` accepts, and opening the source and destination they name.

==================================  ==========================================================
``./shipyard-data`` (a folder)      that folder's embedded store: ``shipyard.db`` + ``artifacts/``
``sqlite:///…``, ``postgresql…://``  a Shipyard database; artifacts in ``SHIPYARD_ARTIFACTS_URI``
                                    (or ``SHIPYARD_HOME/artifacts``) unless given explicitly
``http(s)://host:port``             a Shipyard server
``mlflow+http(s)://host:port``      an MLflow tracking server (source only)
``mlflow+sqlite:///…``,             an MLflow tracking database (source only)
``mlflow+postgresql://…``
==================================  ==========================================================
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from shipyard import settings
from shipyard.errors import InvalidInputError, NotFoundError
from shipyard.services.sync_source import StoreSource, SyncSource
from shipyard.store.tracking.protocol import TrackingStore

MLFLOW_PREFIX = "mlflow+"
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_KINDS = ("a folder, sqlite:///…, postgresql+psycopg://…, http(s)://… (a Shipyard server), "
          "mlflow+http(s)://… (an MLflow server) or mlflow+sqlite:///… / mlflow+postgresql://… "
          "(an MLflow database)")


def scheme_of(uri: str) -> str | None:
    found = _SCHEME_RE.match(uri)
    return found.group(1).lower() if found else None


def display_uri(uri: str) -> str:
    """The URI with any password replaced by ``***``, for messages."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = f"{parts.username}:***@{parts.hostname or ''}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _backend(url: str, field: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).get_backend_name()
    except ArgumentError:
        raise InvalidInputError(f"{display_uri(url)} is not a valid address", field=field) from None


def _sqlite_file(url: str) -> Path | None:
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    return Path(database).expanduser() if database and database != ":memory:" else None


def _shipyard_store(uri: str, field: str) -> tuple[str, str | None]:
    """The tracking URI and default artifact URI of a Shipyard store address."""
    scheme = scheme_of(uri)
    if scheme is None:
        folder = Path(uri).expanduser()
        return f"sqlite:///{(folder / 'shipyard.db').resolve()}", (
            (folder / "artifacts").resolve().as_uri())
    if scheme in ("http", "https"):
        return uri, None
    if _backend(uri, field) in ("sqlite", "postgresql"):
        return uri, None
    raise InvalidInputError(f"{display_uri(uri)}: unknown kind of store {scheme!r}; give {_KINDS}",
                            field=field)


def _is_mlflow_database(tracking: str) -> bool:
    """Whether a database URL names an MLflow database (its ``runs`` table has ``run_uuid``);
    opening one as a Shipyard store would try to migrate it."""
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.exc import SQLAlchemyError

    if tracking.startswith(("http://", "https://")):
        return False
    if tracking.startswith("sqlite:"):
        file = _sqlite_file(tracking)
        if file is None or not file.is_file():
            return False
    from shipyard.store.db import normalize_url

    engine = create_engine(normalize_url(tracking))
    try:
        columns = {c["name"] for c in inspect(engine).get_columns("runs")}
    except SQLAlchemyError:  # no such table, or unreachable: opening the store will say
        return False
    finally:
        engine.dispose()
    return "run_uuid" in columns


def _open_store(uri: str, artifacts_uri: str | None, field: str) -> TrackingStore:
    from shipyard.store.tracking.factory import open_tracking_store

    tracking, default_artifacts = _shipyard_store(uri, field)
    if _is_mlflow_database(tracking):
        hint = (f"read it with --from mlflow+{uri}" if field == "source"
                else "sync writes into Shipyard stores only")
        raise InvalidInputError(f"{display_uri(uri)} is an MLflow database; {hint}",
                                field=field)
    return open_tracking_store(tracking, artifacts_uri or default_artifacts
                               or settings.artifacts_uri())


def open_source(uri: str, artifacts_uri: str | None = None) -> SyncSource:
    """The source a URI names; an error names the URI when it is unknown or not there."""
    shown = display_uri(uri)
    if uri.startswith(MLFLOW_PREFIX):
        inner = uri[len(MLFLOW_PREFIX):]
        if scheme_of(inner) in ("http", "https"):
            from shipyard.services.sync_mlflow_rest import MlflowRestSource

            return MlflowRestSource(inner, uri=shown)
        from shipyard.services.sync_mlflow_db import MlflowDbSource, open_engine

        if scheme_of(inner) in (None, "file"):
            raise InvalidInputError(
                f"{shown}: after 'mlflow+' give an MLflow server (http://host:port) or database "
                "URL (sqlite:///…, postgresql://…); an mlruns folder (MLflow's file store) is "
                "read through a server: mlflow server --backend-store-uri ./mlruns, then "
                "--from mlflow+http://127.0.0.1:5000", field="source")
        if _backend(inner, "source") == "sqlite":
            _must_exist(_sqlite_file(inner), shown, "an MLflow database file")
        return MlflowDbSource(open_engine(inner, shown), uri=shown)
    tracking, _ = _shipyard_store(uri, "source")
    if tracking.startswith("sqlite:"):
        _must_exist(_sqlite_file(tracking), shown, "a Shipyard store (shipyard.db)")
    return StoreSource(_open_store(uri, artifacts_uri, "source"), shown)


def _must_exist(path: Path | None, shown: str, what: str) -> None:
    if path is None or not path.is_file():
        where = "" if path is None else f" ({path} does not exist)"
        raise NotFoundError(f"the source {shown} is not {what}{where}", field="source")


def _destination_store(uri: str) -> tuple[str, str | None]:
    if uri.startswith(MLFLOW_PREFIX):
        raise InvalidInputError(
            f"{display_uri(uri)}: sync writes into Shipyard stores only; give a folder, a "
            "database URL or a Shipyard server as the destination", field="destination")
    return _shipyard_store(uri, "destination")


def destination_exists(uri: str) -> bool:
    """False only for a SQLite store whose file is not there yet (a dry run leaves it so);
    an address that names no Shipyard store is an error."""
    tracking, _ = _destination_store(uri)
    if not tracking.startswith("sqlite:"):
        return True
    path = _sqlite_file(tracking)
    return path is None or path.is_file()


def open_destination(uri: str, artifacts_uri: str | None = None) -> TrackingStore:
    _destination_store(uri)
    return _open_store(uri, artifacts_uri, "destination")


def location(uri: str) -> tuple[str, ...]:
    """Where a URI's metadata lives, so two spellings of one store compare equal."""
    inner = uri.removeprefix(MLFLOW_PREFIX)
    scheme = scheme_of(inner)
    if scheme in ("http", "https"):
        parts = urlsplit(inner)
        port = parts.port or (443 if scheme == "https" else 80)
        return ("http", (parts.hostname or "").lower(), str(port), parts.path.rstrip("/"))
    if scheme is None:
        return ("sqlite", str((Path(inner).expanduser() / "shipyard.db").resolve()))
    from sqlalchemy.engine import make_url

    try:
        url = make_url(inner)
    except Exception:
        return ("other", inner)
    backend = url.get_backend_name()
    if backend == "sqlite":
        file = _sqlite_file(inner)
        return ("sqlite", str(file.resolve()) if file else ":memory:")
    return (backend, (url.host or "").lower(), str(url.port or ""), url.database or "")


def check_distinct(source: str, destination: str) -> None:
    if location(source) == location(destination):
        raise InvalidInputError(
            f"the source and the destination are the same store ({display_uri(destination)}); "
            "give another destination", field="destination")
