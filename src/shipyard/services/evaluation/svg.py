"""Small inline-SVG charts for self-contained report pages: no script, no external file.

Every string that reaches the markup goes through :func:`esc`; numbers are formatted here.
The ``<svg>`` elements carry no ``xmlns`` (HTML5 does not need it) so a page holds no URL.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563")
WIDTH, HEIGHT = 420, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 50, 48
LABEL_CHARS = 12

Series = tuple[str, Sequence[float | None], Sequence[float | None]]
"""A line: its name, x values and y values; a None in either breaks the line."""


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(value: float) -> str:
    return f"{value:.3g}"


def _short(label: str, limit: int = LABEL_CHARS) -> str:
    return label if len(label) <= limit else label[:limit - 1] + "\u2026"


class _Frame:
    """Maps data coordinates onto the plot area of a ``width`` x ``height`` chart."""

    def __init__(self, x_range: tuple[float, float], y_range: tuple[float, float],
                 width: int = WIDTH, height: int = HEIGHT) -> None:
        self.x0, self.x1 = x_range if x_range[1] > x_range[0] else (x_range[0] - 1, x_range[0] + 1)
        self.y0, self.y1 = y_range if y_range[1] > y_range[0] else (y_range[0], y_range[0] + 1)
        self.width, self.height = width, height

    def x(self, value: float) -> float:
        span = self.width - LEFT - RIGHT
        return round(LEFT + (value - self.x0) / (self.x1 - self.x0) * span, 2)

    def y(self, value: float) -> float:
        span = self.height - TOP - BOTTOM
        return round(self.height - BOTTOM - (value - self.y0) / (self.y1 - self.y0) * span, 2)


def _open(title: str, width: int, height: int) -> list[str]:
    return [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img" aria-label="{esc(title)}">',
            f"<title>{esc(title)}</title>",
            f'<text x="{width / 2}" y="20" class="chart-title">{esc(title)}</text>']


def _axes(frame: _Frame, x_label: str, y_label: str, x_ticks: bool = True) -> list[str]:
    left, bottom = LEFT, frame.height - BOTTOM
    parts = [f'<line x1="{left}" y1="{TOP}" x2="{left}" y2="{bottom}" class="axis"/>',
             f'<line x1="{left}" y1="{bottom}" x2="{frame.width - RIGHT}" y2="{bottom}" '
             'class="axis"/>']
    for i in range(5):
        value = frame.y0 + (frame.y1 - frame.y0) * i / 4
        y = frame.y(value)
        parts.append(f'<line x1="{left}" y1="{y}" x2="{frame.width - RIGHT}" y2="{y}" '
                     f'class="grid"/><text x="{left - 6}" y="{y + 4}" class="tick" '
                     f'text-anchor="end">{_num(value)}</text>')
        if x_ticks:
            xv = frame.x0 + (frame.x1 - frame.x0) * i / 4
            parts.append(f'<text x="{frame.x(xv)}" y="{bottom + 16}" class="tick" '
                         f'text-anchor="middle">{_num(xv)}</text>')
    parts.append(f'<text x="{(left + frame.width - RIGHT) / 2}" y="{frame.height - 8}" '
                 f'class="axis-label">{esc(x_label)}</text>')
    parts.append(f'<text x="14" y="{(TOP + bottom) / 2}" class="axis-label" '
                 f'transform="rotate(-90 14 {(TOP + bottom) / 2})">{esc(y_label)}</text>')
    return parts


def _legend(names: Sequence[str]) -> list[str]:
    # one row under the title, above the plot, so it never hides data
    parts = []
    for i, name in enumerate(names):
        x = LEFT + 100 * i
        parts.append(f'<rect x="{x}" y="{TOP - 16}" width="10" height="10" '
                     f'fill="{PALETTE[i % len(PALETTE)]}"/><text x="{x + 14}" y="{TOP - 7}" '
                     f'class="legend">{esc(_short(name, 16))}<title>{esc(name)}</title></text>')
    return parts


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k that is >= ``value``: round axis ends."""
    if value <= 0:
        return 1.0
    scale = 10.0 ** math.floor(math.log10(value))
    return next(scale * step for step in (1, 2, 2.5, 5, 10) if scale * step >= value)


def line_chart(title: str, series: Sequence[Series], *, x_label: str, y_label: str,
               x_range: tuple[float, float] = (0.0, 1.0),
               y_range: tuple[float, float] = (0.0, 1.0), diagonal: bool = False,
               markers: bool = False) -> str:
    frame = _Frame(x_range, y_range)
    parts = _open(title, WIDTH, HEIGHT) + _axes(frame, x_label, y_label)
    if diagonal:  # the chance line (ROC) or perfect calibration (reliability diagram)
        parts.append(f'<line x1="{frame.x(x_range[0])}" y1="{frame.y(y_range[0])}" '
                     f'x2="{frame.x(x_range[1])}" y2="{frame.y(y_range[1])}" class="diagonal"/>')
    for i, (_, xs, ys) in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        segment: list[str] = []
        for x, y in [*zip(xs, ys, strict=True), (None, None)]:
            if x is not None and y is not None:
                segment.append(f"{frame.x(x)},{frame.y(y)}")
                if markers:
                    parts.append(f'<circle cx="{frame.x(x)}" cy="{frame.y(y)}" r="3" '
                                 f'fill="{color}"/>')
            elif segment:
                parts.append(f'<polyline points="{" ".join(segment)}" fill="none" '
                             f'stroke="{color}" stroke-width="2"/>')
                segment = []
    if len(series) > 1:
        parts += _legend([name for name, _, _ in series])
    return "\n".join([*parts, "</svg>"])


