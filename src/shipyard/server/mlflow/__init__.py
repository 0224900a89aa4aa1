"""MLflow-compatible routes: the ``mlflow`` client (3.x) tracks runs and artifacts in Shipyard.

``build_router(store)`` returns a FastAPI router with MLflow's tracking REST API
(``/api/2.0/mlflow/...``, ``/ajax-api/2.0/mlflow/...``) and its artifact proxy
(``/api/2.0/mlflow-artifacts/...``), served from any :class:`TrackingStore`, and MLflow's
model-registry API (``registered-models/...``, ``model-versions/...``) served by Shipyard's
registry service on that store's database, rules included (:mod:`.registry_routes`). Errors
come in MLflow's shape, ``{"error_code": ..., "message": ...}``.
``docs/mlflow-compatibility.md`` lists what is served and how it differs from MLflow.

This package never imports ``mlflow``; only the compatibility tests use the real client.
"""

from shipyard.server.mlflow.dispatch import RpcDispatch
from shipyard.server.mlflow.router import build_router, rpc_endpoints

__all__ = ["RpcDispatch", "build_router", "rpc_endpoints"]
