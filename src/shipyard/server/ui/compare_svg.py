"""The compare page's parallel-coordinates chart, drawn on the server as SVG.

One vertical axis per param that differs between the runs (numbers on a linear scale, other
values as ordered categories) and a last axis for the chosen metric; each run is one line
across them, coloured by its value of that metric (blue lowest, dark orange highest; dashed
grey when the run lacks it). A run lacking a param breaks its line at that axis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from shipyard.entities import Run

AXIS_GAP = 180
TOP, BOTTOM, LEFT, RIGHT = 40, 40, 80, 90
HEIGHT = 320
MAX_TICKS = 12
# Both ends, and every colour between, keep a contrast of at least 3:1 against white.
LOW, HIGH = (0x3a, 0x86, 0xc8), (0xb3, 0x41, 0x0a)
MISSING = "#6e7781"  # drawn dashed, so it is told apart by more than its colour


@dataclass(slots=True)
class Axis:
    label: str
    numeric: bool
    values: list[float | str | None]  # one per run
    low: float = 0.0
    high: float = 1.0
    categories: list[str] = field(default_factory=list)

    def position(self, value: float | str | None) -> float | None:
        """0 (bottom) to 1 (top), or None for a missing value."""
        if value is None:
            return None
        if self.numeric:
            assert isinstance(value, float)
            return 0.5 if self.high == self.low else (value - self.low) / (self.high - self.low)
        index = self.categories.index(str(value))
        return 0.5 if len(self.categories) == 1 else index / (len(self.categories) - 1)

    def ticks(self) -> list[tuple[float, str]]:
        if self.numeric:
            if self.high == self.low:
                return [(0.5, _fmt(self.low))]
            values = [self.low + (self.high - self.low) * i / 4 for i in range(5)]
            # Enough digits that neighbouring ticks read differently (a narrow range).
            for digits in range(4, 16):
                labels = [f"{v:.{digits}g}" for v in values]
                if len(set(labels)) == len(labels):
                    break
            return [(i / 4, label) for i, label in enumerate(labels)]
        shown = self.categories
        if len(shown) > MAX_TICKS:  # label a spread of them; every line still has its place
            step = math.ceil(len(shown) / MAX_TICKS)
            shown = shown[::step]
        return [(self.position(c) or 0.0, _short(c)) for c in shown]


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _short(text: str, limit: int = 14) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _axis(label: str, raw: Sequence[str | float | None]) -> Axis:
    present = [v for v in raw if v is not None]
    numbers = [v if isinstance(v, float) else _number(str(v)) for v in present]
    if present and all(n is not None for n in numbers):
        values: list[float | str | None] = [
            None if v is None else (v if isinstance(v, float) else _number(str(v))) for v in raw]
        finite = [n for n in numbers if n is not None]
        return Axis(label, True, values, min(finite), max(finite))
    categories = sorted({str(v) for v in present})
    return Axis(label, False, [None if v is None else str(v) for v in raw],
                categories=categories)


def axes(runs: Sequence[Run], metric: str) -> list[Axis]:
    """The param axes (the params that differ; all of them when none does) and the metric's."""
    keys = sorted({k for run in runs for k in run.data.params})
    columns = {k: [run.data.params.get(k) for run in runs] for k in keys}
    varying = [k for k in keys if len(set(columns[k])) > 1] or keys
    result = [_axis(f"params.{k}", columns[k]) for k in varying]
    metric_values: list[str | float | None] = []
    for run in runs:
        value = run.data.metrics.get(metric)
        metric_values.append(value if value is not None and math.isfinite(value) else None)
    result.append(_axis(f"metrics.{metric}", metric_values))
    return result


def colour(position: float | None) -> str:
    if position is None:
        return MISSING
    r, g, b = (round(lo + (hi - lo) * position) for lo, hi in zip(LOW, HIGH, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


@dataclass(frozen=True, slots=True)
class Line:
    run_id: str
    name: str
    path: str
    colour: str
    metric: str  # the run's metric value as text, for the line's title


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    axes: list[tuple[float, Axis]]  # x of each axis
    lines: list[Line]
    top: int
    bottom: int
    low_colour: str
    high_colour: str

    def y(self, position: float) -> float:
        return round(self.bottom - position * (self.bottom - self.top), 1)


def chart(runs: Sequence[Run], metric: str) -> Chart:
    made = axes(runs, metric)
    width = LEFT + RIGHT + AXIS_GAP * max(1, len(made) - 1)
    bottom = HEIGHT - BOTTOM
    xs = [LEFT + AXIS_GAP * i for i in range(len(made))]
    metric_axis = made[-1]
    lines = []
    for i, run in enumerate(runs):
        commands, pen_down = [], False
        for x, axis in zip(xs, made, strict=True):
            position = axis.position(axis.values[i])
            if position is None:
                pen_down = False
                continue
            y = round(bottom - position * (bottom - TOP), 1)
            commands.append(f"{'L' if pen_down else 'M'}{x} {y}")
            pen_down = True
        value = metric_axis.values[i]
        lines.append(Line(run.info.run_id, run.info.run_name or run.info.run_id,
                          " ".join(commands), colour(metric_axis.position(value)),
                          "no value" if value is None else _fmt(float(value))))
    return Chart(width, HEIGHT, list(zip(xs, made, strict=True)), lines, TOP, bottom,
                 colour(0.0), colour(1.0))
