"""Persistence of the model registry: rows in, frozen records out. The rules live in
:mod:`shipyard.services.registry`, which owns the transactions."""
