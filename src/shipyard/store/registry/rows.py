"""Reading and writing registry rows on an open connection (the service holds the
transaction, so a change and its audit event commit together)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import ColumnElement, Connection, delete, func, insert, select, update

from shipyard.entities.registry import (
    AliasChange,
    ApprovalRecord,
    ApprovalStatus,
    Decision,
    ModelVersion,
    RegisteredModel,
    VersionReport,
)
from shipyard.errors import NotFoundError
from shipyard.store import schema as t

_M, _V = t.registered_models, t.model_versions


def model_row(conn: Connection, name: str) -> Any:
    row = conn.execute(select(_M).where(_M.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"registered model {name!r} does not exist", field="name")
    return row


def load_model(conn: Connection, name: str) -> RegisteredModel:
    row = model_row(conn, name)
    tags = {k: v for k, v in conn.execute(
        select(t.registered_model_tags.c.key, t.registered_model_tags.c.value)
        .where(t.registered_model_tags.c.name == name))}
    latest = conn.execute(select(func.max(_V.c.version)).where(_V.c.name == name)).scalar()
    aliases = {a: v for a, v in conn.execute(
        select(t.model_aliases.c.alias, t.model_aliases.c.version)
        .where(t.model_aliases.c.name == name))}
    return RegisteredModel(row.name, row.created_time, row.updated_time, row.created_by,
                           row.description, tags, latest, aliases)


def version_row(conn: Connection, name: str, version: int) -> Any:
    row = conn.execute(select(_V).where(_V.c.name == name, _V.c.version == version)).first()
    if row is None:
        model_row(conn, name)  # an unknown model gets its own message
        latest = conn.execute(select(func.max(_V.c.version)).where(_V.c.name == name)).scalar()
        raise NotFoundError(f"model {name!r} has no version {version}"
                            + (f" (the latest is {latest})" if latest else ""), field="version")
    return row


def load_version(conn: Connection, name: str, version: int) -> ModelVersion:
    row = version_row(conn, name, version)
    return versions_from_rows(conn, [row])[0]


def versions_from_rows(conn: Connection, rows: list[Any]) -> list[ModelVersion]:
    if not rows:
        return []
    names = {r.name for r in rows}
    tags: dict[tuple[str, int], dict[str, str]] = {}
    vt = t.model_version_tags
    for name, version, key, value in conn.execute(
            select(vt.c.name, vt.c.version, vt.c.key, vt.c.value).where(vt.c.name.in_(names))):
        tags.setdefault((name, version), {})[key] = value
    aliases: dict[tuple[str, int], list[str]] = {}
    al = t.model_aliases
    for name, alias, version in conn.execute(
            select(al.c.name, al.c.alias, al.c.version).where(al.c.name.in_(names))):
        aliases.setdefault((name, version), []).append(alias)
    return [ModelVersion(r.name, r.version, r.source, r.created_time, r.created_by,
                         ApprovalStatus(r.status), r.run_id, r.digest, r.flavor, r.description,
                         tags.get((r.name, r.version), {}),
                         tuple(sorted(aliases.get((r.name, r.version), []))))
            for r in rows]


def page_of_versions(conn: Connection, where: ColumnElement[bool], limit: int, offset: int
                     ) -> list[ModelVersion]:
    """One page of versions matching ``where`` (by name, newest version first) with their
    tags fetched by the same statement: a correlated JSON aggregate per row of the page,
    which reads each version's tags by primary key and nothing else."""
    page = (select(_V).where(where).order_by(_V.c.name, _V.c.version.desc())
            .limit(limit).offset(offset).subquery())
    vt = t.model_version_tags
    aggregate = (func.json_group_object if conn.dialect.name == "sqlite"
                 else func.json_object_agg)
    tags = (select(aggregate(vt.c.key, vt.c.value))
            .where(vt.c.name == page.c.name, vt.c.version == page.c.version)
            .scalar_subquery())
    found = conn.execute(select(page, tags.label("tags_json"))
                         .order_by(page.c.name, page.c.version.desc())).all()
    if not found:
        return []
    aliases: dict[tuple[str, int], list[str]] = {}
    al = t.model_aliases
    for name, alias, version in conn.execute(
            select(al.c.name, al.c.alias, al.c.version)
            .where(al.c.name.in_({r.name for r in found}))).all():
        aliases.setdefault((name, version), []).append(alias)
    return [ModelVersion(r.name, r.version, r.source, r.created_time, r.created_by,
                         _STATUS[r.status], r.run_id, r.digest, r.flavor, r.description,
                         tag_map, tuple(sorted(aliases.get((r.name, r.version), []))))
            for r, tag_map in zip(found, _tag_maps([r.tags_json for r in found]), strict=True)]


