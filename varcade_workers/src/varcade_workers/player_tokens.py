"""Player tokens (spec "Identity"): HS256 JWTs carrying ``user_id`` and ``username``, issued by the
arcade portal (in development, by the game page's ``/dev/token``) and checked by the matchmaker.
The rules both sides follow live here, once. Needs PyJWT (the ``jwt`` extra).

Settings (:meth:`TokenRules.from_env`, read once at start):

- ``JWT_REQUIRE_EXP`` (default ``true``): a token without ``exp`` is refused; before, one was
  accepted forever. ``false`` only for a portal whose tokens carry no ``exp`` (an ``exp`` that is
  present is still checked).
- ``JWT_ISSUER``, ``JWT_AUDIENCE`` (default unset: not checked): a token must carry exactly this
  ``iss`` / this ``aud`` (one of its ``aud`` values). Unset audience: a token that carries an
  ``aud`` is refused (PyJWT's rule: whoever it was meant for, it was not us).
- ``JWT_MAX_AGE_SECONDS`` (default 0: no limit): a token must carry ``iat`` and be at most this
  old, whatever its ``exp`` says.

Checks are PyJWT's own options (``options={"require": [...]}``, ``issuer=``, ``audience=``; PyJWT
also refuses an ``exp`` in the past and an ``iat`` in the future), except the age, for which PyJWT
has no option: PyJWT requires and validates ``iat``, the age is compared here. Tokens issued with
:func:`issue` carry ``iat``, ``exp`` (:data:`DEFAULT_LIFETIME_SECONDS`, or the maximum age if
shorter) and the configured ``iss`` / ``aud``, so they pass :func:`verify` under the same rules.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import jwt

from varcade_workers import settings

__all__ = [
    "ALGORITHM",
    "DEFAULT_LIFETIME_SECONDS",
    "InvalidToken",
    "TokenRules",
    "issue",
    "verify",
]

ALGORITHM: Final = "HS256"
#: How long a token issued here is valid (a development session: a day).
DEFAULT_LIFETIME_SECONDS: Final = 24 * 3600

_TRUE: Final = frozenset(("1", "true", "yes", "on"))
_FALSE: Final = frozenset(("0", "false", "no", "off"))


class InvalidToken(Exception):
    """Why a token is refused; the message is meant for the client (a 401)."""


@dataclass(frozen=True)
class TokenRules:
    """What a player token must carry besides a valid signature."""

    require_exp: bool = True
    issuer: str | None = None
    audience: str | None = None
    #: None (or 0): no limit.
    max_age_seconds: int | None = None

    @classmethod
    def from_env(cls) -> TokenRules:
        """``JWT_REQUIRE_EXP``, ``JWT_ISSUER``, ``JWT_AUDIENCE``, ``JWT_MAX_AGE_SECONDS``; a bad
        value raises :class:`~varcade_workers.settings.ConfigError` naming the variable."""
        max_age = settings.env_int("JWT_MAX_AGE_SECONDS", 0, minimum=0)
        return cls(
            require_exp=_env_bool("JWT_REQUIRE_EXP", True),
            issuer=settings.env_str("JWT_ISSUER", "").strip() or None,
            audience=settings.env_str("JWT_AUDIENCE", "").strip() or None,
            max_age_seconds=max_age or None,
        )

    @property
    def required_claims(self) -> list[str]:
        claims = []
        if self.require_exp:
            claims.append("exp")
        if self.max_age_seconds:
            claims.append("iat")
        if self.issuer is not None:
            claims.append("iss")
        if self.audience is not None:
            claims.append("aud")
        return claims


def verify(token: str, secret: str, rules: TokenRules | None = None) -> dict[str, Any]:
    """The token's claims, if its signature and claims pass ``rules`` (default
    :class:`TokenRules`: ``exp`` required); otherwise :class:`InvalidToken` with a reason."""
    rules = rules or TokenRules()
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": rules.required_claims},
            issuer=rules.issuer,
            audience=rules.audience,
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("Token has expired.") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken(f"Token has no {exc.claim!r} claim.") from exc
    except jwt.InvalidIssuerError as exc:
        raise InvalidToken("Token issuer is not accepted.") from exc
    except jwt.InvalidAudienceError as exc:
        raise InvalidToken("Token audience is not accepted.") from exc
    except jwt.ImmatureSignatureError as exc:
        raise InvalidToken("Token is not valid yet.") from exc
    except jwt.InvalidSignatureError as exc:
        raise InvalidToken("Token signature is invalid.") from exc
    except jwt.InvalidTokenError as exc:
        raise InvalidToken("Token is malformed.") from exc
    if rules.max_age_seconds:
        age = time.time() - int(claims["iat"])  # PyJWT checked it is an integer
        if age > rules.max_age_seconds:
            raise InvalidToken(
                f"Token is too old (issued more than {rules.max_age_seconds} s ago)."
            )
    return claims


def issue(
    claims: Mapping[str, Any],
    secret: str,
    rules: TokenRules | None = None,
    *,
    lifetime_seconds: int = DEFAULT_LIFETIME_SECONDS,
    now: float | None = None,
) -> str:
    """A signed token with ``claims`` plus ``iat``, ``exp`` (``lifetime_seconds``, at most the
    rules' maximum age) and the rules' ``iss`` and ``aud``; a claim given in ``claims`` wins."""
    rules = rules or TokenRules()
    issued_at = math.floor(time.time() if now is None else now)
    lifetime = lifetime_seconds
    if rules.max_age_seconds:
        lifetime = min(lifetime, rules.max_age_seconds)
    standard: dict[str, Any] = {"iat": issued_at, "exp": issued_at + lifetime}
    if rules.issuer is not None:
        standard["iss"] = rules.issuer
    if rules.audience is not None:
        standard["aud"] = rules.audience
    return jwt.encode({**standard, **claims}, secret, algorithm=ALGORITHM)


def _env_bool(name: str, default: bool) -> bool:
    text = settings.env_str(name, "").strip().lower()
    if not text:
        return default
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise settings.ConfigError(f"{name} must be true or false, got {text!r}")
