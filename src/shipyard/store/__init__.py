"""Persistence only: the metadata store per domain and its migrations."""