_STATUS = {str(s): s for s in ApprovalStatus}


def _tag_maps(values: list[Any]) -> list[dict[str, str]]:
    """Each row's tags: SQLite gives JSON text (parsed in one call for the page), PostgreSQL
    a dict, either gives NULL for a version without tags."""
    if values and all(isinstance(v, str) for v in values):
        return [dict(m) for m in json.loads("[" + ",".join(values) + "]")]
    return [{} if v is None else dict(json.loads(v) if isinstance(v, str) else v)
            for v in values]


def next_version(conn: Connection, name: str) -> int:
    latest = conn.execute(select(func.max(_V.c.version)).where(_V.c.name == name)).scalar()
    return 1 if latest is None else int(latest) + 1


def touch_model(conn: Connection, name: str, now: int) -> None:
    conn.execute(update(_M).where(_M.c.name == name).values(updated_time=now))


def set_status(conn: Connection, name: str, version: int, status: ApprovalStatus) -> None:
    conn.execute(update(_V).where(_V.c.name == name, _V.c.version == version)
                 .values(status=str(status)))


def record_decision(conn: Connection, name: str, version: int, decision: Decision, actor: str,
                    now: int, comment: str | None) -> None:
    conn.execute(insert(t.approvals), {"name": name, "version": version,
                                       "decision": str(decision), "actor": actor,
                                       "time": now, "comment": comment})


def decisions(conn: Connection, name: str, version: int) -> list[ApprovalRecord]:
    a = t.approvals
    rows = conn.execute(select(a).where(a.c.name == name, a.c.version == version)
                        .order_by(a.c.id)).all()
    return [ApprovalRecord(r.name, r.version, Decision(r.decision), r.actor, r.time, r.comment)
            for r in rows]


def alias_version(conn: Connection, name: str, alias: str) -> int | None:
    al = t.model_aliases
    value = conn.execute(select(al.c.version).where(al.c.name == name, al.c.alias == alias)
                         ).scalar()
    return None if value is None else int(value)


def move_alias(conn: Connection, name: str, alias: str, version: int | None, actor: str,
               now: int, reason: str | None) -> None:
    al = t.model_aliases
    conn.execute(delete(al).where(al.c.name == name, al.c.alias == alias))
    if version is not None:
        conn.execute(insert(al), {"name": name, "alias": alias, "version": version})
    conn.execute(insert(t.alias_history), {"name": name, "alias": alias, "version": version,
                                           "actor": actor, "time": now, "reason": reason})


def alias_changes(conn: Connection, name: str, alias: str | None) -> list[AliasChange]:
    h = t.alias_history
    query = select(h).where(h.c.name == name).order_by(h.c.id)
    if alias is not None:
        query = query.where(h.c.alias == alias)
    return [AliasChange(r.name, r.alias, r.version, r.actor, r.time, r.reason)
            for r in conn.execute(query)]


def latest_reports(conn: Connection, name: str, version: int) -> dict[str, VersionReport]:
    r = t.version_reports
    found: dict[str, VersionReport] = {}
    for row in conn.execute(select(r).where(r.c.name == name, r.c.version == version)
                            .order_by(r.c.id)):
        found[row.kind] = VersionReport(row.name, row.version, row.kind, row.json_digest,
                                        row.html_digest, json.loads(row.metrics),
                                        row.created_by, row.time)
    return found
