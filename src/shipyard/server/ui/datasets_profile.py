"""A dataset version's column profiles as what the page shows: summaries and small SVG charts.

The histogram is the profile's own (fixed bins between the column's min and max, see
docs/profiles.md), drawn on the server as an inline SVG: no script, and the numbers are in
each bar's tooltip and in the summary table beside it for screen readers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any

from markupsafe import Markup

from shipyard.errors import ShipyardError
from shipyard.server.ui.templating import fmt_number

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
TOP_SHOWN = 10
WIDTH, HEIGHT = 240, 72


@dataclass
class ColumnView:
    name: str
    kind: str
    dtype: str
    count: int
    missing: int
    missing_rate: float
    summary: list[tuple[str, str]] = field(default_factory=list)
    histogram: Markup | None = None
    categories: list[tuple[str, int, float]] = field(default_factory=list)
    other: int = 0


def column_views(profile: dict[str, Any] | None) -> tuple[list[ColumnView], str | None]:
    """One view per profiled column, and a note when the stored profile cannot be read."""
    if profile is None:
        return [], None
    try:
        from shipyard.services.profile import TableProfile

        table = TableProfile.from_dict(profile)
        return [_view(column) for column in table.columns], None
    except (ShipyardError, ImportError, ValueError, KeyError, TypeError) as exc:
        message = exc.message if isinstance(exc, ShipyardError) else str(exc)
        return [], f"The stored profile could not be read: {message}"


def _view(column: Any) -> ColumnView:
    view = ColumnView(column.name, str(column.kind), column.dtype, column.count,
                      column.missing + column.nan, column.missing_rate)
    numeric = column.numeric
    if numeric is not None and numeric.moments.n:
        moments = numeric.moments
        std = moments.variance ** 0.5 if moments.variance is not None else None
        low = column.min_text or fmt_number(moments.min)
        high = column.max_text or fmt_number(moments.max)
        view.summary += [("min", low), ("max", high), ("mean", fmt_number(moments.mean)),
                         ("std", fmt_number(std))]
        ranks = numeric.quantiles(list(QUANTILES))
        view.summary += [(f"p{round(r * 100)}", fmt_number(v)) for r, v in zip(
            QUANTILES, ranks, strict=False)]
        view.histogram = histogram_svg(column.name, numeric.histogram.edges,
                                       numeric.histogram.counts)
    if column.boolean is not None:
        total = column.boolean.true + column.boolean.false
        view.categories = [(label, n, n / total if total else 0.0) for label, n in (
            ("true", column.boolean.true), ("false", column.boolean.false))]
    if column.strings is not None:
        categories = column.strings.categories
        total = categories.total
        view.categories = [(value, n, n / total if total else 0.0)
                           for value, n in categories.counts[:TOP_SHOWN]]
        view.other = total - sum(n for _, n, _ in view.categories)
        view.summary.append(("distinct (est.)", str(column.strings.distinct)))
    return view


def histogram_svg(name: str, edges: tuple[float, ...], counts: tuple[int, ...]) -> Markup | None:
    """Bars of ``counts`` in bins ``edges`` as an inline SVG; None without bins."""
    if not counts or len(edges) != len(counts) + 1:
        return None
    tallest = max(counts) or 1
    step = WIDTH / len(counts)
    bars = []
    for i, count in enumerate(counts):
        height = 0.0 if count == 0 else max(1.0, (HEIGHT - 2) * count / tallest)
        label = f"[{fmt_number(edges[i])}, {fmt_number(edges[i + 1])}): {count}"
        bars.append(f'<rect x="{i * step:.2f}" y="{HEIGHT - height:.2f}" '
                    f'width="{max(step - 1, 0.5):.2f}" height="{height:.2f}">'
                    f"<title>{escape(label)}</title></rect>")
    described = (f"Histogram of {name}: {len(counts)} bins from {fmt_number(edges[0])} to "
                 f"{fmt_number(edges[-1])}, the fullest holding {tallest} values")
    return Markup(  # every value interpolated is escaped or a number
        f'<svg class="histogram" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
        f'height="{HEIGHT}" role="img" aria-label="{escape(described)}">'
        f'{"".join(bars)}</svg>')
