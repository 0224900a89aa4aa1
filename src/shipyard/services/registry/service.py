"""The registry service: every write checks its rule and appends its audit event in one
transaction, so the SDK, REST API, CLI and UI cannot skip a rule.

Rules:
- four eyes: the author of a version can never approve it, and one person approves once;
- ``pending -> approved | rejected``; approved and rejected are final;
- a protected alias (policy ``protected_aliases``) only points at an approved version whose
  latest reports include every required kind and pass every threshold;
- an aliased version cannot be deleted; a model with aliases cannot be deleted.
Every refusal says which rule blocked it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from shipyard.entities import Page
from shipyard.entities import limits as lim
from shipyard.entities.policy import Policy
from shipyard.entities.registry import (
    AliasChange,
    ApprovalRecord,
    ApprovalStatus,
    Decision,
    ModelVersion,
    RegisteredModel,
    VersionReport,
    check_alias,
    check_model_name,
    parse_model_uri,
)
from shipyard.errors import (
    AlreadyExistsError,
    BackendError,
    InvalidInputError,
    InvalidStateError,
    NotFoundError,
    PermissionDeniedError,
)
from shipyard.services import webhooks
from shipyard.services.audit.log import AuditLog
from shipyard.store import schema as t
from shipyard.store.db import open_current, reading
from shipyard.store.registry import rows

_ATTEMPTS = 5
_MAX_SOURCE = 1000  # model_versions.source
_MAX_RUN_ID = 32  # model_versions.run_id


def _offset(token: str | None) -> int:
    if token is None or token == "":
        return 0
    if not token.isdigit():
        raise InvalidInputError(f"page token {token!r} is not one this service returned",
                                field="page_token")
    return int(token)


def _now() -> int:
    return time.time_ns() // 1_000_000


def _checked_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    return {lim.check_key(k, "tag"): lim.check_value(v, "tag", k, lim.MAX_TAG_VALUE)
            for k, v in (tags or {}).items()}


def _version_json(v: ModelVersion) -> dict[str, Any]:
    return {"version": v.version, "source": v.source, "run_id": v.run_id, "digest": v.digest,
            "flavor": v.flavor, "status": str(v.status), "created_by": v.created_by}


class RegistryService:
    def __init__(self, engine: Engine, audit: AuditLog | None = None) -> None:
        self.engine = engine
        self.audit = audit or AuditLog(engine)
        open_current(engine)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction whose audit events are checkpointed, and whose webhook
        deliveries are sent, once it commits."""
        with webhooks.transaction(self.audit) as conn:
            yield conn

    def _read(self) -> AbstractContextManager[Connection]:
        return reading(self.engine)

    def _event(self, conn: Connection, actor: str, action: str, entity: str, before: Any,
               after: Any, reason: str | None = None) -> None:
        kind = "model_version" if "/" in entity else "registered_model"
        event = self.audit.append(conn, actor=actor, action=action, entity_type=kind,
                                  entity_id=entity, before=before, after=after, reason=reason)
        webhooks.enqueue_audit_event(conn, event)  # same transaction: the outbox

    # -- Models ------------------------------------------------------------------------------

    def create_model(self, name: str, *, actor: str, description: str | None = None,
                     tags: Mapping[str, str] | None = None) -> RegisteredModel:
        check_model_name(name)
        checked = _checked_tags(tags)
        try:
            with self._write() as conn:
                self._insert_model(conn, name, actor, description, checked)
                return rows.load_model(conn, name)
        except IntegrityError:
            raise AlreadyExistsError(f"a registered model named {name!r} already exists",
                                     field="name") from None

    def _insert_model(self, conn: Connection, name: str, actor: str, description: str | None,
                      tags: Mapping[str, str]) -> None:
        now = _now()
        conn.execute(insert(t.registered_models),
                     {"name": name, "description": description, "created_time": now,
                      "updated_time": now, "created_by": actor})
        if tags:
            conn.execute(insert(t.registered_model_tags),
                         [{"name": name, "key": k, "value": v} for k, v in tags.items()])
        self._event(conn, actor, "model.create", name, None,
                    {"description": description, "tags": dict(tags)})

    def get_model(self, name: str) -> RegisteredModel:
        with self._read() as conn:
            return rows.load_model(conn, name)

    def list_models(self) -> list[RegisteredModel]:
        with self._read() as conn:
            names = conn.execute(select(t.registered_models.c.name)
                                 .order_by(t.registered_models.c.name)).scalars().all()
            return [rows.load_model(conn, n) for n in names]

    def search_models(self, filter_string: str | None = None, *, max_results: int = 100,
                      page_token: str | None = None) -> Page[RegisteredModel]:
        """Models matching the filter (``name``, ``description``, ``created_by``,
        ``created_time``, ``updated_time``, ``tags.<key>``; see
        :mod:`shipyard.store.registry.search`), by name, one page at a time."""
        from shipyard.store.registry.search import check_max_results, model_filter

        check_max_results(max_results)
        offset = _offset(page_token)
        m = t.registered_models
        with self._read() as conn:
            names = conn.execute(select(m.c.name).where(model_filter(filter_string))
                                 .order_by(m.c.name).limit(max_results + 1)
                                 .offset(offset)).scalars().all()
            items = [rows.load_model(conn, n) for n in names[:max_results]]
        token = str(offset + max_results) if len(names) > max_results else None
        return Page(items, token)

    def delete_model(self, name: str, *, actor: str, reason: str | None = None) -> None:
        with self._write() as conn:
            model = rows.load_model(conn, name)
            if model.aliases:
                raise InvalidStateError(
                    f"model {name!r} cannot be deleted while aliases point at its versions "
                    f"({', '.join(f'{a} -> v{v}' for a, v in sorted(model.aliases.items()))}); "
                    "remove them first", field="name")
            conn.execute(delete(t.registered_models).where(t.registered_models.c.name == name))
            self._event(conn, actor, "model.delete", name,
                        {"latest_version": model.latest_version}, None, reason)

    # -- Versions ----------------------------------------------------------------------------

    def create_version(self, name: str, source: str, *, actor: str, run_id: str | None = None,
                       digest: str | None = None, flavor: str | None = None,
                       description: str | None = None,
                       tags: Mapping[str, str] | None = None) -> ModelVersion:
        """Register the next version of ``name`` (the model is created on first use)."""
        check_model_name(name)
        if not isinstance(source, str) or not source.strip():
            raise InvalidInputError("a model version needs a source (where its files are)",
                                    field="source")
        if len(source) > _MAX_SOURCE:
            raise InvalidInputError(f"source is {len(source)} characters; at most "
                                    f"{_MAX_SOURCE} are allowed", field="source")
        if run_id is not None and len(run_id) > _MAX_RUN_ID:
            raise InvalidInputError(f"run_id is {len(run_id)} characters; a run id has at "
                                    f"most {_MAX_RUN_ID}", field="run_id")
        checked = _checked_tags(tags)
        for _ in range(_ATTEMPTS):
            try:
                with self._write() as conn:
                    if conn.execute(select(t.registered_models.c.name)
                                    .where(t.registered_models.c.name == name)).first() is None:
                        self._insert_model(conn, name, actor, None, {})
                    number = rows.next_version(conn, name)
                    now = _now()
                    conn.execute(insert(t.model_versions), {
                        "name": name, "version": number, "source": source, "run_id": run_id,
                        "digest": digest, "flavor": flavor, "description": description,
                        "status": str(ApprovalStatus.NONE), "created_time": now,
                        "created_by": actor})
                    if checked:
                        conn.execute(insert(t.model_version_tags),
                                     [{"name": name, "version": number, "key": k, "value": v}
                                      for k, v in checked.items()])
                    rows.touch_model(conn, name, now)
                    created = rows.load_version(conn, name, number)
                    self._event(conn, actor, "version.create", f"{name}/{number}", None,
                                _version_json(created))
                    return created
            except IntegrityError:
                continue  # PostgreSQL: a concurrent writer took this number
        raise BackendError(f"could not number a new version of {name!r}: too many concurrent "
                           "writers; try again")

    def get_version(self, name: str, version: int) -> ModelVersion:
        with self._read() as conn:
            return rows.load_version(conn, name, version)

    def list_versions(self, name: str) -> list[ModelVersion]:
        with self._read() as conn:
            rows.model_row(conn, name)
            found = conn.execute(select(t.model_versions).where(t.model_versions.c.name == name)
                                 .order_by(t.model_versions.c.version)).all()
            return rows.versions_from_rows(conn, list(found))

    def search_versions(self, filter_string: str | None = None, *, max_results: int = 100,
                        page_token: str | None = None) -> Page[ModelVersion]:
        """Versions matching the filter (see :mod:`shipyard.store.registry.search`), by model
        name then newest version first, one page at a time."""
        from shipyard.store.registry.search import check_max_results

        check_max_results(max_results)
        offset = _offset(page_token)
        statement = rows.version_page_statement(self.engine.dialect.name, filter_string,
                                                max_results + 1, offset)
        with self._read() as conn:
            found = rows.page_of_versions(conn, statement)
        token = str(offset + max_results) if len(found) > max_results else None
        return Page(found[:max_results], token)

    def resolve(self, uri: str) -> ModelVersion:
        """The version a ``models:/name/3``, ``models:/name@alias`` or ``@latest`` URI names."""
        parsed = parse_model_uri(uri)
        with self._read() as conn:
            if parsed.version is not None:
                return rows.load_version(conn, parsed.name, parsed.version)
            if parsed.alias is not None:
                number = rows.alias_version(conn, parsed.name, parsed.alias)
                if number is None:
                    rows.model_row(conn, parsed.name)
                    raise NotFoundError(f"model {parsed.name!r} has no alias "
                                        f"{parsed.alias!r}", field="model_uri")
                return rows.load_version(conn, parsed.name, number)
            model = rows.load_model(conn, parsed.name)
            if model.latest_version is None:
                raise NotFoundError(f"model {parsed.name!r} has no versions", field="model_uri")
            return rows.load_version(conn, parsed.name, model.latest_version)

    def delete_version(self, name: str, version: int, *, actor: str,
                       reason: str | None = None) -> None:
        with self._write() as conn:
            current = rows.load_version(conn, name, version)
            if current.aliases:
                raise InvalidStateError(
                    f"{name} v{version} cannot be deleted: alias(es) "
                    f"{', '.join(current.aliases)} point at it; move them first",
                    field="version")
            conn.execute(delete(t.model_versions).where(t.model_versions.c.name == name,
                                                        t.model_versions.c.version == version))
            self._event(conn, actor, "version.delete", f"{name}/{version}",
                        _version_json(current), None, reason)

    def set_version_tag(self, name: str, version: int, key: str, value: str, *,
                        actor: str) -> None:
        _checked_tags({key: value})
        vt = t.model_version_tags
        with self._write() as conn:
            before = rows.load_version(conn, name, version).tags.get(key)
            conn.execute(delete(vt).where(vt.c.name == name, vt.c.version == version,
                                          vt.c.key == key))
            conn.execute(insert(vt), {"name": name, "version": version, "key": key,
                                      "value": value})
            self._event(conn, actor, "version.tag", f"{name}/{version}", {key: before},
                        {key: value})

    # -- Descriptions and model tags (MLflow's registry API edits these) --------------------

    def update_description(self, name: str, description: str | None, *, actor: str,
                           version: int | None = None) -> None:
        """Set the description of model ``name``, or of its ``version``; None or '' clears it."""
        text = description or None
        m, v = t.registered_models, t.model_versions
        with self._write() as conn:
            if version is None:
                before = rows.model_row(conn, name).description
                conn.execute(update(m).where(m.c.name == name).values(description=text))
            else:
                before = rows.version_row(conn, name, version).description
                conn.execute(update(v).where(v.c.name == name, v.c.version == version)
                             .values(description=text))
            rows.touch_model(conn, name, _now())
            entity = name if version is None else f"{name}/{version}"
            action = "model.describe" if version is None else "version.describe"
            self._event(conn, actor, action, entity, {"description": before},
                        {"description": text})

    def set_model_tag(self, name: str, key: str, value: str, *, actor: str) -> None:
        _checked_tags({key: value})
        mt = t.registered_model_tags
        with self._write() as conn:
            before = rows.load_model(conn, name).tags.get(key)
            conn.execute(delete(mt).where(mt.c.name == name, mt.c.key == key))
            conn.execute(insert(mt), {"name": name, "key": key, "value": value})
            rows.touch_model(conn, name, _now())
            self._event(conn, actor, "model.tag", name, {key: before}, {key: value})

    def delete_tag(self, name: str, key: str, *, actor: str, version: int | None = None) -> None:
        """Remove tag ``key`` from model ``name``, or from its ``version``."""
        mt, vt = t.registered_model_tags, t.model_version_tags
        with self._write() as conn:
            if version is None:
                before = rows.load_model(conn, name).tags.get(key)
                statement = delete(mt).where(mt.c.name == name, mt.c.key == key)
            else:
                before = rows.load_version(conn, name, version).tags.get(key)
                statement = delete(vt).where(vt.c.name == name, vt.c.version == version,
                                             vt.c.key == key)
            if before is None:
                owner = f"model {name!r}" if version is None else f"{name} v{version}"
                raise NotFoundError(f"{owner} has no tag {key!r}", field="key")
            entity = name if version is None else f"{name}/{version}"
            conn.execute(statement)
            action = "model.untag" if version is None else "version.untag"
            self._event(conn, actor, action, entity, {key: before}, {key: None})

    # -- Policy ------------------------------------------------------------------------------

    def set_policy(self, name: str, policy: Policy, *, actor: str,
                   reason: str | None = None) -> None:
        """Set a model's policy; thresholds must name metrics that reports provide (checked
        here, so every client -- SDK, REST, CLI -- gets the same refusal)."""
        from shipyard.services.evaluation import METRIC_NAMES

        policy = Policy.from_dict(policy.to_dict(), METRIC_NAMES)
        m = t.registered_models
        with self._write() as conn:
            before = rows.model_row(conn, name).policy
            conn.execute(m.update().where(m.c.name == name)
                         .values(policy=json.dumps(policy.to_dict()), updated_time=_now()))
            self._event(conn, actor, "policy.set", name,
                        None if before is None else json.loads(before), policy.to_dict(),
                        reason)

    def get_policy(self, name: str) -> Policy:
        with self._read() as conn:
            return self._policy(conn, name)

    @staticmethod
    def _policy(conn: Connection, name: str) -> Policy:
        raw = rows.model_row(conn, name).policy
        return Policy() if raw is None else Policy.from_dict(json.loads(raw))

    # -- Reports -----------------------------------------------------------------------------

    def attach_report(self, name: str, version: int, kind: str, *, json_digest: str,
                      html_digest: str | None, metrics: Mapping[str, float | None],
                      actor: str) -> VersionReport:
        if not kind or not kind.replace("_", "").replace("-", "").isalnum() or len(kind) > 50:
            raise InvalidInputError(f"report kind {kind!r} must be a short word such as "
                                    "'evaluation' or 'bias'", field="kind")
        with self._write() as conn:
            rows.version_row(conn, name, version)
            conn.execute(insert(t.version_reports), {
                "name": name, "version": version, "kind": kind, "json_digest": json_digest,
                "html_digest": html_digest, "metrics": json.dumps(dict(metrics)),
                "created_by": actor, "time": _now()})
            self._event(conn, actor, "report.attach", f"{name}/{version}", None,
                        {"kind": kind, "json_digest": json_digest, "html_digest": html_digest})
            return rows.latest_reports(conn, name, version)[kind]

    def reports(self, name: str, version: int) -> dict[str, VersionReport]:
        with self._read() as conn:
            rows.version_row(conn, name, version)
            return rows.latest_reports(conn, name, version)

    # -- Approvals ---------------------------------------------------------------------------

    def request_approval(self, name: str, version: int, *, actor: str,
                         comment: str | None = None) -> ModelVersion:
        with self._write() as conn:
            current = rows.load_version(conn, name, version)
            if current.status is not ApprovalStatus.NONE:
                raise InvalidStateError(
                    f"{name} v{version} is already {current.status}; approval can be "
                    "requested once, for a new version", field="version")
            return self._decide(conn, current, Decision.REQUEST, ApprovalStatus.PENDING,
                                actor, comment)

    def approve(self, name: str, version: int, *, actor: str,
                comment: str | None = None) -> ModelVersion:
        with self._write() as conn:
            current = rows.load_version(conn, name, version)
            self._check_reviewable(conn, current, actor, "approve")
            needed = max(1, self._policy(conn, name).approvals)
            approvers = {d.actor for d in rows.decisions(conn, name, version)
                         if d.decision is Decision.APPROVE} | {actor}
            status = ApprovalStatus.APPROVED if len(approvers) >= needed \
                else ApprovalStatus.PENDING
            return self._decide(conn, current, Decision.APPROVE, status, actor, comment)

    def reject(self, name: str, version: int, *, actor: str,
               comment: str | None = None) -> ModelVersion:
        with self._write() as conn:
            current = rows.load_version(conn, name, version)
            self._check_reviewable(conn, current, actor, "reject")
            return self._decide(conn, current, Decision.REJECT, ApprovalStatus.REJECTED, actor,
                                comment)

    def approvals(self, name: str, version: int) -> list[ApprovalRecord]:
        with self._read() as conn:
            rows.version_row(conn, name, version)
            return rows.decisions(conn, name, version)

    @staticmethod
    def _check_reviewable(conn: Connection, v: ModelVersion, actor: str, verb: str) -> None:
        if v.status is not ApprovalStatus.PENDING:
            hint = ("request approval first" if v.status is ApprovalStatus.NONE
                    else "its review is closed; register a new version")
            raise InvalidStateError(f"cannot {verb} {v.name} v{v.version}: it is {v.status}; "
                                    f"{hint}", field="version")
        if actor == v.created_by:
            raise PermissionDeniedError(
                f"four eyes: {actor!r} registered {v.name} v{v.version} and cannot {verb} it; "
                f"a second person with the approver role must {verb} it", field="actor")
        if any(d.actor == actor and d.decision is Decision.APPROVE
               for d in rows.decisions(conn, v.name, v.version)):
            raise InvalidStateError(f"{actor!r} already approved {v.name} v{v.version}; "
                                    "another approver is needed", field="actor")

    def _decide(self, conn: Connection, current: ModelVersion, decision: Decision,
                status: ApprovalStatus, actor: str, comment: str | None) -> ModelVersion:
        now = _now()
        rows.record_decision(conn, current.name, current.version, decision, actor, now, comment)
        rows.set_status(conn, current.name, current.version, status)
        rows.touch_model(conn, current.name, now)
        entity = f"{current.name}/{current.version}"
        self._event(conn, actor, f"version.{decision}", entity, {"status": str(current.status)},
                    {"status": str(status)}, comment)
        return rows.load_version(conn, current.name, current.version)

    # -- Aliases -----------------------------------------------------------------------------

    def set_alias(self, name: str, alias: str, version: int, *, actor: str,
                  reason: str | None = None) -> ModelVersion:
        check_alias(alias)
        with self._write() as conn:
            target = rows.load_version(conn, name, version)
            policy = self._policy(conn, name)
            if alias in policy.protected_aliases:
                self._check_promotable(conn, target, alias, policy)
            before = rows.alias_version(conn, name, alias)
            rows.move_alias(conn, name, alias, version, actor, _now(), reason)
            self._event(conn, actor, "alias.set", name, {alias: before}, {alias: version},
                        reason)
            return rows.load_version(conn, name, version)

    def delete_alias(self, name: str, alias: str, *, actor: str,
                     reason: str | None = None) -> None:
        with self._write() as conn:
            before = rows.alias_version(conn, name, alias)
            if before is None:
                rows.model_row(conn, name)
                raise NotFoundError(f"model {name!r} has no alias {alias!r}", field="alias")
            rows.move_alias(conn, name, alias, None, actor, _now(), reason)
            self._event(conn, actor, "alias.delete", name, {alias: before}, {alias: None},
                        reason)

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasChange]:
        with self._read() as conn:
            rows.model_row(conn, name)
            return rows.alias_changes(conn, name, alias)

    def alias_at(self, name: str, alias: str, at_ms: int) -> int | None:
        """The version ``alias`` pointed at, at time ``at_ms`` (None: it pointed nowhere)."""
        held = None
        for change in self.alias_history(name, alias):
            if change.time > at_ms:
                break
            held = change.version
        return held

    @staticmethod
    def _check_promotable(conn: Connection, v: ModelVersion, alias: str, policy: Policy
                          ) -> None:
        where = f"{v.name} v{v.version} cannot become {alias!r}"
        if v.status is not ApprovalStatus.APPROVED:
            raise PermissionDeniedError(
                f"{where}: {alias!r} is a protected alias and the version is {v.status}, not "
                "approved (rule: protected aliases need an approved version)", field="alias")
        reports = rows.latest_reports(conn, v.name, v.version)
        missing = [kind for kind in policy.required_reports if kind not in reports]
        if missing:
            raise PermissionDeniedError(
                f"{where}: the policy requires report(s) {', '.join(missing)}, which are not "
                "attached (rule: required_reports)", field="alias")
        metrics: dict[str, float | None] = {}
        for report in reports.values():
            metrics.update(report.metrics)
        failed = [f"{th} (is {metrics.get(th.metric)})" for th in policy.thresholds
                  if not th.holds(metrics.get(th.metric))]
        if failed:
            raise PermissionDeniedError(
                f"{where}: threshold(s) not met: {'; '.join(failed)} (rule: thresholds)",
                field="alias")
