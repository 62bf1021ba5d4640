"""names: player names cleaned of what cannot be seen or reorders text, bounded like the page's."""

from __future__ import annotations

import pytest
from varcade_workers.names import (
    USERNAME_MAX_LENGTH,
    InvalidUsername,
    check_username,
    clean_username,
    username_length,
)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("alice", "alice"),
        ("  bob  ", "bob"),  # trimmed, like the page's .trim()
        ("Zoë ж 李 🎮", "Zoë ж 李 🎮"),  # printable text of any script stays
        ("bad\nname", "bad name"),  # line breaks and tabs are whitespace
        ("a \t\r\n\u00a0\u2003\u3000 b", "a b"),  # a run of any spaces becomes one space
        ("a\u2028b\u2029c", "a b c"),  # Unicode line and paragraph separators
        ("nul\x00bel\x07esc\x1b[31m", "nulbelesc[31m"),  # C0 controls
        ("del\x7fnel\x85csi\x9b", "delnel csi"),  # DEL and C1 controls (NEL is a line break)
        ("abc\u202eevil", "abcevil"),  # right-to-left override
        ("\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069\u200e\u200f\u061cx", "x"),  # bidi
        ("zero\u200bwidth\u200c\u200d\u2060\ufeff", "zerowidth"),  # zero-width and BOM
        ("soft\u00adhyphen", "softhyphen"),
        ("tag\U000e0041\U000e007f", "tag"),  # tag characters
        ("lone\ud800surrogate\udfff", "lonesurrogate"),  # from JSON "\ud800"
        ("private\ue000use\U000f0000", "privateuse"),
        ("\u3164\u115f\u1160\uffa0\u2800x", "x"),  # Hangul fillers, Braille blank
        ("heart\u2764\ufe0f", "heart\u2764"),  # variation selectors
        ("cgj\u034f", "cgj"),
        ("\u0301\u0308 accents", "accents"),  # combining marks with nothing to combine with
        ("e\u0301", "\u00e9"),  # NFC: one name is one string
        ("e\u200b\u0301", "\u00e9"),  # what is left after removal is normalized too
        ("", ""),
        (" \u200b ", ""),
    ],
)
def test_clean_username(raw: str, clean: str) -> None:
    assert clean_username(raw) == clean
    assert clean_username(clean) == clean  # cleaning a clean name changes nothing


def test_a_clean_name_is_printable_and_encodable() -> None:
    every_bmp = "".join(chr(code) for code in range(0x10000))
    cleaned = clean_username(every_bmp)
    assert cleaned.isprintable()  # nothing left that str.isprintable() rejects (space aside)
    cleaned.encode("utf-8")  # strict: no lone surrogate left


def test_username_length_counts_like_javascript() -> None:
    assert username_length("abc") == 3
    assert username_length("é") == 1
    assert username_length("🎮") == 2  # outside the BMP: a surrogate pair in UTF-16
    assert username_length("") == 0


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("alice", "alice"),
        ("  alice\u202e ", "alice"),
        ("x" * USERNAME_MAX_LENGTH, "x" * USERNAME_MAX_LENGTH),
        ("é" * USERNAME_MAX_LENGTH, "é" * USERNAME_MAX_LENGTH),
        ("🎮" * (USERNAME_MAX_LENGTH // 2), "🎮" * (USERNAME_MAX_LENGTH // 2)),
        ("x" * USERNAME_MAX_LENGTH + "\u200b" * 100, "x" * USERNAME_MAX_LENGTH),  # after cleaning
        ("a" + " " * 200 + "b", "a b"),
        ("1", "1"),
        ("!", "!"),
    ],
)
def test_check_username_accepts(raw: str, name: str) -> None:
    assert check_username(raw) == name


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (None, "must be a string"),
        (42, "must be a string"),
        (b"alice", "must be a string"),
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("\u200b\u202e\ufeff", "must not be empty"),  # invisible only
        ("\u3164\u3164", "must not be empty"),  # Hangul fillers look like nothing
        ("\u0301\u0302", "must not be empty"),  # combining marks alone
        ("x" * (USERNAME_MAX_LENGTH + 1), f"at most {USERNAME_MAX_LENGTH} characters, got 33"),
        ("🎮" * (USERNAME_MAX_LENGTH // 2) + "x", "got 33"),  # 17 code points, 33 UTF-16 units
        ("x" * 5000, "got 5000"),  # several KB: refused before any cleaning
        ("\u200b" * 5000 + "bob", "at most"),
    ],
)
def test_check_username_refuses(value: object, fragment: str) -> None:
    with pytest.raises(InvalidUsername, match=fragment):
        check_username(value)


def test_invalid_username_is_a_value_error() -> None:
    assert issubclass(InvalidUsername, ValueError)
