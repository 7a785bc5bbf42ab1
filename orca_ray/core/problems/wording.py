"""Words the symbolic teacher writes with: people and their pronouns, and exact numbers written the way a
grade-school solution writes them ('12', '2.5', '$4.50', '3/4').

    >>> num(Fraction(5, 2)), num(Fraction(2, 3)), money(Fraction(9, 2)), dollars(Fraction(9, 2)), frac(Fraction(3, 4))
    ('2.5', '2/3', '4.50', '$4.50', '3/4')
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from random import Random

# (name, 'f' or 'm'): varied on purpose, so the student sees many names in the same role.
NAMES = (
    ("Sara", "f"),
    ("Omar", "m"),
    ("Priya", "f"),
    ("Liam", "m"),
    ("Mia", "f"),
    ("Carlos", "m"),
    ("Aisha", "f"),
    ("Noah", "m"),
    ("Elena", "f"),
    ("Kenji", "m"),
    ("Zoe", "f"),
    ("Mateo", "m"),
    ("Fatima", "f"),
    ("Ethan", "m"),
    ("Grace", "f"),
    ("Ravi", "m"),
    ("Hana", "f"),
    ("Lucas", "m"),
    ("Amara", "f"),
    ("Ben", "m"),
    ("Chloe", "f"),
    ("Diego", "m"),
    ("Ivy", "f"),
    ("Samuel", "m"),
    ("Leila", "f"),
    ("Tom", "m"),
    ("Nina", "f"),
    ("Jamal", "m"),
    ("Rosa", "f"),
    ("Yusuf", "m"),
    ("Emma", "f"),
    ("Kofi", "m"),
    ("Lily", "f"),
    ("Arjun", "m"),
    ("Maya", "f"),
    ("Felix", "m"),
    ("Sofia", "f"),
    ("Hugo", "m"),
    ("Anna", "f"),
    ("Daniel", "m"),
    ("Julia", "f"),
    ("Malik", "m"),
    ("Olivia", "f"),
    ("Wei", "m"),
    ("Nora", "f"),
    ("Pedro", "m"),
    ("Layla", "f"),
    ("Max", "m"),
)


@dataclass(frozen=True)
class Person:
    name: str
    he: str  # subject pronoun
    him: str  # object pronoun
    his: str  # possessive

    @property
    def He(self) -> str:  # noqa: N802 (capitalized on purpose: a sentence starts with it)
        return self.he.capitalize()

    @property
    def His(self) -> str:  # noqa: N802
        return self.his.capitalize()


def person(name: str, gender: str) -> Person:
    return Person(name, "she", "her", "her") if gender == "f" else Person(name, "he", "him", "his")


def people(rng: Random, k: int, avoid: str = "") -> list[Person]:
    """k different people whose names do not occur in `avoid` (the text written so far)."""
    pool = [entry for entry in NAMES if entry[0] not in avoid]
    return [person(*entry) for entry in rng.sample(pool, k)]


def num(value: Fraction | int) -> str:
    """Canonical text of an exact number: an integer, a terminating decimal, or p/q."""
    value = Fraction(value)
    if value.denominator == 1:
        return str(value.numerator)
    den = value.denominator
    while den % 2 == 0:
        den //= 2
    while den % 5 == 0:
        den //= 5
    if den != 1:
        return f"{value.numerator}/{value.denominator}"
    digits = 0
    while (value * 10**digits).denominator != 1:
        digits += 1
    whole, part = divmod(abs(value.numerator) * 10**digits // value.denominator, 10**digits)
    return f"{'-' if value < 0 else ''}{whole}.{part:0{digits}d}"


def frac(value: Fraction | int) -> str:
    """A fraction written as p/q (integers stay integers): the form a 'what fraction' question expects."""
    value = Fraction(value)
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def money(value: Fraction | int) -> str:
    """Dollars in a calculation: '12' or '12.50' (cents always two digits)."""
    value = Fraction(value)
    if value.denominator == 1:
        return str(value.numerator)
    cents = value * 100
    if cents.denominator != 1:
        raise ValueError(f"{value} is not a whole number of cents")
    whole, part = divmod(abs(cents.numerator), 100)
    return f"{'-' if value < 0 else ''}{whole}.{part:02d}"


def dollars(value: Fraction | int) -> str:
    return f"${money(value)}"


def is_cents(value: Fraction) -> bool:
    return (Fraction(value) * 100).denominator == 1


def has_decimals(value: Fraction, places: int = 2) -> bool:
    """True when `value` is written exactly with at most `places` decimal digits."""
    return (Fraction(value) * 10**places).denominator == 1


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def a_an(noun: str) -> str:
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def join_list(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def plural(count: Fraction | int, one: str, many: str) -> str:
    return one if Fraction(count) == 1 else many


def chance(rng: Random, percent: int) -> bool:
    """True `percent` times in a hundred (integers only: the package keeps floats out of its arithmetic)."""
    return rng.randrange(100) < percent
