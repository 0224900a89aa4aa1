"""A metric's points for a chart, downsampled in the database: min and max per step bucket.

Reading a million points to draw a chart a few hundred pixels wide costs seconds; two
queries that the database answers over the ``metrics(run_id, key, step)`` index cost a
fraction of that and send at most ``max_points`` rows. The step range is cut into
``max_points // 2`` equal buckets (the time range, for a metric logged without steps), and each
bucket gives a point with its lowest and one with its highest finite value.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import Connection, and_, func, literal, select

from shipyard.entities import Metric
from shipyard.store import schema as t
from shipyard.store.tracking.sql_rows import metric


def series(conn: Connection, run_id: str, key: str, max_points: int
           ) -> tuple[int, list[Metric]]:
    """``(total, points)``: see :meth:`TrackingStore.get_metric_series`."""
    m = t.metrics.c
    of_metric = and_(m.run_id == run_id, m.key == key)
    total, first_step, last_step = conn.execute(
        select(func.count(), func.min(m.step), func.max(m.step)).where(of_metric)).one()
    if total <= max_points:
        rows = conn.execute(select(m.key, m.value, m.step, m.timestamp).where(of_metric)
                            .order_by(m.step, m.timestamp))
        return total, [metric(row) for row in rows]
    x: Any = m.step
    low, high = first_step, last_step
    if low == high:  # logged without steps: bucket by time
        x = m.timestamp
        low, high = conn.execute(select(func.min(x), func.max(x)).where(of_metric)).one()
    buckets = max_points // 2
    span = high - low + 1
    # Floor division (integers on both databases): bucket = (x - low) * buckets // span.
    bucket = ((x - literal(low)) * literal(buckets) // literal(span)).label("bucket")
    finite = and_(m.value.is_not(None), m.value > -math.inf, m.value < math.inf)
    extremes = (select(bucket, func.min(m.value).label("lo"), func.max(m.value).label("hi"))
                .where(of_metric, finite).group_by(bucket).subquery("extremes"))
    point = t.metrics.alias("point")
    p = point.c
    point_bucket = (p.step if x is m.step else p.timestamp) - literal(low)
    # One row per bucket and extreme value (a flat stretch holds its value many times): its
    # first step and time.
    picked = (
        select(literal(key), p.value, func.min(p.step).label("step"),
               func.min(p.timestamp).label("timestamp"))
        .select_from(point.join(extremes, and_(
            extremes.c.bucket == point_bucket * literal(buckets) // literal(span),
            (p.value == extremes.c.lo) | (p.value == extremes.c.hi))))
        .where(p.run_id == run_id, p.key == key)
        .group_by(extremes.c.bucket, p.value)
        .order_by("step", "timestamp")
    )
    return total, [metric(row) for row in conn.execute(picked)]
