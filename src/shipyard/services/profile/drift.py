"""Comparing two table profiles column by column: schema changes, missing values and drift.

Used for ``data diff`` between dataset versions and by monitoring (training profile as the
reference, a production window as the current one). The ``drifted`` verdict uses
:class:`DriftThresholds`; its defaults are the usual rules of thumb (PSI >= 0.2 is a
significant shift) and are listed in docs/profiles.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from shipyard.services.profile import statistics
from shipyard.services.profile.model import ColumnProfile, TableProfile

Status = Literal["compared", "added", "removed", "retyped"]


@dataclass(frozen=True)
class DriftThresholds:
    """When a column counts as drifted. PSI below 0.1 is usually read as no shift, 0.1-0.2 as
    moderate, 0.2 and above as significant; ``missing_rate`` is an absolute change (0.1 = ten
    percentage points)."""

    psi: float = 0.2
    missing_rate: float = 0.1


@dataclass(frozen=True)
class ColumnDrift:
    """How one column changed from the reference profile to the current one.

    ``psi`` is set for numeric, temporal, boolean and string columns; ``ks`` for numeric and
    temporal ones; ``tvd`` (total-variation distance) for boolean and string ones. Statistics
    a side lacks are ``None``.
    """

    column: str
    status: Status
    reference_kind: str | None
    current_kind: str | None
    missing_rate_reference: float | None = None
    missing_rate_current: float | None = None
    mean_reference: float | None = None
    mean_current: float | None = None
    std_reference: float | None = None
    std_current: float | None = None
    psi: float | None = None
    ks: float | None = None
    tvd: float | None = None
    drifted: bool = False
    reasons: tuple[str, ...] = ()

    @property
    def missing_rate_change(self) -> float | None:
        return _change(self.missing_rate_reference, self.missing_rate_current)

    @property
    def mean_change(self) -> float | None:
        return _change(self.mean_reference, self.mean_current)

    @property
    def std_change(self) -> float | None:
        return _change(self.std_reference, self.std_current)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types, with the three changes (current - reference) spelled out."""
        out = asdict(self)
        out["reasons"] = list(self.reasons)
        out["missing_rate_change"] = self.missing_rate_change
        out["mean_change"] = self.mean_change
        out["std_change"] = self.std_change
        return out


def compare(reference: TableProfile, current: TableProfile,
            thresholds: DriftThresholds | None = None) -> list[ColumnDrift]:
    """One entry per column of either profile: the reference's columns first, in order.

    Removed and retyped columns count as drifted (a model reading them would break); an added
    column does not (nothing read it before) but is listed.
    """
    limits = thresholds or DriftThresholds()
    current_names = set(current.names)
    drifts: list[ColumnDrift] = []
    for ref in reference.columns:
        if ref.name not in current_names:
            drifts.append(ColumnDrift(ref.name, "removed", str(ref.kind), None,
                                      missing_rate_reference=ref.missing_rate, drifted=True,
                                      reasons=("column removed",)))
        else:
            drifts.append(compare_columns(ref, current.column(ref.name), limits))
    reference_names = set(reference.names)
    drifts.extend(
        ColumnDrift(c.name, "added", None, str(c.kind), missing_rate_current=c.missing_rate,
                    reasons=("column added",))
        for c in current.columns if c.name not in reference_names)
    return drifts


def compare_columns(ref: ColumnProfile, cur: ColumnProfile,
                    thresholds: DriftThresholds | None = None) -> ColumnDrift:
    """The change of one column present in both profiles."""
    limits = thresholds or DriftThresholds()
    base = ColumnDrift(ref.name, "compared", str(ref.kind), str(cur.kind),
                       ref.missing_rate, cur.missing_rate)
    reasons: list[str] = []
    if abs(cur.missing_rate - ref.missing_rate) >= limits.missing_rate:
        reasons.append(f"missing rate {ref.missing_rate:.1%} -> {cur.missing_rate:.1%}")
    if ref.kind is not cur.kind:
        reasons.insert(0, f"kind changed from {ref.kind} to {cur.kind}")
        return replace(base, status="retyped", drifted=True, reasons=tuple(reasons))
    if ref.numeric is not None and cur.numeric is not None:
        base = replace(base, mean_reference=_mean(ref), mean_current=_mean(cur),
                       std_reference=ref.numeric.moments.std,
                       std_current=cur.numeric.moments.std,
                       ks=statistics.ks_statistic(ref.numeric, cur.numeric))
        shares = statistics.numeric_shares(ref.numeric, cur.numeric)
    else:
        shares = statistics.categorical_shares(ref, cur)
        if shares is not None:
            base = replace(base, tvd=statistics.total_variation(*shares))
    if shares is not None:
        psi = statistics.psi(*shares)
        base = replace(base, psi=psi)
        if psi >= limits.psi:
            reasons.append(f"PSI {psi:.3f} >= {limits.psi}")
    return replace(base, drifted=bool(reasons), reasons=tuple(reasons))


def _mean(column: ColumnProfile) -> float | None:
    stats = column.numeric
    return stats.moments.mean if stats is not None and stats.moments.n else None


def _change(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before
