"""The auditor's bundle: a zip readable and verifiable without Shipyard (see its README)."""

from __future__ import annotations

import json
import os
import time
import zipfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from shipyard.errors import BackendError
from shipyard.services.audit import chain, rows
from shipyard.services.audit.bundle_readme import README
from shipyard.services.audit.checkpoint import read_checkpoint
from shipyard.services.audit.verifier import VerifyReport, verify

FORMAT = 1
_VERIFY_SCRIPT = Path(__file__).with_name("standalone_verify.py")
_FIELDS = ("seq", "time", "actor", "action", "entity_type", "entity_id", "before", "after",
           "reason")


@dataclass(frozen=True, slots=True)
class ExportResult:
    path: Path
    events: int  # events written to the bundle
    verification: VerifyReport  # the whole chain, checked just before exporting


def export(engine: Engine, key: bytes, dest_zip: Path, entity: str | None = None, *,
           entity_type: str | None = None, checkpoint: Path | None = None) -> ExportResult:
    """Write the events (all, or those of ``entity``) with a README, a standalone verify.py,
    the checkpoint and the verification result to ``dest_zip`` (replaced atomically)."""
    try:
        saved = None if checkpoint is None else read_checkpoint(checkpoint)
        report = verify(engine, key, saved)
    except BackendError as exc:  # a damaged checkpoint: a finding, and the events still go out
        saved, report = None, VerifyReport(False, 0, None, exc.message)
    complete = entity is None and entity_type is None
    dest_zip = Path(dest_zip)
    temporary = dest_zip.with_name(f".{dest_zip.name}.{os.getpid()}.partial")
    try:
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as bundle:
            count, last = _write_events(bundle, engine, entity, entity_type)
            manifest: dict[str, Any] = {
                "format": FORMAT, "exported_ms": time.time_ns() // 1_000_000,
                "complete": complete, "entity": entity, "entity_type": entity_type,
                "events": count, "head_seq": last[0], "head_mac": last[1],
                "key_id": chain.key_id(key), "verification": report.to_dict(),
            }
            bundle.writestr("manifest.json", json.dumps(manifest, indent=2) + "\n")
            bundle.writestr("README.md", README)
            bundle.write(_VERIFY_SCRIPT, "verify.py")
            if checkpoint is not None and saved is not None:
                bundle.write(checkpoint, "checkpoint.json")
        os.replace(temporary, dest_zip)
    except OSError as exc:
        raise BackendError(f"cannot write the export bundle {dest_zip}: {exc.strerror or exc}",
                           field="output") from None
    finally:
        if temporary.exists():
            temporary.unlink()
    return ExportResult(dest_zip, count, report)


def _write_events(bundle: zipfile.ZipFile, engine: Engine, entity: str | None,
                  entity_type: str | None) -> tuple[int, tuple[int | None, str | None]]:
    """Stream the events into ``events.jsonl``, each with the MAC of the event before it, so
    an entity's events verify on their own."""
    before = rows.E.alias("before_event")
    previous = select(before.c.mac).where(before.c.seq == rows.E.c.seq - 1).scalar_subquery()
    query = rows.events_query(entity, entity_type).add_columns(previous.label("prev_mac")) \
        .order_by(rows.E.c.seq)
    count, last_seq, last_mac = 0, None, None
    with engine.connect() as conn, bundle.open("events.jsonl", "w", force_zip64=True) as raw, \
            closing(conn.execution_options(yield_per=5_000).execute(query)) as result:
        for row in result:
            line = dict(zip(_FIELDS, row[:9], strict=True))
            line["prev_mac"] = chain.GENESIS_MAC if row.seq == 1 else row.prev_mac
            line["mac"] = row.mac
            raw.write(json.dumps(line, ensure_ascii=False).encode("utf-8") + b"\n")
            count, last_seq, last_mac = count + 1, row.seq, row.mac
    return count, (last_seq, last_mac)

