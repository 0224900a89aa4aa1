"""The shipped registry conformance suite, run against the local service on SQLite and (when
configured) PostgreSQL, and against the REST client through the real server app in-process."""

from shipyard.testing.registry_conformance import *  # noqa: F403
from tests.registry_support import registry_under_test

__all__ = ["registry_under_test"]
