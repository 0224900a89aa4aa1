"""The tracking protocol over HTTP: :class:`RestTrackingStore` talks to ``shipyard server``.

``httpx`` is imported with :mod:`shipyard.store.rest.client`, not here, so importing this
package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["RestTrackingStore"]

if TYPE_CHECKING:
    from shipyard.store.rest.client import RestTrackingStore


def __getattr__(name: str) -> Any:
    if name == "RestTrackingStore":
        from shipyard.store.rest.client import RestTrackingStore

        return RestTrackingStore
    raise AttributeError(f"module 'shipyard.store.rest' has no attribute {name!r}")
