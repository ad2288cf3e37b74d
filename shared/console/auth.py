"""Who is calling the console: a verified Google identity in the cloud, a dev login locally.

In the cloud a request carries IAP's `x-goog-iap-jwt-assertion` (ES256, signed by IAP) or an
`Authorization: Bearer` Google ID token (RS256, signed by Google). Both are checked for
signature, expiry, issuer and audience (`CONSOLE_AUDIENCE`) against keys from an injected
fetcher, so tests sign their own tokens offline. The email maps to a role through the
`console_users` collection, then the `CONSOLE_USERS` setting.

Locally (`ATENDE_ENV` local or test) `POST /login` with an email sets a signed session cookie
(secret `console-session-key`). Every POST authenticated by a cookie (the session's, or IAP's
own cookie in a browser) must carry the CSRF token; a bearer token cannot ride a cross-site
form, so it needs none.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

from shared.domain.console import ConsoleError, Identity, Role
from shared.ports import ConsoleStore

__all__ = [
    "GOOGLE_CERTS_URL",
    "IAP_KEYS_URL",
    "SESSION_COOKIE",
    "Authenticator",
    "CachedKeys",
    "KeyFetcher",
    "SessionCodec",
    "TokenVerifier",
]

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
IAP_KEYS_URL = "https://www.gstatic.com/iap/verify/public_key"
_ISSUERS = {
    "bearer": ("accounts.google.com", "https://accounts.google.com"),
    "iap": ("https://cloud.google.com/iap",),
}
SESSION_COOKIE = "atende_console"
_SESSION_MAX_AGE = 12 * 3600

# key id -> PEM public key or X.509 certificate, for one kind of token ("bearer" or "iap").
KeyFetcher = Callable[[str], Mapping[str, str]]


class CachedKeys:
    """Google's and IAP's public keys over HTTPS, kept an hour (they rotate over days)."""

    def __init__(self, *, ttl_seconds: float = 3600.0, timeout_seconds: float = 10.0) -> None:
        self._ttl = ttl_seconds
        self._timeout = timeout_seconds
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, Mapping[str, str]]] = {}

    def __call__(self, kind: str) -> Mapping[str, str]:
        url = IAP_KEYS_URL if kind == "iap" else GOOGLE_CERTS_URL
        with self._lock:
            hit = self._cache.get(url)
            if hit and time.monotonic() - hit[0] < self._ttl:
                return hit[1]
            import requests

            response = requests.get(url, timeout=self._timeout)
            response.raise_for_status()
            keys: Mapping[str, str] = response.json()
            self._cache[url] = (time.monotonic(), keys)
            return keys


@dataclass(frozen=True, slots=True)
class TokenVerifier:
    """Checks a Google-signed JWT: signature, expiry, issuer, audience; returns its email."""

    audience: str
    keys: KeyFetcher
    clock_skew_seconds: int = 30

    def email(self, token: str, kind: str) -> str:
        """The verified email; ConsoleError 401 with the reason otherwise."""
        from google.auth import exceptions as gauth_exceptions
        from google.auth import jwt

        if not self.audience:
            raise ConsoleError(401, "token sign-in is not configured (CONSOLE_AUDIENCE is blank)")
        try:
            claims: Mapping[str, Any] = jwt.decode(  # type: ignore[no-untyped-call]
                token,
                certs=self.keys(kind),
                audience=self.audience,
                clock_skew_in_seconds=self.clock_skew_seconds,
            )
        except (gauth_exceptions.GoogleAuthError, ValueError) as error:
            raise ConsoleError(401, f"invalid token: {_reason(error)}") from error
        if claims.get("iss") not in _ISSUERS[kind]:
            raise ConsoleError(401, f"invalid token: issuer {claims.get('iss')!r} is not Google's")
        email = claims.get("email")
        if not isinstance(email, str) or not email:
            raise ConsoleError(401, "invalid token: it carries no email")
        if kind == "bearer" and claims.get("email_verified") is False:
            raise ConsoleError(401, "invalid token: the email is not verified")
        # IAP writes "accounts.google.com:user@example.com" in some set-ups.
        return email.rsplit(":", 1)[-1].lower()


def _reason(error: Exception) -> str:
    text = str(error.args[0]) if error.args else str(error)
    if "audience" in text:
        return "wrong audience"
    if "signature" in text:
        return "bad signature"
    if "expired" in text.lower() or "Token used too" in text:
        return "expired or not yet valid"
    if "Certificate for key id" in text:
        return "signed by an unknown key"
    return text[:120]


class SessionCodec:
    """The dev login's cookie: the email, signed with `console-session-key`, for 12 hours."""

    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="atende-console-session")
        self._secret = secret.encode()

    def dumps(self, email: str) -> str:
        """A cookie value for this email."""
        return self._serializer.dumps({"email": email})

    def loads(self, value: str) -> str | None:
        """The email of a valid, unexpired cookie, else None."""
        try:
            data = self._serializer.loads(value, max_age=_SESSION_MAX_AGE)
        except BadSignature:
            return None
        email = data.get("email") if isinstance(data, dict) else None
        return email if isinstance(email, str) else None

    def csrf_token(self, email: str) -> str:
        """The CSRF token of this user's forms (the same for IAP and dev sessions)."""
        return hmac.new(self._secret, b"csrf\n" + email.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, email: str, token: str | None) -> bool:
        """Does the submitted token match."""
        return bool(token) and hmac.compare_digest(self.csrf_token(email), token or "")


@dataclass(frozen=True, slots=True)
class Authenticator:
    """Turns a request's headers and cookie into an Identity, or a 401/403 ConsoleError."""

    verifier: TokenVerifier
    sessions: SessionCodec
    store: ConsoleStore
    # Bootstrap map email -> role (CONSOLE_USERS), used when console_users has no entry.
    users: Mapping[str, str] = field(default_factory=dict)
    dev_login: bool = False

    def identify(self, headers: Mapping[str, str], cookie: str | None) -> Identity:
        """The caller, from IAP's header, a bearer token, or (locally) the session cookie."""
        iap = headers.get("x-goog-iap-jwt-assertion")
        authorization = headers.get("authorization", "")
        if iap:
            return self.identity(self.verifier.email(iap, "iap"), "iap")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise ConsoleError(401, "Authorization must be 'Bearer <Google ID token>'")
            return self.identity(self.verifier.email(token.strip(), "bearer"), "bearer")
        if self.dev_login and cookie:
            email = self.sessions.loads(cookie)
            if email is None:
                raise ConsoleError(401, "the session expired or was tampered with: sign in again")
            return self.identity(email, "session")
        raise ConsoleError(401, "sign in: no Google identity token and no session")

    def identity(self, email: str, via: str) -> Identity:
        """The email's role, or 403 for someone the console does not know."""
        email = email.strip().lower()
        role = self.store.user_role(email) or self.users.get(email)
        if role is None:
            raise ConsoleError(403, f"{email} is not a console user")
        try:
            return Identity(email=email, role=Role(role), via=via)  # type: ignore[arg-type]
        except ValueError as error:
            raise ConsoleError(403, f"{email} has no valid role ({role!r})") from error
