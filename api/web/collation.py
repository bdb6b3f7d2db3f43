"""Vietnamese alphabetical order for names of units (DOMAIN.md: Đ after D, diacritics respected).

PostgreSQL's ICU collation "vi-VN-x-icu" sorts this way, but the embedded server is
built without ICU, so lists are sorted here. The key follows the Vietnamese alphabet
(a ă â b c d đ e ê g h i k l m n o ô ơ p q r s t u ư v x y; the Latin letters f j w z,
found in foreign names, at their Latin places) on the first level and the tones
(none, huyền, sắc, hỏi, ngã, nặng) on the second, as dictionaries do: "Ma" < "Má" <
"Mai" (the tone only decides between words that are otherwise equal).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")

ALPHABET = "a ă â b c d đ e ê f g h i j k l m n o ô ơ p q r s t u ư v w x y z".split()
_RANK = {letter: i for i, letter in enumerate(ALPHABET)}
# Combining marks that make a letter of its own (ă â ê ô ơ ư) rather than a tone.
_LETTER_MARKS = {"\u0306": "\u0306", "\u0302": "\u0302", "\u031b": "\u031b"}
# The tones in dictionary order; no mark (thanh ngang) is 0.
_TONES = {"\u0300": 1, "\u0301": 2, "\u0309": 3, "\u0303": 4, "\u0323": 5}


def _letters(text: str) -> list[tuple[str, int]]:
    """(letter, tone) for each character of `text`, letters composed back with their own marks."""
    out: list[tuple[str, int]] = []
    for ch in unicodedata.normalize("NFD", text.strip().lower()):
        if unicodedata.combining(ch):
            if not out:
                continue
            letter, tone = out[-1]
            if ch in _LETTER_MARKS:
                out[-1] = (unicodedata.normalize("NFC", letter + ch), tone)
            else:
                out[-1] = (letter, _TONES.get(ch, tone))
            continue
        out.append(("đ" if ch == "\u0111" else ch, 0))
    return out


def _primary(letter: str) -> tuple[int, int]:
    # Spaces first (so "Em" < "Em Bé" < "Emm"), then digits and other signs, then letters.
    if letter.isspace():
        return (0, 0)
    rank = _RANK.get(letter)
    if rank is None:
        return (1, ord(letter))
    return (2, rank)


def vi_key(text: str) -> tuple[tuple[tuple[int, int], ...], tuple[int, ...], str]:
    """A sort key: letters, then tones, then the text itself (a stable tie-break)."""
    letters = _letters(text)
    return tuple(_primary(letter) for letter, _ in letters), tuple(tone for _, tone in letters), text


def vi_sorted(items: Iterable[T], key: Callable[[T], str] = str) -> list[T]:  # type: ignore[assignment]
    return sorted(items, key=lambda item: vi_key(key(item)))
