"""Rendering the UI's pages: one Jinja2 environment, its filters, and the asset check.

Jinja2 is imported on the first page, not when the app is built, so ``/health`` answers as
early as before. Templates autoescape: every value from the store (names, tags, params) is
text, never markup.
"""

from __future__ import annotations

import functools
import math
import posixpath
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse

from shipyard.errors import HTTP_STATUS, ShipyardError

if TYPE_CHECKING:
    from jinja2 import Environment

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATES_DIR = HERE / "templates"
VENDOR_DIR = STATIC_DIR / "vendor"
VENDOR_FILES = ("htmx.min.js", "uPlot.iife.min.js", "uPlot.min.css")
"""What ``scripts/vendor_ui.py`` copies from npm and the pages load."""


def assets_missing() -> list[str]:
    """The vendor files that are not installed (checked per page: two ``stat`` calls, and a
    ``make ui-assets`` while the server runs takes effect at once)."""
    return [name for name in VENDOR_FILES if not (VENDOR_DIR / name).is_file()]


def fmt_time(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def fmt_duration(start: int | None, end: int | None) -> str:
    if start is None or end is None or end < start:
        return ""
    seconds = (end - start) / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def fmt_number(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.6g}"
    return "" if value is None else str(value)


def fmt_size(size: int | None) -> str:
    if size is None:
        return ""
    amount = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return str(size)  # pragma: no cover


def query(path: str, params: Mapping[str, object]) -> str:
    """``path?a=1&b=x``, leaving out empty values; lists repeat their key."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None or value == "" or value is False:
            continue
        if isinstance(value, list | tuple):
            pairs.extend((key, str(item)) for item in value)
        else:
            pairs.append((key, "1" if value is True else str(value)))
    return f"{path}?{urlencode(pairs)}" if pairs else path


@functools.cache
def environment() -> Environment:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(time=fmt_time, number=fmt_number, size=fmt_size,
                       basename=posixpath.basename, urlpart=lambda s: quote(str(s), safe=""))
    env.globals.update(duration=fmt_duration, query=query)
    from shipyard.server.ui.login_session import csrf_token  # forms that change something

    env.globals.update(csrf_token=csrf_token)
    return env


def render(request: Request, template: str, context: Mapping[str, Any], *,
           status: int = 200) -> HTMLResponse:
    """The page ``template`` with ``context``; every page also gets the request, the URL
    prefix the app is served under and the missing vendor files."""
    page = environment().get_template(template).render(
        request=request, base=request.scope.get("root_path", ""),
        missing_assets=assets_missing(), **context)
    # Vary: a page and its htmx fragment share a URL, so a cache must keep them apart.
    return HTMLResponse(page, status_code=status, headers={"Vary": "HX-Request"})


def error_page(request: Request, error: ShipyardError) -> HTMLResponse:
    """An error as a page (the API's JSON shape is for programs, not people)."""
    status = HTTP_STATUS.get(error.code, 500)
    return render(request, "error.html", {"error": error, "status": status}, status=status)


def is_fragment(request: Request) -> bool:
    """An htmx request wants only the part it swaps in, unless htmx is restoring a page
    missing from its history cache (then it needs the whole page)."""
    headers = request.headers
    return (headers.get("HX-Request") == "true"
            and headers.get("HX-History-Restore-Request") != "true")
