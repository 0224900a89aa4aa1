"""The two ways a model package refuses to load, as Shipyard errors with stable codes."""

from __future__ import annotations

from shipyard.errors import InvalidInputError, PermissionDeniedError


class CorruptedPackageError(InvalidInputError):
    """A package file is missing, or its bytes differ from the digest in the manifest, or the
    manifest itself is unreadable. ``field`` names the file (relative to the package)."""


class UntrustedModelError(PermissionDeniedError):
    """Loading would run code from the package (a pickle, or types skops does not trust) and the
    caller did not pass ``trust=True``. Nothing from the file was executed."""
