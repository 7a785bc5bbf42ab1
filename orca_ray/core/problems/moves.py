"""Follow-up steps that add one reasoning step to a problem: a tax after the total, a share among friends, a second
purchase, a unit conversion. The "make it harder" transform (Orca-Math's Suggester and Editor) applies one; the
families apply some to reach a requested step count.

Each move is data: an operation on the target's value, a way to pick its number, and wordings for the sentence it
adds, the new question and the solution line. `{calc}` in a line is the calculation, e.g. '12 x 1.08 = 12.96'.

    >>> from orca_ray.core.problems.draft import Draft, Target
    >>> t = Target(Fraction(40), "money", "dollars", "the total cost", moves=("tax",))
    >>> d = apply_move(Draft(("Sara pays $40.",), "How much?", ("40 = 40",), t), "tax", Random(1))
    >>> d.steps, d.target.value > 40, d.lines[-1].endswith("dollars.")
    (2, True, True)
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from random import Random

from orca_ray.core.problems.draft import Draft, NoBuild, Target, is_clean, show
from orca_ray.core.problems.move_table import MOVES, Move
from orca_ray.core.problems.wording import cap, chance, dollars, has_decimals, num, people, plural

# unit -> (other unit, factor): value in the other unit = value x factor
CONVERSIONS = {
    "minutes": (("hours", Fraction(1, 60)), ("seconds", Fraction(60))),
    "hours": (("minutes", Fraction(60)),),
    "meters": (("centimeters", Fraction(100)),),
    "centimeters": (("meters", Fraction(1, 100)), ("millimeters", Fraction(10))),
    "kilometers": (("meters", Fraction(1000)),),
    "kilograms": (("grams", Fraction(1000)),),
    "grams": (("kilograms", Fraction(1, 1000)),),
    "liters": (("milliliters", Fraction(1000)),),
    "milliliters": (("liters", Fraction(1, 1000)),),
    "feet": (("inches", Fraction(12)), ("yards", Fraction(1, 3))),
    "yards": (("feet", Fraction(3)),),
    "miles": (("feet", Fraction(5280)),),
    "days": (("hours", Fraction(24)),),
    "weeks": (("days", Fraction(7)),),
}

THINGS = (
    "a snack",
    "a comic book",
    "a bus ticket",
    "a birthday card",
    "lunch",
    "a movie ticket",
    "a bracelet",
    "a toy",
    "school supplies",
    "a plant",
)
JOBS = ("walking dogs", "doing chores", "selling lemonade", "washing cars", "helping a neighbor", "babysitting")
GETS = ("buys", "gets", "receives", "finds", "wins")
ACTIVITIES = ("reading", "stretching", "tidying up", "practicing piano", "on homework", "on a walk")


def _divisors(value: Fraction, low: int, high: int, kind: str) -> list[int]:
    return [d for d in range(low, high + 1) if is_clean(value / d, kind)]


def _candidates(pick: str, value: Fraction, kind: str, rng: Random) -> list[Fraction]:
    """Values of k to try, in order; the first that keeps the result clean is used."""
    ints: list[int]
    if pick in ("few", "people"):
        ints = list(range(2, 5 if pick == "few" else 7))
    elif pick in ("weeks", "days"):
        ints = list(range(2, 8))
    elif pick == "tax":
        ints = [5, 8, 10, 15, 20, 25]
    elif pick == "off":
        ints = [10, 15, 20, 25, 30, 40, 50]
    elif pick == "divisor":  # at least two in each part: 'fills 1 bags' reads badly and is too easy
        ints = [d for d in _divisors(value, 2, 12, kind) if value / d >= 2]
    elif pick == "more_time":
        ints = list(range(5, 65, 5)) if value.denominator == 1 and value >= 20 else [1, 2, 3]
    elif pick == "less_count":
        ints = list(range(1, min(int(value), 30)))
    elif pick in ("more_count", "degrees", "years"):
        ints = list(range(2, {"more_count": 25, "degrees": 13, "years": 16}[pick]))
    elif pick == "whole":
        ints = [value.denominator * m for m in range(2, 7)]
    elif pick == "part_of":  # a round part of the value: 'uses 500 milliliters of it', 'uses 0.25 kilograms'
        parts = {value * j / d for d in (10, 4, 2) for j in range(1, d)}
        found = sorted(p for p in parts if has_decimals(p))
        rng.shuffle(found)
        return found
    elif pick == "pct_base":
        step = (value / 100).denominator
        ints = [step * m for m in range(1, 400 // step + 2) if step * m >= 10][:12] or [step]
    else:
        return _money_candidates(pick, value, rng)
    rng.shuffle(ints)
    return [Fraction(i) for i in ints]


def _money_candidates(pick: str, value: Fraction, rng: Random) -> list[Fraction]:
    if pick == "less_money":
        top = min(int(value * 3), 320)  # in quarters: at most 3/4 of the value, and at most $80
        found = {Fraction(rng.randint(1, top), 4) for _ in range(6)} if top >= 1 else set()
        ordered = sorted(found)
        rng.shuffle(ordered)
        return ordered
    if pick in ("more_money", "small_money"):
        top = 30 if pick == "more_money" else 5
        return [Fraction(rng.randint(4, top * 4), 4) for _ in range(4)]
    if pick == "price":
        # whole dollars first in half the cases: those keep any 2-decimal quantity in whole cents
        found = [Fraction(rng.randint(1, 12)) for _ in range(3)] + [Fraction(rng.randint(2, 40), 4) for _ in range(3)]
        return found[3:] + found[:3] if chance(rng, 50) else found
    if pick == "pct_money":
        return [Fraction(rng.randint(2, 40) * 10) for _ in range(6)]
    if pick == "convert":
        raise AssertionError("conversions are handled by apply_move")
    raise ValueError(f"unknown pick {pick!r}")


def _result(op: str, value: Fraction, k: Fraction) -> Fraction:
    return {
        "mul": lambda: value * k,
        "of": lambda: value * k,
        "convert": lambda: value * k,
        "div": lambda: value / k,
        "add": lambda: value + k,
        "sub": lambda: value - k,
        "up": lambda: value * (100 + k) / 100,
        "down": lambda: value * (100 - k) / 100,
        "pct_of": lambda: value * k / 100,
    }[op]()


def _calc(op: str, value: Fraction, k: Fraction, new: Fraction, kind: str, new_kind: str, k_kind: str) -> str:
    v, n = show(value, kind), show(new, new_kind)
    kk = show(k, "money") if k_kind == "money" else num(k)
    if op == "convert" and k.numerator == 1:
        return f"{v} / {k.denominator} = {n}"
    if op == "pct_of":
        return f"{kk} x {v}/100 = {n}"
    if op in ("up", "down"):
        return f"{v} x {num((100 + k if op == 'up' else 100 - k) / 100)} = {n}"
    symbol = {"mul": "x", "of": "x", "convert": "x", "div": "/", "add": "+", "sub": "-"}[op]
    return f"{kk} x {v} = {n}" if op == "of" else f"{v} {symbol} {kk} = {n}"


def _choose(move: Move, target: Target, rng: Random) -> tuple[Fraction, Fraction, str] | None:
    """(k, new value, new unit) for the first candidate that keeps the result clean."""
    new_kind = move.kind or target.kind
    if move.op == "convert":
        options = list(CONVERSIONS.get(target.unit, ()))
        rng.shuffle(options)
        for unit, factor in options:
            if is_clean(target.value * factor, new_kind):
                return factor, target.value * factor, unit
        return None
    for k in _candidates(move.pick, target.value, target.kind, rng):
        new = _result(move.op, target.value, k)
        if is_clean(new, new_kind) and new != target.value:
            return k, new, move.unit or target.unit
    return None


def apply_move(draft: Draft, name: str, rng: Random) -> Draft | None:
    """The draft with one more step, or None when this move does not fit its target."""
    move, target = MOVES[name], draft.target
    wordings = [w for w in move.wordings if w.who is None or w.who == (target.owner is not None)]
    chosen = _choose(move, target, rng) if wordings else None
    if chosen is None:
        return None
    k, new, unit = chosen
    wording = rng.choice(wordings)
    owner = target.owner
    other = people(rng, 1, avoid=draft.question)[0]
    fields = dict(target.words)
    fields.update(
        k=dollars(k) if move.k_kind == "money" else num(k),
        k1=num(k - 1),
        friends=plural(k - 1, "friend", "friends"),
        phrase=target.phrase,
        Phrase=cap(target.phrase),
        unit=target.unit,
        to_unit=unit,
        Other=other.name,
        thing=rng.choice(THINGS),
        job=rng.choice(JOBS),
        gets=rng.choice(GETS),
        activity=rng.choice(ACTIVITIES),
    )
    if "when" in fields:
        fields["When"] = cap(fields["when"])
    fields.setdefault("made", "made")
    fields.setdefault("arrive", "are added")
    fields.setdefault("goes", "travels")
    if "material" in fields:
        fields["Material"] = cap(fields["material"])
    if owner is not None:
        fields.update(Owner=owner.name, he=owner.he, him=owner.him, his=owner.his)
    new_kind = move.kind or target.kind
    fields["calc"] = _calc(move.op, target.value, k, new, target.kind, new_kind, move.k_kind)
    new_owner = other if move.owner == "other" else None if move.owner == "none" else owner
    new_unit = move.unit.format(**fields) if move.unit else unit
    # the new phrase speaks of the new owner, e.g. "the money Ben gets"
    phrase_fields = {**fields, "Owner": new_owner.name if new_owner is not None else ""}
    moves = move.then if move.then is not None else target.moves
    if move.op == "convert":
        moves = tuple(m for m in moves if m != "convert")
    if move.op == "convert":  # a price per unit no longer fits the new unit
        moves = tuple(m for m in moves if m != "cost_per")
    words = dict(target.words) | {key: text.format(**fields) for key, text in move.words}
    new_target = replace(
        target,
        value=new,
        kind=new_kind,
        unit=new_unit,
        phrase=move.phrase.format(**phrase_fields),
        owner=new_owner,
        moves=moves,
        words=tuple(words.items()),
    )
    body = draft.body + ((wording.body.format(**fields),) if wording.body else ())
    line = cap(wording.line.format(**fields))
    return Draft(body, wording.ask.format(**fields), (*draft.lines, line), new_target)


def extend(draft: Draft, extra: int, rng: Random) -> Draft:
    """Apply `extra` follow-up moves, each chosen at random among those that fit; NoBuild when none fits."""
    for _ in range(extra):
        names = list(draft.target.moves)
        rng.shuffle(names)
        for name in names:
            extended = apply_move(draft, name, rng)
            if extended is not None:
                draft = extended
                break
        else:
            raise NoBuild(f"no move fits {draft.target.phrase!r} ({draft.target.value})")
    return draft
