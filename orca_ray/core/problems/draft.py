"""A problem while it is being written: the sentences of the question, one solution line per reasoning step, and
the quantity the question asks for (its exact value, what it measures, and which follow-up steps suit it).

    >>> t = Target(Fraction(12), "money", "dollars", "the total cost")
    >>> d = Draft(("Sara buys 3 pens at $4 each.",), "How much does she pay?", ("She pays 3 x 4 = 12 dollars.",), t)
    >>> d.question, d.answer, d.steps
    ('Sara buys 3 pens at $4 each. How much does she pay?', '12', 1)
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from orca_ray.core.problems.wording import frac, has_decimals, is_cents, money, num
from orca_ray.core.prompts import final_answer_line

# What a quantity is decides how it is written and which values count as clean.
KINDS = ("money", "count", "measure", "time", "age", "share", "temp")


class NoBuild(Exception):  # noqa: N818 (a signal, not an error: the generator retries with the next attempt)
    """The random choices of one attempt led nowhere clean (e.g. no divisor fits); try the next attempt."""


@dataclass(frozen=True)
class Target:
    """The quantity a question asks for."""

    value: Fraction
    kind: str  # one of KINDS
    unit: str  # the word(s) written after the number: 'dollars', 'stickers', 'meters', 'minutes'
    phrase: str  # a definite noun phrase for it: 'the total cost', 'the cookies Sara has left'
    owner: object = None  # the Person who holds or pays it, when there is one
    moves: tuple[str, ...] = ()  # names of the follow-up steps (moves.MOVES) that read naturally after it
    words: tuple[tuple[str, str], ...] = ()  # extra words some moves need, e.g. (('made', 'baked'),)


def is_clean(value: Fraction, kind: str) -> bool:
    """Whether a value is one a grade-school problem of this kind would have: whole items, cents, short decimals."""
    if kind == "temp":
        return value.denominator == 1
    if value <= 0:
        return False
    if kind in ("count", "age"):
        return value.denominator == 1 and (kind == "count" or value <= 100)
    if kind == "money":
        return is_cents(value)
    if kind == "share":
        return value.denominator <= 12 or has_decimals(value)
    return has_decimals(value)  # measure, time


def show(value: Fraction, kind: str) -> str:
    """A value as written in a solution line."""
    return money(value) if kind == "money" else frac(value) if kind == "share" else num(value)


def answer_text(value: Fraction, kind: str) -> str:
    """The canonical answer: '12', '2.5', '3/4', '-4'; a 'what fraction' answer stays p/q."""
    return frac(value) if kind == "share" else num(value)


@dataclass(frozen=True)
class Draft:
    body: tuple[str, ...]  # the sentences before the question
    ask: str  # the question sentence
    lines: tuple[str, ...]  # the solution: one calculation per line, one line per reasoning step
    target: Target

    @property
    def question(self) -> str:
        return " ".join((*self.body, self.ask))

    @property
    def answer(self) -> str:
        return answer_text(self.target.value, self.target.kind)

    @property
    def solution(self) -> str:
        return "\n".join((*self.lines, final_answer_line(self.answer)))

    @property
    def steps(self) -> int:
        return len(self.lines)


def check_clean(value: Fraction, kind: str) -> Fraction:
    """`value`, or NoBuild when it is not clean for its kind (the builder's random choices were unlucky)."""
    if not is_clean(value, kind):
        raise NoBuild(f"{value} is not a clean {kind}")
    return value


def pick_plan(rng, steps: int, plans: list[tuple[int, object]]) -> tuple[object, int]:
    """A plan whose own step count is `steps`, else one of the longest shorter ones; returns (plan, steps left over
    for follow-up moves).

    >>> from random import Random
    >>> pick_plan(Random(0), 5, [(1, "a"), (2, "b"), (3, "c")])
    ('c', 2)
    """
    exact = [plan for cost, plan in plans if cost == steps]
    if exact:
        return rng.choice(exact), 0
    shorter = [cost for cost, _ in plans if 1 <= cost < steps]
    if not shorter:
        raise NoBuild(f"no plan of at most {steps} steps")
    best = max(shorter)
    return rng.choice([plan for cost, plan in plans if cost == best]), steps - best
