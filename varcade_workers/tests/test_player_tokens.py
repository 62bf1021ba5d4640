"""player_tokens: exp required by default, issuer, audience and maximum age when configured, one
rule set for whoever issues and whoever verifies."""

from __future__ import annotations

import time

import jwt
import pytest
from varcade_workers.player_tokens import (
    DEFAULT_LIFETIME_SECONDS,
    InvalidToken,
    TokenRules,
    issue,
    verify,
)
from varcade_workers.settings import ConfigError

SECRET = "player-tokens-test-secret-long-enough-for-hs256-and-even-for-hs512-keys"
PLAYER = {"user_id": "u1", "username": "Ann"}
VARIABLES = ("JWT_REQUIRE_EXP", "JWT_ISSUER", "JWT_AUDIENCE", "JWT_MAX_AGE_SECONDS")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def raw(claims: dict[str, object], secret: str = SECRET) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def test_issued_tokens_carry_iat_and_exp_and_verify() -> None:
    now = time.time()
    token = issue(PLAYER, SECRET)
    claims = verify(token, SECRET)
    assert claims["user_id"] == "u1" and claims["username"] == "Ann"
    assert abs(claims["iat"] - now) <= 1
    assert claims["exp"] - claims["iat"] == DEFAULT_LIFETIME_SECONDS
    assert "iss" not in claims and "aud" not in claims


def test_a_token_without_exp_is_refused_by_default() -> None:
    """It used to be accepted forever."""
    with pytest.raises(InvalidToken, match="'exp'"):
        verify(raw(PLAYER), SECRET)


def test_exp_may_be_made_optional_for_a_portal_without_it() -> None:
    rules = TokenRules(require_exp=False)
    assert verify(raw(PLAYER), SECRET, rules)["user_id"] == "u1"
    expired = raw({**PLAYER, "exp": int(time.time()) - 5})
    with pytest.raises(InvalidToken, match="expired"):
        verify(expired, SECRET, rules)  # an exp that is there is still checked


def test_expired_future_and_badly_signed_tokens() -> None:
    now = int(time.time())
    with pytest.raises(InvalidToken, match="expired"):
        verify(issue(PLAYER, SECRET, now=now - DEFAULT_LIFETIME_SECONDS - 5), SECRET)
    with pytest.raises(InvalidToken, match="not valid yet"):
        verify(raw({**PLAYER, "exp": now + 60, "iat": now + 3600}), SECRET)
    with pytest.raises(InvalidToken, match="signature"):
        verify(issue(PLAYER, "another-secret-long-enough-for-hs256-keys"), SECRET)
    with pytest.raises(InvalidToken, match="malformed"):
        verify("not.a.jwt", SECRET)
    with pytest.raises(InvalidToken, match="malformed"):
        verify(jwt.encode({**PLAYER, "exp": now + 60}, SECRET, algorithm="HS512"), SECRET)
    with pytest.raises(InvalidToken, match="malformed"):
        verify(raw({**PLAYER, "exp": "tomorrow"}), SECRET)
    unsigned = jwt.encode({**PLAYER, "exp": now + 60}, None, algorithm="none")
    with pytest.raises(InvalidToken):
        verify(unsigned, SECRET)


def test_issuer_and_audience_when_configured() -> None:
    rules = TokenRules(issuer="https://portal.example", audience="varcade-matchmaker")
    token = issue(PLAYER, SECRET, rules)
    claims = verify(token, SECRET, rules)
    assert (claims["iss"], claims["aud"]) == ("https://portal.example", "varcade-matchmaker")
    exp = int(time.time()) + 60
    cases = {
        "no 'iss'": {**PLAYER, "exp": exp, "aud": "varcade-matchmaker"},
        "no 'aud'": {**PLAYER, "exp": exp, "iss": "https://portal.example"},
        "issuer": {
            **PLAYER,
            "exp": exp,
            "iss": "https://evil.example",
            "aud": "varcade-matchmaker",
        },
        "audience": {**PLAYER, "exp": exp, "iss": "https://portal.example", "aud": "other-app"},
    }
    for reason, claims in cases.items():
        with pytest.raises(InvalidToken, match=reason):
            verify(raw(claims), SECRET, rules)
    several = {
        **PLAYER,
        "exp": exp,
        "iss": "https://portal.example",
        "aud": ["a", "varcade-matchmaker"],
    }
    assert verify(raw(several), SECRET, rules)["user_id"] == "u1"


def test_a_token_meant_for_an_audience_is_refused_when_none_is_configured() -> None:
    token = raw({**PLAYER, "exp": int(time.time()) + 60, "aud": "someone-else"})
    with pytest.raises(InvalidToken, match="audience"):
        verify(token, SECRET)


def test_maximum_age() -> None:
    rules = TokenRules(max_age_seconds=3600)
    now = int(time.time())
    token = issue(PLAYER, SECRET, rules)
    claims = verify(token, SECRET, rules)
    assert claims["exp"] - claims["iat"] == 3600  # issued tokens never outlive the maximum age
    old = raw({**PLAYER, "exp": now + 86400, "iat": now - 3700})
    with pytest.raises(InvalidToken, match="too old"):
        verify(old, SECRET, rules)
    with pytest.raises(InvalidToken, match="'iat'"):
        verify(raw({**PLAYER, "exp": now + 60}), SECRET, rules)
    assert verify(old, SECRET)["user_id"] == "u1"  # no maximum age by default


def test_explicit_claims_win() -> None:
    past = int(time.time()) - 10
    with pytest.raises(InvalidToken, match="expired"):
        verify(issue({**PLAYER, "exp": past}, SECRET), SECRET)


def test_rules_from_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    assert TokenRules.from_env() == TokenRules()
    clean_env.setenv("JWT_REQUIRE_EXP", "false")
    clean_env.setenv("JWT_ISSUER", "https://portal.example")
    clean_env.setenv("JWT_AUDIENCE", "varcade")
    clean_env.setenv("JWT_MAX_AGE_SECONDS", "7200")
    assert TokenRules.from_env() == TokenRules(
        require_exp=False,
        issuer="https://portal.example",
        audience="varcade",
        max_age_seconds=7200,
    )
    for value in ("TRUE", "1", "yes", "on"):
        clean_env.setenv("JWT_REQUIRE_EXP", value)
        assert TokenRules.from_env().require_exp
    clean_env.setenv("JWT_MAX_AGE_SECONDS", "0")
    assert TokenRules.from_env().max_age_seconds is None


@pytest.mark.parametrize(
    ("name", "value"),
    [("JWT_REQUIRE_EXP", "maybe"), ("JWT_MAX_AGE_SECONDS", "-1"), ("JWT_MAX_AGE_SECONDS", "1h")],
)
def test_bad_settings_name_the_variable(
    clean_env: pytest.MonkeyPatch, name: str, value: str
) -> None:
    clean_env.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        TokenRules.from_env()
