"""The API token format: ``shy_<id>_<secret>``.

- ``id``: 12 lowercase hex characters, public (listed, logged, named in errors) and the
  token's primary key, so a lookup is one indexed read;
- ``secret``: 64 lowercase hex characters (256 random bits), shown once and stored only as its
  SHA-256. A fast hash is right here: a salt or a slow hash (bcrypt, argon2) defends guessable
  passwords, and a 256-bit random secret cannot be guessed whatever the hash costs.

Comparison uses ``hmac.compare_digest`` so the time it takes says nothing about the hash.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets

from shipyard.errors import InvalidInputError, UnauthenticatedError

PREFIX = "shy"
ID_HEX = 12
SECRET_HEX = 64
MAX_EXPIRY_DAYS = 36_500.0
MAX_DESCRIPTION = 500
DAY_MS = 86_400_000
_TOKEN_RE = re.compile(rf"{PREFIX}_([0-9a-f]{{{ID_HEX}}})_([0-9a-f]{{{SECRET_HEX}}})")
_ID_RE = re.compile(rf"[0-9a-f]{{{ID_HEX}}}")


def new_token() -> tuple[str, str, str]:
    """A fresh ``(token_id, secret, token)``."""
    token_id, secret = secrets.token_hex(ID_HEX // 2), secrets.token_hex(SECRET_HEX // 2)
    return token_id, secret, f"{PREFIX}_{token_id}_{secret}"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def secret_matches(secret: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), secret_hash)


def parse_token(token: object) -> tuple[str, str]:
    """``(token_id, secret)``; anything else is refused without echoing what was given (it may
    be a secret pasted in the wrong place)."""
    found = _TOKEN_RE.fullmatch(token.strip()) if isinstance(token, str) else None
    if found is None:
        raise UnauthenticatedError(
            f"the API token is malformed: expected {PREFIX}_<{ID_HEX} hex>_<{SECRET_HEX} hex>, "
            "as printed by `shipyard tokens create` or `shipyard users create`", field="token")
    return found.group(1), found.group(2)


def check_token_id(value: object) -> str:
    """A token id, or the id of a whole token (handy when revoking a leaked one). The value is
    never echoed: it may be a secret."""
    text = value.strip() if isinstance(value, str) else ""
    if _ID_RE.fullmatch(text):
        return text
    found = _TOKEN_RE.fullmatch(text)
    if found is not None:
        return found.group(1)
    raise InvalidInputError(f"a token id is {ID_HEX} hex characters, as `shipyard tokens list` "
                            "shows it", field="token_id")


def check_days(days: object) -> float | None:
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int | float) or not math.isfinite(days) \
            or not 0 < days <= MAX_EXPIRY_DAYS:
        raise InvalidInputError(f"expires_in_days must be a number of days above 0 and at most "
                                f"{MAX_EXPIRY_DAYS:g}, or None for a token that never expires",
                                field="expires_in_days")
    return float(days)


def check_description(text: object) -> str | None:
    if text is None:
        return None
    if not isinstance(text, str) or len(text) > MAX_DESCRIPTION:
        raise InvalidInputError(f"a token's description is text of at most {MAX_DESCRIPTION} "
                                "characters", field="description")
    return text
