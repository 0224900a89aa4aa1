"""The web UI of ``shipyard server``: server-rendered pages at ``/`` and ``/ui/...``.

Pages are Jinja2 templates (``templates/``) filled from the same tracking store the REST API
serves, with htmx swapping parts of a page (the runs table as you filter, sort and page) and
uPlot drawing metric series. Both libraries come from npm, pinned by the repository's
``package-lock.json``, and are copied into ``static/vendor/`` by ``make ui-assets``
(``scripts/vendor_ui.py``); the wheel ships them, so the UI loads nothing from the internet.
Without them the pages still render, with a banner saying how to install them.

:func:`install` adds the UI to an app. Jinja2 is the ``ui`` extra: without it, the UI's paths
answer a page saying what to install, and the API is unchanged.
"""

from __future__ import annotations

import importlib.util
import logging

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from shipyard.server.ui.templating import STATIC_DIR

log = logging.getLogger("shipyard.server")

MISSING_JINJA = ("Shipyard's web UI needs Jinja2, which the ui extra installs: "
                 'pip install "shipyard-mlops[server,ui]". The REST API at /api/v1 works '
                 "without it.")


def install(app: FastAPI) -> None:
    """Serve the UI's pages, their static files (``/ui/static``) and ``/`` from ``app``."""
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")
    if importlib.util.find_spec("jinja2") is None:
        _install_notice(app)
        return
    from shipyard.server.ui import (
        audit_page,
        compare_page,
        datasets_pages,
        login,
        models_pages,
        pipelines_pages,
        run_page,
        runs_pages,
    )

    for pages in (runs_pages, run_page, compare_page, datasets_pages, models_pages,
                  pipelines_pages, audit_page, login):
        app.include_router(pages.router)


def _install_notice(app: FastAPI) -> None:
    log.warning("%s", MISSING_JINJA)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/ui/", 307)

    @app.get("/ui/{path:path}", include_in_schema=False)
    def notice(path: str) -> HTMLResponse:
        return HTMLResponse(
            "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Shipyard</title>"
            f"<p role=\"alert\">{MISSING_JINJA}</p></html>", status_code=503)
