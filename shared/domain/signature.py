"""Meta's `X-Hub-Signature-256`: HMAC-SHA256 of the raw request body with the app secret."""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["sign", "verify_signature"]

_PREFIX = "sha256="


def sign(raw_body: bytes, app_secret: str) -> str:
    """The header value Meta would send for this body."""
    digest = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def verify_signature(raw_body: bytes, header: str | None, app_secret: str) -> bool:
    """True when the header carries the body's HMAC; compared in constant time."""
    if not header or not header.startswith(_PREFIX) or not app_secret:
        return False
    expected = sign(raw_body, app_secret)
    return hmac.compare_digest(expected.encode(), header.strip().lower().encode())
