"""Player names as other players see them: one cleaning rule and one length bound for every service
that shows a name it did not choose itself (the game page's ``/dev/token``, the matchmaker for the
``username`` claim of a player JWT, ...).

The bound is the game page's own (``game_rps/client``: the sign-in field has ``maxlength="32"``,
and the page trims the name and refuses an empty one); the cleaning makes text from anywhere safe
to show next to other people's names:

1. characters that cannot be seen, or that change how the text around them is shown, are removed:
   control characters (C0, C1), format characters (bidi overrides, embeddings and isolates,
   zero-width spaces and joiners, the byte order mark, soft hyphens, tags ...), lone surrogates,
   private-use and unassigned code points, the other default-ignorable code points (variation
   selectors, Hangul fillers, the combining grapheme joiner, ...) and the Braille blank;
2. every run of whitespace (any Unicode space, tab, line or paragraph break) becomes one space,
   and spaces at either end are dropped, as are combining marks with nothing before them;
3. the result is NFC-normalized (so that one name is one string, whichever way it was typed).

A clean name has 1 to :data:`USERNAME_MAX_LENGTH` characters counted as the page counts them (UTF-16
code units, JavaScript's ``String.length``: an emoji outside the Basic Multilingual Plane counts 2),
and at least one letter, digit, punctuation mark or symbol.

::

    from varcade_workers import names

    names.clean_username("  bob\\u202e\\u200b ")  # "bob"
    names.check_username(claims.get("username"))   # the clean name, or InvalidUsername (a message
                                                   # to show the player)
"""

from __future__ import annotations

import unicodedata
from typing import Final

__all__ = [
    "USERNAME_MAX_LENGTH",
    "InvalidUsername",
    "check_username",
    "clean_username",
    "username_length",
]

#: The page's sign-in field: ``<input id="username" maxlength="32">`` (game_rps/client/index.html).
USERNAME_MAX_LENGTH: Final = 32

# Unicode general categories removed: control, format, surrogate, private use, unassigned.
_REMOVED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
# Default-ignorable code points outside those categories (Unicode's DerivedCoreProperties), and
# U+2800 BRAILLE PATTERN BLANK: all render as nothing or as blank space.
_REMOVED_RANGES: Final = (
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x115F, 0x1160),  # Hangul choseong / jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian free variation selectors (and vowel separator)
    (0x2800, 0x2800),  # Braille pattern blank
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0xE0100, 0xE01EF),  # variation selectors supplement
)
# A longer raw value is refused without being cleaned (bounded work for any input).
_MAX_RAW_LENGTH: Final = 1024
# What a clean name must contain at least one of: letters, marks excluded, digits, punctuation,
# symbols (a name of spaces and accents alone shows as nothing).
_VISIBLE_CATEGORY_CLASSES: Final = frozenset("LNPS")


class InvalidUsername(ValueError):
    """A name that cannot be used; the message says why and may be shown to the player."""


def _removed(char: str) -> bool:
    if unicodedata.category(char) in _REMOVED_CATEGORIES:
        return True
    code = ord(char)
    return any(low <= code <= high for low, high in _REMOVED_RANGES)


def clean_username(text: str) -> str:
    """``text`` cleaned (module docstring: invisible and direction-changing characters removed,
    whitespace runs made one space, trimmed, leading combining marks dropped, NFC); the result
    may be empty or too long: :func:`check_username` checks that."""
    kept: list[str] = []
    for char in text:
        if char.isspace():
            if kept and kept[-1] != " ":
                kept.append(" ")
        elif not _removed(char):
            kept.append(char)
    start = 0
    while start < len(kept) and (kept[start] == " " or unicodedata.category(kept[start])[0] == "M"):
        start += 1
    return unicodedata.normalize("NFC", "".join(kept[start:]).rstrip(" "))


def username_length(text: str) -> int:
    """The length as the page (JavaScript, HTML ``maxlength``) counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def check_username(value: object) -> str:
    """The clean name (:func:`clean_username`) if it is 1 to :data:`USERNAME_MAX_LENGTH`
    characters long (:func:`username_length`) and shows something; :class:`InvalidUsername`
    otherwise (also for a value that is not a string)."""
    if not isinstance(value, str):
        raise InvalidUsername("username must be a string")
    if len(value) > _MAX_RAW_LENGTH:  # not worth cleaning: no page sends that much
        raise InvalidUsername(
            f"username must be at most {USERNAME_MAX_LENGTH} characters, got {len(value)}"
        )
    name = clean_username(value)
    if not any(unicodedata.category(char)[0] in _VISIBLE_CATEGORY_CLASSES for char in name):
        raise InvalidUsername(
            "username must not be empty (spaces and invisible characters do not count)"
        )
    length = username_length(name)
    if length > USERNAME_MAX_LENGTH:
        raise InvalidUsername(
            f"username must be at most {USERNAME_MAX_LENGTH} characters, got {length}"
        )
    return name
