"""Player tokens: HS256 JWT with user_id and username."""

import time

import jwt
import pytest
from matchmaker.auth import (
    AuthError,
    Player,
    decode_player_token,
    issue_player_token,
    player_from_header,
)

SECRET = "a-test-secret-long-enough-for-hs256-and-hs512-keys-xxxxxxxxxxxxxx"
OTHER = "another-secret-long-enough-for-hs256-keys"
EXP = int(time.time()) + 3600  # tokens must carry exp


def test_valid_token_gives_the_player():
    token = issue_player_token("u1", "Ann", SECRET)
    assert decode_player_token(token, SECRET) == Player("u1", "Ann")
    assert player_from_header(f"Bearer {token}", SECRET) == Player("u1", "Ann")
    assert player_from_header(f"bearer  {token} ", SECRET) == Player("u1", "Ann")


def test_numeric_user_id_becomes_a_string():
    token = jwt.encode({"user_id": 42, "username": "Ann", "exp": EXP}, SECRET, "HS256")
    assert decode_player_token(token, SECRET).user_id == "42"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "Missing"),
        ("", "Missing"),
        ("Token abc", "Bearer"),
        ("Bearer", "Bearer"),
        ("Bearer not.a.jwt", "malformed"),
        (f"Bearer {issue_player_token('u1', 'Ann', OTHER)}", "signature"),
        (f"Bearer {issue_player_token('u1', 'Ann', SECRET, exp=int(time.time()) - 10)}", "expired"),
        (f"Bearer {jwt.encode({'username': 'Ann', 'exp': EXP}, SECRET, 'HS256')}", "user_id"),
        (f"Bearer {jwt.encode({'user_id': 'u1', 'exp': EXP}, SECRET, 'HS256')}", "username"),
        (f"Bearer {jwt.encode({'user_id': 'u1', 'username': 'A'}, SECRET, 'HS512')}", "malformed"),
        (f"Bearer {jwt.encode({'user_id': 'u1', 'username': 'A'}, SECRET, 'HS256')}", "'exp'"),
    ],
)
def test_bad_headers_are_refused_with_a_reason(header, message):
    with pytest.raises(AuthError, match=message):
        player_from_header(header, SECRET)


def test_unsigned_token_is_refused():
    token = jwt.encode({"user_id": "u1", "username": "Ann"}, None, algorithm="none")
    with pytest.raises(AuthError):
        decode_player_token(token, SECRET)


def test_usernames_from_tokens_are_cleaned_like_the_page_names():
    token = jwt.encode({"user_id": "u1", "username": "  Ann\u202e\u200b  Lee ", "exp": EXP}, SECRET)
    assert decode_player_token(token, SECRET).username == "Ann Lee"


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"user_id": "u1", "username": "x" * 5000}, "name"),
        ({"user_id": "u1", "username": "\u202e\u200b"}, "name"),
        ({"user_id": "u" * 200, "username": "Ann"}, "user_id"),
        ({"user_id": "u\x1b1", "username": "Ann"}, "user_id"),
    ],
)
def test_oversized_or_invisible_claims_are_refused(claims, message):
    token = jwt.encode({**claims, "exp": EXP}, SECRET)
    with pytest.raises(AuthError, match=message):
        decode_player_token(token, SECRET)
