"""The shipped conformance suite, run against SQLite and (when configured) PostgreSQL."""

from shipyard.testing.tracking_conformance import *  # noqa: F403
