"""A registered model's governance policy: required reports, metric thresholds, approvals
and protected aliases. Written as a dict/YAML document::

    required_reports: [evaluation, bias]
    thresholds:
      - f1 >= 0.95
      - demographic_parity_difference <= 0.1
    approvals: 1
    protected_aliases: [production]
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from shipyard.errors import InvalidInputError

_THRESHOLD_RE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(>=|<=|>|<|==)\s*(\S+)\s*")
_OPS = {">=": float.__ge__, "<=": float.__le__, ">": float.__gt__, "<": float.__lt__,
        "==": float.__eq__}
MAX_APPROVALS = 10


@dataclass(frozen=True, slots=True)
class Threshold:
    metric: str
    op: str
    value: float

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"

    def holds(self, actual: float | None) -> bool:
        return actual is not None and bool(_OPS[self.op](float(actual), self.value))


@dataclass(frozen=True, slots=True)
class Policy:
    required_reports: tuple[str, ...] = ()
    thresholds: tuple[Threshold, ...] = ()
    approvals: int = 1
    protected_aliases: tuple[str, ...] = field(default=("production",))

    def to_dict(self) -> dict[str, Any]:
        return {"required_reports": list(self.required_reports),
                "thresholds": [str(t) for t in self.thresholds],
                "approvals": self.approvals,
                "protected_aliases": list(self.protected_aliases)}

    @classmethod
    def from_dict(cls, data: object, known_metrics: Collection[str] | None = None) -> Policy:
        if not isinstance(data, Mapping):
            raise InvalidInputError("a policy must be a mapping with required_reports, "
                                    "thresholds, approvals and protected_aliases",
                                    field="policy")
        unknown = set(data) - {"required_reports", "thresholds", "approvals",
                               "protected_aliases"}
        if unknown:
            raise InvalidInputError(f"unknown policy field(s): {', '.join(sorted(unknown))}",
                                    field=f"policy.{sorted(unknown)[0]}")
        reports = _strings(data.get("required_reports", []), "policy.required_reports")
        aliases = _strings(data.get("protected_aliases", ["production"]),
                           "policy.protected_aliases")
        approvals = data.get("approvals", 1)
        if not isinstance(approvals, int) or isinstance(approvals, bool) \
                or not 0 <= approvals <= MAX_APPROVALS:
            raise InvalidInputError(f"policy approvals must be a whole number from 0 to "
                                    f"{MAX_APPROVALS}, not {approvals!r}",
                                    field="policy.approvals")
        thresholds = tuple(parse_threshold(text, known_metrics)
                           for text in _strings(data.get("thresholds", []),
                                                "policy.thresholds"))
        return cls(tuple(reports), thresholds, approvals, tuple(aliases))

    @classmethod
    def from_yaml(cls, text: str, known_metrics: Collection[str] | None = None) -> Policy:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidInputError(f"policy YAML does not parse: {exc}",
                                    field="policy") from None
        return cls.from_dict(data, known_metrics)


def parse_threshold(text: str, known_metrics: Collection[str] | None = None) -> Threshold:
    match = _THRESHOLD_RE.fullmatch(text)
    if match is None:
        raise InvalidInputError(
            f"threshold {text!r} must read '<metric> <op> <number>' with op one of "
            ">=, <=, >, <, == (e.g. 'f1 >= 0.95')", field="policy.thresholds")
    metric, op, raw = match.groups()
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInputError(f"threshold {text!r}: {raw!r} is not a number",
                                field="policy.thresholds") from None
    if known_metrics is not None and metric not in known_metrics \
            and metric.split(".", 1)[0] not in known_metrics:
        raise InvalidInputError(
            f"threshold {text!r} names unknown metric {metric!r}; reports provide "
            f"{', '.join(sorted(known_metrics)[:12])}, ...", field="policy.thresholds")
    return Threshold(metric, op, value)


def _strings(value: object, field_name: str) -> list[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise InvalidInputError(f"{field_name} must be a list of strings", field=field_name)
    return list(value)
