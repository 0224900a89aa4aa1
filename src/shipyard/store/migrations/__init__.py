"""Alembic migrations of the metadata store; see :mod:`shipyard.store.migrate`."""
