"""The error tree's contract and the promise that ``import shipyard`` stays light."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import shipyard
from shipyard import errors


def test_every_error_code_has_an_http_status() -> None:
    classes = [errors.ShipyardError, *errors.ShipyardError.__subclasses__(),
               errors.FilterSyntaxError]
    for cls in classes:
        assert cls.code in errors.HTTP_STATUS, cls
        status = errors.HTTP_STATUS[cls.code]
        assert 400 <= status < 600
    assert errors.HTTP_STATUS[errors.InvalidInputError.code] == 400
    assert errors.HTTP_STATUS[errors.NotFoundError.code] == 404


def test_error_shape() -> None:
    error = errors.InvalidInputError("run name must not be empty", field="run name")
    assert error.to_dict() == {"code": "INVALID_INPUT", "message": "run name must not be empty",
                               "field": "run name"}
    syntax = errors.FilterSyntaxError("expected a value", text="metrics.f1 >", position=12)
    body = syntax.to_dict()
    assert body["details"] == {"position": 12} and "^" in body["message"]


def test_import_shipyard_loads_no_heavy_dependency() -> None:
    code = ("import sys, json, shipyard; print(json.dumps(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('sqlalchemy', 'alembic', 'fsspec', 'rich', 'typer', "
            "'psutil', 'blake3'))))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                       text=True, check=True).stdout)
    assert loaded == []


def test_public_names_resolve() -> None:
    for name in shipyard.__all__:
        assert getattr(shipyard, name) is not None
    assert "start_run" in dir(shipyard)


def test_an_unusable_home_is_a_clear_error(tmp_path: Path) -> None:
    import pytest

    from shipyard.store.db import create_db_engine

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(errors.InvalidInputError) as info:
        create_db_engine(f"sqlite:///{blocker / 'sub' / 'shipyard.db'}")
    assert info.value.field == "tracking_uri" and "writable" in info.value.message
