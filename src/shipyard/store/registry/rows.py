"""Reading and writing registry rows on an open connection (the service holds the
transaction, so a change and its audit event commit together)."""

from __future__ import annotations

import functools
import json
from typing import Any

from sqlalchemy import Connection, Select, delete, func, insert, select, update

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


@functools.lru_cache(maxsize=256)
def version_page_statement(dialect: str, filter_string: str | None, limit: int, offset: int
                           ) -> Select[Any]:
    """The statement for one page of a version search, built once per filter and page (the
    filter is parsed and the expression built here; SQLAlchemy then reuses its compiled SQL).

    The page's tags and aliases come from the same statement: a correlated JSON aggregate
    per row, reading each version's rows by primary key and nothing else."""
    from shipyard.store.registry.search import version_filter

    page = (select(_V).where(version_filter(filter_string))
            .order_by(_V.c.name, _V.c.version.desc()).limit(limit).offset(offset).subquery())
    vt, al = t.model_version_tags, t.model_aliases
    sqlite = dialect == "sqlite"
    tags = (select((func.json_group_object if sqlite else func.json_object_agg)(
                vt.c.key, vt.c.value))
            .where(vt.c.name == page.c.name, vt.c.version == page.c.version)
            .scalar_subquery())
    aliases = (select((func.json_group_array if sqlite else func.json_agg)(al.c.alias))
               .where(al.c.name == page.c.name, al.c.version == page.c.version)
               .scalar_subquery())
    return (select(page, tags.label("tags_json"), aliases.label("aliases_json"))
            .order_by(page.c.name, page.c.version.desc()))


def page_of_versions(conn: Connection, statement: Select[Any]) -> list[ModelVersion]:
    """Run a :func:`version_page_statement` and build the versions."""
    found = conn.execute(statement).all()
    tag_maps = _json_values([r.tags_json for r in found], dict)
    alias_lists = _json_values([r.aliases_json for r in found], list)
    return [ModelVersion(r.name, r.version, r.source, r.created_time, r.created_by,
                         _STATUS[r.status], r.run_id, r.digest, r.flavor, r.description,
                         tag_map, tuple(sorted(names)))
            for r, tag_map, names in zip(found, tag_maps, alias_lists, strict=True)]


_STATUS = {str(s): s for s in ApprovalStatus}


def _json_values(values: list[Any], kind: type[Any]) -> list[Any]:
    """Each row's aggregate: SQLite gives JSON text (parsed in one call for the page),
    PostgreSQL a parsed value; NULL (no rows aggregated) becomes empty."""
    if values and all(isinstance(v, str) for v in values):
        return [kind(v or ()) for v in json.loads("[" + ",".join(values) + "]")]
    return [kind() if v is None else kind(json.loads(v) if isinstance(v, str) else v)
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