def bar_chart(title: str, categories: Sequence[str],
              series: Sequence[tuple[str, Sequence[float | None]]], *, y_label: str,
              y_max: float = 1.0) -> str:
    """Grouped bars: one group of bars per category, one bar per series; None draws none."""
    per = max(len(series), 1)
    width = max(WIDTH, LEFT + RIGHT + len(categories) * (per * 14 + 18))
    frame = _Frame((0.0, float(len(categories))), (0.0, y_max), width)
    parts = _open(title, width, HEIGHT) + _axes(frame, "", y_label, x_ticks=False)
    slot = (frame.x(1) - frame.x(0)) if categories else 0
    bar = (slot - 12) / per
    for c, category in enumerate(categories):
        start = frame.x(c) + 6
        for s, (name, values) in enumerate(series):
            value = values[c]
            if value is None:
                continue
            top = frame.y(min(value, y_max))
            parts.append(f'<rect x="{round(start + s * bar, 2)}" y="{top}" '
                         f'width="{round(bar - 1, 2)}" height="{round(frame.y(0) - top, 2)}" '
                         f'fill="{PALETTE[s % len(PALETTE)]}"><title>{esc(category)} '
                         f'{esc(name)}: {_num(value)}</title></rect>')
        parts.append(f'<text x="{frame.x(c + 0.5)}" y="{frame.y(0) + 16}" class="tick" '
                     f'text-anchor="middle">{esc(_short(category))}<title>{esc(category)}'
                     "</title></text>")
    parts += _legend([name for name, _ in series])
    return "\n".join([*parts, "</svg>"])


def histogram(title: str, edges: Sequence[float | None], counts: Sequence[float | None], *,
              x_label: str) -> str:
    lows = [e for e in edges if e is not None]
    heights = [c or 0.0 for c in counts]
    frame = _Frame((min(lows), max(lows)), (0.0, nice_ceiling(max(heights, default=1.0))))
    parts = _open(title, WIDTH, HEIGHT) + _axes(frame, x_label, "rows")
    for i, count in enumerate(heights):
        low, high = edges[i], edges[i + 1]
        if low is None or high is None:
            continue
        top = frame.y(count)
        parts.append(f'<rect x="{frame.x(low)}" y="{top}" '
                     f'width="{max(round(frame.x(high) - frame.x(low) - 1, 2), 0.5)}" '
                     f'height="{round(frame.y(0) - top, 2)}" fill="{PALETTE[0]}"><title>'
                     f"[{_num(low)}, {_num(high)}): {int(count)}</title></rect>")
    return "\n".join([*parts, "</svg>"])


def heatmap(title: str, labels: Sequence[str], matrix: Sequence[Sequence[int]]) -> str:
    """A confusion matrix: rows true class, columns predicted; shade = share of the row."""
    k = max(len(labels), 1)
    cell = max(min(48.0, 320 / k), 4.0)
    left, top = 96, 56
    size = int(left + cell * k + RIGHT)
    parts = _open(title, size, int(top + cell * k + 24))
    parts.append(f'<text x="{left + cell * k / 2}" y="{top - 24}" class="axis-label">'
                 "predicted</text>")
    parts.append(f'<text x="12" y="{top - 8}" class="axis-label" text-anchor="start">'
                 "true \u2193</text>")
    for i, row in enumerate(matrix):
        total = sum(row) or 1
        y = top + i * cell
        parts.append(f'<text x="{left - 6}" y="{y + cell / 2 + 4}" class="tick" '
                     f'text-anchor="end">{esc(_short(labels[i]))}<title>{esc(labels[i])}'
                     "</title></text>")
        for j, count in enumerate(row):
            share = count / total
            x = left + j * cell
            parts.append(f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" '
                         f'fill="{PALETTE[0]}" fill-opacity="{round(0.08 + 0.92 * share, 3)}"'
                         f' class="cell"><title>true {esc(labels[i])}, predicted '
                         f"{esc(labels[j])}: {count}</title></rect>")
            if k <= 12:
                shade = "cell-dark" if share > 0.5 else "cell-light"
                parts.append(f'<text x="{x + cell / 2}" y="{y + cell / 2 + 4}" '
                             f'class="{shade}" text-anchor="middle">{count}</text>')
    for j, label in enumerate(labels):
        parts.append(f'<text x="{left + j * cell + cell / 2}" y="{top - 6}" class="tick" '
                     f'text-anchor="middle">{esc(_short(label))}<title>{esc(label)}</title>'
                     "</text>")
    return "\n".join([*parts, "</svg>"])
