"""``shipyard server``: Shipyard's REST API over one tracking store, served by uvicorn.

Modules: :mod:`~shipyard.server.app` builds the FastAPI app, :mod:`~shipyard.server.errors`
renders every error in one place, ``routes_*`` hold one endpoint per protocol method and
:mod:`~shipyard.server.schemas` their request and response bodies. FastAPI is imported by
those modules, never here, so ``import shipyard`` and the CLI stay fast.
"""
