"""English number words at the start of a final answer, read exactly: 'twelve', 'twenty-one', 'two hundred and
five', 'one and a half', 'two fifths', 'minus four', 'twenty percent', 'two point five'. What could mean two
things is refused with the reason, never guessed: 'three quarters' (coins, or 3/4), a bare 'half' or 'third',
'five dozen' (a count of dozens, or 60), 'twelve or thirteen', 'one two three'.

    >>> read_number_words("twenty-one apples.")
    Words(value=Fraction(21, 1), percent=False, refusal=None)
    >>> read_number_words("one and a half hours").value, read_number_words("the red one") is None
    (Fraction(3, 2), True)
    >>> read_number_words("three quarters").refusal
    "'three quarters' is ambiguous: quarter coins, or a fraction"
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import NamedTuple

UNITS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9}
TEENS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9}
# Denominators, singular and plural. 'second' is left out: 'two seconds' is a time, not 2/2.
_DENOMINATOR_STEMS = {
    "half": (2, "halves"), "third": (3, "thirds"), "quarter": (4, "quarters"), "fourth": (4, "fourths"),
    "fifth": (5, "fifths"), "sixth": (6, "sixths"), "seventh": (7, "sevenths"), "eighth": (8, "eighths"),
    "ninth": (9, "ninths"), "tenth": (10, "tenths"), "eleventh": (11, "elevenths"), "twelfth": (12, "twelfths"),
    "hundredth": (100, "hundredths"),
}  # fmt: skip
SINGULAR = {word: d for word, (d, _) in _DENOMINATOR_STEMS.items()}
PLURAL = {plural: d for _, (d, plural) in _DENOMINATOR_STEMS.items()}
_QUARTERS = {"quarter", "quarters"}  # also coins: only unambiguous after 'and' ('one and a quarter')
_DOZENS = {"dozen", "dozens"}
_NUMBER_WORDS = {*UNITS, *TEENS, *TENS, "hundred", *SCALES, *SINGULAR, *PLURAL, *_DOZENS, "point"}
_WORD_RE = re.compile(r"[A-Za-z]+")
_SEPARATOR_RE = re.compile(r"[ \t]+|[ \t]*-[ \t]*")  # between two words of one number: spaces or one hyphen
_MAX_WORDS = 24  # 'nine hundred and ninety-nine million ...': longer runs are prose


class Words(NamedTuple):
    value: Fraction | None
    percent: bool = False
    refusal: str | None = None  # why words that name numbers were not read as one


class _Refused(Exception):
    pass


def _words(text: str) -> tuple[list[str], str]:
    """The leading words of `text` (lower case), joined by spaces or single hyphens, and the text after them."""
    words: list[str] = []
    position = 0
    while len(words) < _MAX_WORDS:
        m = _WORD_RE.match(text, position)
        if m is None:
            break
        words.append(m.group(0).lower())
        position = m.end()
        sep = _SEPARATOR_RE.match(text, position)
        if sep is None or not _WORD_RE.match(text, sep.end()):
            break
        position = sep.end()
    return words, text[position:]


def _below_hundred(words: list[str], i: int) -> tuple[int | None, int]:
    """1-99 written as 'seven', 'twelve', 'forty', 'forty-two' at words[i]."""
    word = words[i] if i < len(words) else ""
    if word in TEENS:
        return TEENS[word], i + 1
    if word in TENS:
        unit = words[i + 1] if i + 1 < len(words) else ""
        if unit in UNITS and UNITS[unit]:
            return TENS[word] + UNITS[unit], i + 2
        return TENS[word], i + 1
    if word in UNITS:
        return UNITS[word], i + 1
    return None, i


def _cardinal(words: list[str], i: int) -> tuple[int | None, int]:
    """A whole number at words[i] ('a hundred and five', 'two million three hundred thousand'), or None."""
    total, last_scale, read_any = 0, None, False
    while i < len(words):
        if words[i] in ("a", "an") and i + 1 < len(words) and (words[i + 1] == "hundred" or words[i + 1] in SCALES):
            small, j = 1, i + 1
        else:
            small, j = _below_hundred(words, i)
        if small is None:
            break
        i = j
        if i < len(words) and words[i] == "hundred":
            if small == 0:
                raise _Refused("'zero hundred' is not a number")
            small, i = small * 100, i + 1
            skip_and = i + 1 < len(words) and words[i] == "and" and _below_hundred(words, i + 1)[0] is not None
            rest, j = _below_hundred(words, i + 1 if skip_and else i)
            if rest is not None:
                small, i = small + rest, j
        read_any = True
        if i < len(words) and words[i] in SCALES:
            scale = SCALES[words[i]]
            if last_scale is not None and scale >= last_scale:
                raise _Refused(f"'{' '.join(words[: i + 1])}' is not one number")
            total, last_scale, i = total + small * scale, scale, i + 1
            if i + 1 < len(words) and words[i] == "and" and _below_hundred(words, i + 1)[0] is not None:
                i += 1  # 'one thousand and five'
            continue
        total += small
        break
    return (total if read_any else None), i


def _fraction_word(words: list[str], i: int, numerator: int, after_and: bool) -> Fraction | None:
    """numerator/d for a denominator word at words[i] ('two fifths', 'a third'); None when there is none."""
    word = words[i] if i < len(words) else ""
    if word not in SINGULAR and word not in PLURAL:
        return None
    if word in _QUARTERS and not after_and:
        raise _Refused(f"'{' '.join(words[: i + 1])}' is ambiguous: quarter coins, or a fraction")
    if (word in PLURAL) != (numerator != 1):
        raise _Refused(f"'{' '.join(words[: i + 1])}' does not say one fraction")
    return Fraction(numerator, SINGULAR.get(word) or PLURAL[word])


def _value(words: list[str]) -> tuple[Fraction | None, int]:
    """The number at the start of `words` and how many words it took; None when they name no number."""
    negative = bool(words) and words[0] in ("minus", "negative")
    i = int(negative)
    whole, i = _cardinal(words, i)
    if whole is None:
        word = words[i] if i < len(words) else ""
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if word in ("a", "an", "one") and (nxt in _DOZENS):
            raise _Refused(f"'{word} {nxt}' is ambiguous: a count of dozens, or twelve each")
        if word in ("a", "an") and (part := _fraction_word(words, i + 1, 1, after_and=False)) is not None:
            return (-part if negative else part), i + 2
        if word in SINGULAR or word in PLURAL:
            raise _Refused(f"'{word}' alone is not a number (an ordinal, or a share of something)")
        if negative:
            raise _Refused(f"'{words[0]}' is not followed by a number")
        return None, 0
    value = Fraction(whole)
    word = words[i] if i < len(words) else ""
    if word in _DOZENS:
        raise _Refused(f"'{' '.join(words[: i + 1])}' is ambiguous: a count of dozens, or twelve each")
    if (part := _fraction_word(words, i, whole, after_and=False)) is not None:
        value, i = part, i + 1
    elif word == "and" and i + 1 < len(words):
        if words[i + 1] in ("a", "an", "one"):
            part, j = _fraction_word(words, i + 2, 1, after_and=True), i + 3
        else:
            numerator, j = _below_hundred(words, i + 1)
            part = _fraction_word(words, j, numerator, after_and=True) if numerator else None
            j += 1
        if part is not None:
            if part >= 1:
                raise _Refused(f"'{' '.join(words[:j])}' is not a mixed number")
            value, i = value + part, j
    elif word == "point":
        digits = []
        for nxt in words[i + 1 :]:
            if nxt not in UNITS:
                break
            digits.append(str(UNITS[nxt]))
        if not digits:
            raise _Refused(f"'{' '.join(words[: i + 1])}' has no digits after 'point'")
        value, i = Fraction(f"{whole}.{''.join(digits)}"), i + 1 + len(digits)
    return (-value if negative else value), i


def read_number_words(text: str) -> Words | None:
    """The number that `text` starts with, in English words; None when it does not start with one.

    >>> read_number_words("two fifths of the cake").value, read_number_words("twenty percent").percent
    (Fraction(2, 5), True)
    >>> read_number_words("twelve or thirteen").refusal
    "'twelve or ...' gives alternatives, not one number"
    """
    words, rest = _words(text)
    if not words:
        return None
    try:
        value, used = _value(words)
    except _Refused as refused:
        return Words(None, False, str(refused))
    if value is None:
        return None
    percent = False
    tail = words[used:]
    if tail[:1] == ["percent"] or tail[:2] == ["per", "cent"]:
        percent, used = True, used + (1 if tail[0] == "percent" else 2)
        tail = words[used:]
    said = " ".join(words[:used])
    if tail and tail[0] in _NUMBER_WORDS:
        return Words(None, False, f"'{said} {tail[0]}' is not one number")
    if tail[:1] == ["or"]:  # 'twelve or thirteen', 'twelve or so'
        return Words(None, False, f"'{said} or ...' gives alternatives, not one number")
    number_next = tail[1] in _NUMBER_WORDS if len(tail) > 1 else len(tail) == 1 and rest.lstrip()[:1].isdigit()
    if tail[:1] in (["to"], ["and"]) and number_next:
        return Words(None, False, f"'{said} {tail[0]} ...' gives a range or two numbers, not one")
    if not tail and rest.lstrip()[:1].isdigit():
        return Words(None, False, f"'{said}' is followed by another number")
    return Words(value, percent)
