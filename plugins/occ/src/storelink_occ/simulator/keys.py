"""Application keys and access tokens of the simulator, both JWTs as in OCC.

An application key is issued per registered application; resetting or deleting the
application revokes it, after which logins with it and every token obtained with it
are refused. Access tokens last ``token_ttl`` seconds on the simulator's clock.
Both are HS256 JWTs signed with a per-instance secret; keys can be encoded in
base64url (as OCC issues them now) or in padded standard base64 (as in OCC's older
documentation examples).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import itertools
import json
import secrets
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from attrs import frozen

__all__ = ["Grant", "KeyIssuer"]

Encoding = Literal["base64url", "base64"]


@frozen
class Grant:
    """What an access token stands for."""

    app_id: str
    audience: str
    expires_at: float


class KeyIssuer:
    """Issues, checks and revokes application keys and access tokens.

    :param clock: Monotonic seconds, for token expiry.
    :param now: The wall clock, for the ``iat`` and ``exp`` claims.
    :param encoding: How issued keys are encoded.
    """

    def __init__(
        self, *, clock: Callable[[], float], now: Callable[[], datetime], encoding: Encoding = "base64url"
    ) -> None:
        self._clock = clock
        self._now = now
        self._encoding = encoding
        self._secret = secrets.token_bytes(32)
        self._revoked: dict[str, bool] = {}
        self._tokens: dict[str, Grant] = {}
        self._serial = itertools.count(1)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ keys

    def issue_key(self, *, lifetime_days: int | None = None) -> str:
        """Register an application and return its application key.

        :param lifetime_days: Give the key an ``exp`` claim this many days ahead;
            ``None`` for a key that never expires.
        """
        with self._lock:
            app_id = f"app{next(self._serial):04d}"
            self._revoked[app_id] = False
        issued = int(self._now().timestamp())
        claims: dict[str, Any] = {"sub": app_id, "iss": "admin", "iat": issued, "jti": secrets.token_hex(8)}
        if lifetime_days is not None:
            claims["exp"] = issued + lifetime_days * 86400
        return self._sign({"alg": "HS256", "typ": "JWT", "kid": "occ-simulator"}, claims, self._encoding)

    def revoke_key(self, key: str) -> bool:
        """Revoke the application of *key*; ``False`` if the key is not one of ours."""
        claims = self._verify(key)
        app_id = claims.get("sub") if claims else None
        with self._lock:
            if not isinstance(app_id, str) or app_id not in self._revoked:
                return False
            self._revoked[app_id] = True
            return True

    def app_of_key(self, key: str) -> str | None:
        """Return the application of a valid, unrevoked, unexpired *key*, else ``None``."""
        claims = self._verify(key)
        if claims is None or claims.get("iss") != "admin":
            return None
        exp = claims.get("exp")
        if isinstance(exp, int) and exp <= self._now().timestamp():
            return None
        app_id = claims.get("sub")
        if not isinstance(app_id, str):
            return None
        with self._lock:
            return app_id if self._revoked.get(app_id) is False else None

    # ------------------------------------------------------------------ tokens

    def issue_token(self, app_id: str, audience: str, ttl: float) -> str:
        """Return a new access token for *app_id* on *audience*, valid *ttl* seconds."""
        token_id = secrets.token_hex(12)
        issued = int(self._now().timestamp())
        with self._lock:
            now = self._clock()
            self._tokens = {k: g for k, g in self._tokens.items() if g.expires_at > now}
            self._tokens[token_id] = Grant(app_id=app_id, audience=audience, expires_at=now + ttl)
        claims = {
            "sub": app_id,
            "iss": f"{audience}UI",
            "iat": issued,
            "exp": issued + max(1, round(ttl)),
            "jti": token_id,
        }
        return self._sign({"alg": "HS256", "typ": "JWT"}, claims, "base64url")

    def grant_of_token(self, token: str) -> Grant | None:
        """Return the grant of a valid *token*, or ``None`` (unknown, expired or revoked)."""
        claims = self._verify(token)
        token_id = claims.get("jti") if claims else None
        with self._lock:
            grant = self._tokens.get(token_id) if isinstance(token_id, str) else None
            if grant is None or grant.expires_at <= self._clock() or self._revoked.get(grant.app_id) is not False:
                return None
            return grant

    # ------------------------------------------------------------------ JWT

    def _sign(self, header: dict[str, Any], claims: dict[str, Any], encoding: Encoding) -> str:
        signing_input = (
            f"{_encode(json.dumps(header).encode(), encoding)}.{_encode(json.dumps(claims).encode(), encoding)}"
        )
        signature = hmac.new(self._secret, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_encode(signature, encoding)}"

    def _verify(self, token: str) -> dict[str, Any] | None:
        parts = token.split(".")
        if len(parts) != 3:
            return None
        signature = _decode(parts[2])
        expected = hmac.new(self._secret, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        if signature is None or not hmac.compare_digest(signature, expected):
            return None
        payload = _decode(parts[1])
        try:
            claims = json.loads(payload) if payload is not None else None
        except ValueError:
            return None
        return claims if isinstance(claims, dict) else None


def _encode(data: bytes, encoding: Encoding) -> str:
    if encoding == "base64":
        return base64.b64encode(data).decode()
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _decode(segment: str) -> bytes | None:
    body = segment.rstrip("=").replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
