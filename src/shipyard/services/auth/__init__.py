"""Access control for ``shipyard server --auth`` (docs/access-control.md).

- :class:`AuthService`: users, role grants and API tokens (audited), ``authenticate(token)``
  to a :class:`~shipyard.entities.auth.Principal`, and ``require(principal, permission)``;
- :mod:`.tokens`: the ``shy_<id>_<secret>`` format and its hashing.

The embedded store is single-user and uses none of this: ``SHIPYARD_USER`` names the actor.
"""

from __future__ import annotations

from shipyard.services.auth.access import require
from shipyard.services.auth.service import AuthService

__all__ = ["AuthService", "require"]
