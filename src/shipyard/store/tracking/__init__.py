"""Tracking metadata: the protocol, its SQL implementation and the search grammar."""
