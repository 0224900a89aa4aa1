"""Test suites shipped with Shipyard, for its own tests and for anyone implementing a store."""
