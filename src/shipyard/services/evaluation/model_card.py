"""Model cards: what a model is, what it was trained on, how it scored, and its caveats.

The card is built once as plain blocks and rendered twice, as Markdown and as one
self-contained HTML page, so the two always say the same. Inputs are plain dicts: the
registry passes whatever manifest and lineage it has and missing keys show as "not recorded".
Keys read: manifest ``flavor``, ``digest``, ``author``/``created_by``,
``created``/``created_time`` (epoch ms), ``run_id``, ``source``, ``signature``,
``runtime_packages``, ``requires_trust``; lineage ``datasets`` (each ``ref`` or
``name``+``version``, ``role``, ``digest``), ``run_id``, ``code`` and any other scalar key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shipyard.entities.policy import Threshold, parse_threshold
from shipyard.services.evaluation.htmlkit import fmt, page
from shipyard.services.evaluation.report import FAIRNESS_METRICS, EvaluationReport, metric_order
from shipyard.services.evaluation.svg import esc

INTENDED_USE_PLACEHOLDER = ("Not described yet. Write the intended use, the intended users and "
                            "the uses that are out of scope in the model version's description.")
NOT_RECORDED = "not recorded"


class Code(str):
    """A name shown as code (metric names): backticks in Markdown, <code> in HTML."""

    __slots__ = ()


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[object]]


@dataclass(frozen=True)
class Text:
    text: str
    user: bool = False
    """Written by the user (the description): kept as Markdown, shown verbatim in HTML."""


@dataclass(frozen=True)
class Bullets:
    items: list[str]


Block = Table | Text | Bullets
Section = tuple[str, list[Block]]


def model_card_markdown(*, name: str, version: int | str, description: str | None,
                        manifest: Mapping[str, Any], reports: Sequence[EvaluationReport],
                        lineage: Mapping[str, Any], thresholds: Sequence[str] = ()) -> str:
    """The model card as Markdown. ``thresholds``: policy rules such as ``"f1 >= 0.95"``,
    shown beside the values they judge."""
    sections = _card(name, version, description, manifest, reports, lineage, thresholds)
    lines = [f"# Model card: {_md(name)} v{_md(str(version))}", ""]
    for title, blocks in sections:
        lines += [f"## {title}", ""]
        for block in blocks:
            if isinstance(block, Text):
                lines += [block.text if block.user else _md(block.text), ""]
            elif isinstance(block, Bullets):
                lines += [f"- {_md(item)}" for item in block.items] + [""]
            else:
                lines.append("| " + " | ".join(_md(h) for h in block.header) + " |")
                lines.append("|" + "|".join("---" for _ in block.header) + "|")
                lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |"
                          for row in block.rows]
                lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def model_card_html(*, name: str, version: int | str, description: str | None,
                    manifest: Mapping[str, Any], reports: Sequence[EvaluationReport],
                    lineage: Mapping[str, Any], thresholds: Sequence[str] = ()) -> str:
    """The same card as one self-contained HTML page."""
    sections = _card(name, version, description, manifest, reports, lineage, thresholds)
    title = f"Model card: {name} v{version}"
    body = [f"<h1>{esc(title)}</h1>"]
    for heading, blocks in sections:
        body.append(f"<h2>{esc(heading)}</h2>")
        for block in blocks:
            if isinstance(block, Text):
                css = ' class="user-text"' if block.user else ""
                body.append(f"<p{css}>{esc(block.text)}</p>")
            elif isinstance(block, Bullets):
                body.append("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in block.items)
                            + "</ul>")
            else:
                head = "".join(f"<th>{esc(h)}</th>" for h in block.header)
                rows = "".join("<tr>" + "".join(_html_cell(c) for c in row) + "</tr>"
                               for row in block.rows)
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody>"
                            "</table>")
    return page(title, body)


def _md(text: str) -> str:
    # user strings must not turn into markup (or raw HTML) when the Markdown is rendered
    for char in "\\`*_[]<>|#":
        text = text.replace(char, "\\" + char)
    return text.replace("\r", " ").replace("\n", " ")


def _md_cell(value: object) -> str:
    if isinstance(value, Code):
        return f"`{str(value).replace('`', '')}`" if value else ""
    return _md(fmt(value))


def _html_cell(value: object) -> str:
    if isinstance(value, Code):
        return f"<td><code>{esc(value)}</code></td>"
    if isinstance(value, int | float) or value is None:
        return f'<td class="num">{esc(fmt(value))}</td>'
    return f"<td>{esc(value)}</td>"


def _card(name: str, version: int | str, description: str | None,
          manifest: Mapping[str, Any], reports: Sequence[EvaluationReport],
          lineage: Mapping[str, Any], thresholds: Sequence[str]) -> list[Section]:
    rules = [parse_threshold(text) for text in thresholds]
    use: list[Block] = [Text(description, user=True) if description and description.strip()
                        else Text(INTENDED_USE_PLACEHOLDER)]
    return [("Model details", _details(name, version, manifest, lineage)),
            ("Intended use", use),
            ("Training data", _training_data(lineage)),
            ("Evaluation results", _results(reports, rules, fairness=False)),
            ("Fairness", _results(reports, rules, fairness=True)),
            ("Caveats", _caveats(reports))]


def _details(name: str, version: int | str, manifest: Mapping[str, Any],
             lineage: Mapping[str, Any]) -> list[Block]:
    created = manifest.get("created")
    if created is None and isinstance(manifest.get("created_time"), int | float):
        created = datetime.fromtimestamp(manifest["created_time"] / 1000, UTC).strftime(
            "%Y-%m-%d %H:%M UTC")
    packages = manifest.get("runtime_packages") or {}
    rows: list[list[object]] = [
        ["name", name], ["version", str(version)],
        ["flavor", manifest.get("flavor") or NOT_RECORDED],
        ["package digest", manifest.get("digest") or NOT_RECORDED],
        ["author", manifest.get("author") or manifest.get("created_by") or NOT_RECORDED],
        ["created", str(created) if created is not None else NOT_RECORDED],
        ["source run", manifest.get("run_id") or lineage.get("run_id") or NOT_RECORDED],
    ]
    if manifest.get("source"):
        rows.append(["source", str(manifest["source"])])
    if isinstance(packages, Mapping) and packages:
        rows.append(["runtime packages", ", ".join(f"{k}=={v}" for k, v in
                                                   sorted(packages.items()))])
    if "requires_trust" in manifest:
        rows.append(["loads only with trust", "yes" if manifest["requires_trust"] else "no"])
    blocks: list[Block] = [Table(["field", "value"], [[k, str(v)] for k, v in rows])]
    signature = manifest.get("signature")
    if isinstance(signature, Mapping):
        sig_rows = [[part, str(spec.get("name") or ""), str(spec.get("type", "")),
                     "nullable" if spec.get("nullable") else str(spec.get("shape", ""))]
                    for part in ("inputs", "outputs")
                    if isinstance(signature.get(part), Mapping)
                    for spec in (signature[part].get("columns")
                                 or signature[part].get("tensors") or [])
                    if isinstance(spec, Mapping)]
        blocks += [Text("Signature:"), Table(["", "name", "type", "nullable / shape"],
                                             [list(r) for r in sig_rows])]
    else:
        blocks.append(Text("Signature: not recorded."))
    return blocks


def _training_data(lineage: Mapping[str, Any]) -> list[Block]:
    datasets = [d for d in lineage.get("datasets") or [] if isinstance(d, Mapping)]
    blocks: list[Block] = []
    if datasets:
        rows: list[list[object]] = []
        for d in datasets:
            ref = d.get("ref") or (f"{d.get('name')}@v{d['version']}" if d.get("version")
                                   is not None else d.get("name")) or NOT_RECORDED
            rows.append([str(ref), str(d.get("role") or ""),
                         str(d.get("digest") or NOT_RECORDED)])
        blocks.append(Table(["dataset", "role", "digest"], rows))
    else:
        blocks.append(Text("No dataset lineage recorded for this version."))
    other = [[key, _plain(value)] for key, value in sorted(lineage.items())
             if key != "datasets" and value is not None]
    if other:
        blocks.append(Table(["lineage", "value"], [list(r) for r in other]))
    return blocks


def _plain(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 200 else text[:199] + "\u2026"


def _column(report: EvaluationReport, i: int) -> str:
    return report.dataset or f"report {i + 1}"


def _judged(value: float | None, rules: list[Threshold]) -> object:
    if not rules:
        return value
    verdict = "pass" if all(rule.holds(value) for rule in rules) else "FAIL"
    return f"{fmt(value)} ({verdict})"


def _results(reports: Sequence[EvaluationReport], rules: list[Threshold], *,
             fairness: bool) -> list[Block]:
    def wanted(metric: str) -> bool:
        return (metric.partition(".")[0] in FAIRNESS_METRICS) == fairness

    names = metric_order(list(dict.fromkeys(
        [m for r in reports for m in r.metrics if wanted(m)]
        + [rule.metric for rule in rules if wanted(rule.metric)])))
    if not names:
        return [Text("No sensitive features were evaluated." if fairness
                     else "No evaluation report attached.")]
    header = ["metric", *(_column(r, i) for i, r in enumerate(reports)), "threshold"]
    rows: list[list[object]] = []
    for metric in names:
        own = [rule for rule in rules if rule.metric == metric]
        # a rule whose metric a report lacks fails, as the policy check does
        cells = [_judged(r.metrics[metric], own) if metric in r.metrics
                 else "missing (FAIL)" if own else "" for r in reports]
        rows.append([Code(metric), *cells, Code("; ".join(str(rule) for rule in own))])
    blocks: list[Block] = [Table(header, rows)]
    if fairness:
        for i, report in enumerate(reports):
            for feature in report.fairness:
                rates = list(dict.fromkeys(k for g in feature.groups for k in g.rates))
                blocks += [Text(f"{_column(report, i)}: groups of {feature.feature}"),
                           Table(["group", "rows", "small", *rates],
                                 [[g.group, g.count, "yes" if g.small else "",
                                   *(g.rates.get(k) for k in rates)] for g in feature.groups])]
    return blocks


def _caveats(reports: Sequence[EvaluationReport]) -> list[Block]:
    items = [f"{_column(r, i)}: {w}" if len(reports) > 1 else w
             for i, r in enumerate(reports) for w in r.warnings]
    return [Bullets(list(dict.fromkeys(items)))] if items else [Text("None recorded.")]
