"""Signed web chat identities: the site puts an HS256 JWT of its signed-in user on the
widget (``data-user-jwt``), signed with ``verification.webchat_jwt_secret``.

Claims: ``sub`` (required, the site's user id), ``exp`` (required), optional ``name``,
``email``, ``phone``; ``nbf`` / ``iat`` are honoured when present, each within
``jwt_leeway`` of clock skew. A valid token makes the visitor the contact ``user:<sub>``,
verified (method ``jwt``), which may join the contact owning that email or phone. A bad
or expired one is answered with an error frame naming why, and the socket is closed.
"""

from __future__ import annotations

from dataclasses import dataclass

import jwt

from gateway.channels.webchat.frames import FrameError
from gateway.identity import InvalidIdentity, make_identity
from gateway.model import Identity, IdentityKind

MAX_JWT_CHARS = 8192
MAX_SUB_CHARS = 256


@dataclass(frozen=True, slots=True)
class SignedUser:
    sub: str
    name: str | None
    email: Identity | None
    phone: Identity | None

    @property
    def identities(self) -> list[Identity]:
        """The identities that decide the contact, strongest first."""
        found = [Identity(kind=IdentityKind.USER, value=self.sub)]
        return found + [i for i in (self.email, self.phone) if i is not None]


class SignedIdentity:
    def __init__(self, secret: bytes, *, leeway: float) -> None:
        self._secret = secret
        self.leeway = leeway

    def __repr__(self) -> str:
        return "SignedIdentity(secret=<hidden>)"

    def read(self, token: str) -> SignedUser:
        """The user the token names, or ``FrameError`` (``expired_user_jwt``, ``invalid_user_jwt``)."""
        if len(token) > MAX_JWT_CHARS:
            raise FrameError("invalid_user_jwt", "the signed identity (data-user-jwt) is too long")
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                leeway=self.leeway,
                options={"require": ["exp", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise FrameError(
                "expired_user_jwt", "the signed identity (data-user-jwt) has expired; reload the page to sign in again"
            ) from None
        except jwt.InvalidTokenError as exc:
            raise FrameError("invalid_user_jwt", f"the signed identity (data-user-jwt) is not valid: {exc}") from None
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub.strip() or len(sub) > MAX_SUB_CHARS or any(c.isspace() for c in sub):
            raise FrameError("invalid_user_jwt", "the signed identity's sub must be a user id without spaces")
        name = claims.get("name")
        return SignedUser(
            sub=sub,
            name=" ".join(name.split())[:200] or None if isinstance(name, str) else None,
            email=_claim(claims, "email", IdentityKind.EMAIL),
            phone=_claim(claims, "phone", IdentityKind.PHONE),
        )


def _claim(claims: dict[str, object], key: str, kind: IdentityKind) -> Identity | None:
    value = claims.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise FrameError("invalid_user_jwt", f"the signed identity's {key} must be a string")
    try:
        return make_identity(kind, value)
    except InvalidIdentity:
        raise FrameError("invalid_user_jwt", f"the signed identity's {key} is not a valid {kind.value}") from None
