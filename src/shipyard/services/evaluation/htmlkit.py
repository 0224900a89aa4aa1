"""The page frame, tables and number format shared by report pages and model cards.

A page is one string: inline CSS, inline SVG, no script and no reference to any URL, so it
opens the same from an artifact store, an e-mail or an air-gapped audit folder.
"""

from __future__ import annotations

from collections.abc import Sequence

from shipyard.services.evaluation.svg import esc

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;
max-width:1100px;padding:0 1rem;color:#111827;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2rem;
border-bottom:1px solid #e5e7eb;padding-bottom:.2rem}h3{font-size:1.05rem}
table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #e5e7eb;
padding:.25rem .6rem;text-align:left;vertical-align:top}td.num{text-align:right;
font-variant-numeric:tabular-nums}th{background:#f9fafb}
.muted{color:#6b7280}.warn{background:#fffbeb;border-left:4px solid #f59e0b;
padding:.5rem 1rem}.ok{color:#15803d}.bad{color:#b91c1c;font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:1rem}.chart{border:1px solid #e5e7eb;
border-radius:6px;background:#fff;max-width:100%;height:auto}
.chart-title{font-size:14px;font-weight:600;text-anchor:middle}
.tick{font-size:10px;fill:#4b5563}.axis-label{font-size:11px;fill:#374151;
text-anchor:middle}.legend{font-size:10px;fill:#111827}.axis{stroke:#6b7280}
.grid{stroke:#f3f4f6}.diagonal{stroke:#9ca3af;stroke-dasharray:4 4}
.cell{stroke:#fff}.cell-dark{font-size:11px;fill:#fff}.cell-light{font-size:11px;
fill:#111827}.user-text{white-space:pre-wrap}code{background:#f3f4f6;padding:0 .2rem}
"""


def page(title: str, body: Sequence[str]) -> str:
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>",
        *body, "</body>", "</html>", ""])


def fmt(value: object) -> str:
    """A number as people read it; None (undefined) as n/a."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.4g}"
    return str(value)


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """An HTML table; every cell is escaped, numbers are right-aligned."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{esc(fmt(c))}</td>' if isinstance(c, int | float) or c is None
            else f"<td>{esc(c)}</td>" for c in row)
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def bullets(items: Sequence[str], css: str = "") -> str:
    cls = f' class="{css}"' if css else ""
    return f"<ul{cls}>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>"
