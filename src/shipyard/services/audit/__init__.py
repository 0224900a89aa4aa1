"""The tamper-evident audit log: every governed change appends an HMAC-chained event in the
same transaction as the change; the key and a checkpoint of the head live outside the
database. See docs/audit.md.

- :mod:`.chain`       the canonical form of an event and the MAC that links it
- :mod:`.key`         the key: SHIPYARD_AUDIT_KEY or an owner-only key file
- :mod:`.checkpoint`  the head and length, written after each commit, only forward
- :mod:`.writer`      appending inside the caller's transaction
- :mod:`.verifier`    walking the chain; :mod:`.exporter` the auditor's bundle
- :mod:`.log`         ``AuditLog``, all of it for one database
"""

from shipyard.entities.audit import AuditEvent
from shipyard.services.audit.chain import GENESIS_MAC, canonical, event_mac, key_id
from shipyard.services.audit.checkpoint import (
    Checkpoint,
    advance_checkpoint,
    checkpoint_path,
    read_checkpoint,
)
from shipyard.services.audit.exporter import ExportResult, export
from shipyard.services.audit.key import key_file_path, load_key
from shipyard.services.audit.log import AuditLog, open_audit_log
from shipyard.services.audit.verifier import VerifyReport, verify
from shipyard.services.audit.writer import after_commit, append

__all__ = [
    "GENESIS_MAC", "AuditEvent", "AuditLog", "Checkpoint", "ExportResult", "VerifyReport",
    "advance_checkpoint", "after_commit", "append", "canonical", "checkpoint_path",
    "event_mac", "export", "key_file_path", "key_id", "load_key", "open_audit_log",
    "read_checkpoint", "verify",
]
