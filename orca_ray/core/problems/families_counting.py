"""Problem families about counting things: fractions of quantities, ratios, transfers between people, averages,
ages."""

from __future__ import annotations

import math
from fractions import Fraction
from random import Random

from orca_ray.core.problems.draft import Draft, NoBuild, Target, check_clean, pick_plan
from orca_ray.core.problems.move_table import COUNT_HELD, COUNT_PLAIN, MONEY_HELD
from orca_ray.core.problems.moves import extend
from orca_ray.core.problems.wording import chance, frac, join_list, money, num, people

# items, then ways of taking a part: (sentence with {f} and {them}, short description for the solution)
FRACTION_STORIES = (
    ("stickers", ("gives {f} of {them} to a friend", "uses {f} of {them} on a poster", "trades away {f} of {them}")),
    ("cookies", ("eats {f} of {them}", "gives {f} of {them} to the neighbors", "packs {f} of {them} for a picnic")),
    ("marbles", ("loses {f} of {them}", "gives {f} of {them} to a cousin", "trades {f} of {them} for cards")),
    (
        "beads",
        ("uses {f} of {them} for a necklace", "gives {f} of {them} to a classmate", "sews {f} of {them} on a bag"),
    ),
    ("apples", ("sells {f} of {them}", "bakes {f} of {them} into pies", "gives {f} of {them} away")),
    ("stamps", ("puts {f} of {them} in an album", "sells {f} of {them}", "gives {f} of {them} to a pen pal")),
    ("seeds", ("plants {f} of {them}", "gives {f} of {them} to a neighbor", "stores {f} of {them} for spring")),
)
WHOLES = (
    ("pizza", "slices"),
    ("cake", "pieces"),
    ("pie", "slices"),
    ("chocolate bar", "squares"),
    ("watermelon", "slices"),
    ("loaf of bread", "slices"),
)
PARTS = (
    Fraction(1, 2),
    Fraction(1, 3),
    Fraction(2, 3),
    Fraction(1, 4),
    Fraction(3, 4),
    Fraction(1, 5),
    Fraction(2, 5),
    Fraction(3, 5),
)


def _fraction_left(rng: Random, steps: int) -> Draft:
    """Parts of a collection taken away in turn; each taking is one line (what is left) or two (taken, left)."""
    plans = []
    for stages in (1, 2, 3):
        for twos in range(stages + 1):
            plans.append((stages + twos, (stages, twos)))
    (stages, twos), extra = pick_plan(rng, steps, plans)
    owner = people(rng, 1)[0]
    items, verbs = rng.choice(FRACTION_STORIES)
    parts = [rng.choice(PARTS) for _ in range(stages)]
    total = rng.randint(1, 3) * math.prod(p.denominator for p in parts)
    if total < 6:
        total *= rng.randint(2, 4)
    two_line = set(rng.sample(range(stages), twos))
    body, lines, left = [f"{owner.name} has {total} {items}."], [], Fraction(total)
    for index, part in enumerate(parts):
        them = "them" if index == 0 else rng.choice(("the rest", "what is left", f"the remaining {items}"))
        verb = rng.choice(verbs).format(f=frac(part), them=them)
        body.append(f"{'Then ' + owner.he if index else owner.He} {verb}.")
        taken = left * part
        if index in two_line:
            lines.append(f"{frac(part)} of {num(left)} is {num(left)} x {frac(part)} = {num(taken)} {items}.")
            lines.append(f"That leaves {num(left)} - {num(taken)} = {num(left - taken)} {items}.")
        else:
            lines.append(
                f"{owner.He} keeps {frac(1 - part)} of them: {num(left)} x {frac(1 - part)} = "
                f"{num(left - taken)} {items}."
            )
        left -= taken
    ask = rng.choice((f"How many {items} does {owner.name} have left?", f"How many {items} are left?"))
    target = Target(check_clean(left, "count"), "count", items, f"the {items} {owner.name} has left", owner, COUNT_HELD)
    return extend(Draft(tuple(body), ask, tuple(lines), target), extra, rng)


def _fraction_of_whole(rng: Random, steps: int) -> Draft:
    """What fraction of a cake is eaten or left: an answer written p/q."""
    whole, pieces = rng.choice(WHOLES)
    eaters = people(rng, rng.choice((2, 2, 3)))
    for _ in range(30):
        shares = [Fraction(rng.randint(1, 3), rng.choice((3, 4, 6, 8, 12))) for _ in eaters]
        eaten = sum(shares, Fraction(0))
        if eaten < 1 and eaten.denominator <= 12 and (1 - eaten).denominator <= 12:
            break
    else:
        raise NoBuild("no shares that leave part of the whole")
    said = [f"{p.name} eats {frac(s)} of it" for p, s in zip(eaters, shares, strict=True)]
    body = (f"A {whole} is cut into equal {pieces}. {join_list(said)}.",)
    lines = [f"Together they eat {' + '.join(frac(s) for s in shares)} = {frac(eaten)} of the {whole}."]
    value, state = eaten, "eaten"
    if steps >= 2:
        lines.append(f"The part left is 1 - {frac(eaten)} = {frac(1 - eaten)} of the {whole}.")
        value, state = 1 - eaten, "left"
    words = (("whole", whole), ("pieces", pieces), ("state", state))
    ask = f"What fraction of the {whole} is {state}?"
    target = Target(value, "share", "", f"the part of the {whole} {state}", None, ("of_whole",), words)
    return extend(Draft(body, ask, tuple(lines), target), steps - len(lines), rng)


def fractions(rng: Random, steps: int) -> Draft:
    if steps <= 3 and chance(rng, 35):
        return _fraction_of_whole(rng, steps)
    return _fraction_left(rng, steps)


RATIO_SETTINGS = (
    ("In a jar", "marbles", ("red marbles", "blue marbles", "green marbles")),
    ("At a fruit stand", "pieces of fruit", ("apples", "oranges", "pears")),
    ("In a garden", "flowers", ("roses", "tulips", "daisies")),
    ("On a farm", "animals", ("cows", "goats", "chickens")),
    ("In a box", "pens", ("black pens", "blue pens", "red pens")),
    ("In a parking lot", "vehicles", ("cars", "vans", "trucks")),
    ("On a bookshelf", "books", ("novels", "comics", "atlases")),
    ("In a school choir", "singers", ("sopranos", "altos", "tenors")),
)


def ratios(rng: Random, steps: int) -> Draft:
    # (what is given: one part with ratio 1, one part, or the total; number of parts; what is asked)
    plans = [
        (1, ("unit", 2, "one")),
        (2, ("part", 2, "one")),
        (3, ("part", 2, "total")),
        (3, ("part", 2, "diff")),
        (3, ("total", 2, "one")),
        (3, ("total", 3, "one")),
        (4, ("part", 3, "total")),
        (5, ("total", 2, "diff")),
        (5, ("total", 3, "diff")),
    ]
    (given, n, ask_kind), extra = pick_plan(rng, steps, plans)
    place, all_noun, nouns = rng.choice(RATIO_SETTINGS)
    nouns = rng.sample(nouns, n)
    while True:
        ratio = [rng.randint(1, 9) for _ in range(n)]
        if math.gcd(*ratio) == 1 and len(set(ratio)) == n and (ratio[0] == 1) == (given == "unit"):
            break
    group = rng.randint(2, 15)
    counts = [r * group for r in ratio]
    body = [f"{place}, the ratio of {' to '.join(nouns)} is {':'.join(map(str, ratio))}."]
    lines = []
    if given == "total":
        body.append(f"There are {sum(counts)} {all_noun} in all.")
        lines.append(f"The ratio has {' + '.join(map(str, ratio))} = {sum(ratio)} parts.")
        lines.append(f"Each part is {sum(counts)} / {sum(ratio)} = {group} {all_noun}.")
        known: list[int] = []
    else:
        body.append(f"There are {counts[0]} {nouns[0]}.")
        if given == "part":
            lines.append(f"Each part is {counts[0]} / {ratio[0]} = {group} {nouns[0]}.")
        known = [0]
    if ask_kind == "one":
        needed = [rng.randrange(n) if given == "total" else n - 1]
    elif ask_kind == "total":
        needed = list(range(n))
    else:
        needed = rng.sample(range(n), 2) if given == "total" else [0, rng.randrange(1, n)]
    for index in needed:
        if index not in known:
            lines.append(f"There are {ratio[index]} x {group} = {counts[index]} {nouns[index]}.")
    if ask_kind == "one":
        noun = nouns[needed[0]]
        ask = f"How many {noun} are there?"
        target = Target(Fraction(counts[needed[0]]), "count", noun, f"the {noun}", None, COUNT_PLAIN)
    elif ask_kind == "total":
        lines.append(f"In all there are {' + '.join(map(str, counts))} = {sum(counts)} {all_noun}.")
        ask = f"How many {all_noun} are there in all?"
        target = Target(Fraction(sum(counts)), "count", all_noun, f"the {all_noun}", None, COUNT_PLAIN)
    else:
        big, small = sorted(needed, key=counts.__getitem__, reverse=True)
        difference = counts[big] - counts[small]
        lines.append(f"There are {counts[big]} - {counts[small]} = {difference} more {nouns[big]} than {nouns[small]}.")
        ask = f"How many more {nouns[big]} than {nouns[small]} are there?"
        target = Target(
            Fraction(difference),
            "count",
            nouns[big],
            "the difference",
            None,
            ("diff_grow",),
            (("other_noun", nouns[small]),),
        )
    return extend(Draft(tuple(body), ask, tuple(lines), target), extra, rng)


TRANSFER_ITEMS = ("marbles", "stickers", "baseball cards", "stamps", "seashells", "pencils", "coins", "beads")


def transfers(rng: Random, steps: int) -> Draft:
    """Things (or dollars) passing between people; the solution follows only the people the question asks about."""
    use_money = chance(rng, 30)
    items = "dollars" if use_money else rng.choice(TRANSFER_ITEMS)
    a, b, c = people(rng, 3)
    have = {p.name: Fraction(rng.randint(12, 60)) for p in (a, b, c)}
    together = steps >= 3 and chance(rng, 40)
    tracked = {a.name, b.name} if together else {a.name}
    intro = [
        f"{p.name} has {'$' + money(have[p.name]) if use_money else num(have[p.name])}"
        + ("" if use_money else f" {items}")
        for p in (a, b, c)
    ]
    body, lines = [f"{join_list(intro)}."], []
    budget = steps - 1 if together else steps
    used: set[str] = set()
    while budget > 0:
        body_line, changes = _transfer_event(rng, a, b, c, have, items, use_money, tracked, budget, used)
        body.append(body_line)
        for name, old, op, amount in changes:
            new = old + amount if op == "+" else old - amount if op == "-" else old * amount if op == "x" else old / 2
            shown = "2" if op == "/" else money(amount) if use_money else num(amount)
            writer = money if use_money else num
            lines.append(f"{name} now has {writer(old)} {op} {shown} = {writer(new)} {items}.")
            budget -= 1
    if together:
        total = have[a.name] + have[b.name]
        writer = money if use_money else num
        lines.append(f"Together they have {writer(have[a.name])} + {writer(have[b.name])} = {writer(total)} {items}.")
        ask = f"How many {items} do {a.name} and {b.name} have together now?"
        target = Target(
            total,
            "money" if use_money else "count",
            items,
            f"the {items} {a.name} and {b.name} have",
            None,
            COUNT_PLAIN if not use_money else ("split_earnings",),
        )
    else:
        ask = f"How {'much money' if use_money else 'many ' + items} does {a.name} have now?"
        target = Target(
            have[a.name],
            "money" if use_money else "count",
            items,
            f"{a.his} money" if use_money else f"the {items} {a.name} has",
            a,
            MONEY_HELD if use_money else COUNT_HELD,
        )
    return Draft(tuple(body), ask, tuple(lines), target)


def _transfer_event(rng, a, b, c, have, items, use_money, tracked, budget, used):
    """One event: its sentence and the solution lines it needs as (name, old value, op, amount)."""

    def say(amount):
        return f"${money(amount)}" if use_money else f"{num(amount)} {items}"

    kinds = ["give", "receive", "buy", "lose", "half", "double", "aside"]
    while True:
        kind = rng.choice(kinds)
        giver, taker = rng.sample([a, b, c], 2)
        cost = (giver.name in tracked) + (taker.name in tracked) if kind in ("give", "receive") else 0
        if kind in ("give", "receive") and 1 <= cost <= budget:
            amount = Fraction(rng.randint(1, max(1, int(have[giver.name]) // 2)))
            changes = [
                (p.name, have[p.name], op, amount) for p, op in ((giver, "-"), (taker, "+")) if p.name in tracked
            ]
            have[giver.name] -= amount
            have[taker.name] += amount
            return f"{giver.name} gives {taker.name} {say(amount)}.", changes
        if kind == "aside" and budget >= 1:  # an event about someone the question does not follow
            others = [p for p in (a, b, c) if p.name not in tracked]
            if others:
                other = rng.choice(others)
                amount = Fraction(rng.randint(2, 15))
                have[other.name] += amount
                return f"{other.name} {'earns' if use_money else 'buys'} {say(amount)} more.", []
            continue
        person = rng.choice([p for p in (a, b) if p.name in tracked])
        old = have[person.name]
        if kind in ("buy", "lose"):
            amount = Fraction(rng.randint(2, 20)) if kind == "buy" else Fraction(rng.randint(1, max(1, int(old) // 3)))
            have[person.name] = old + amount if kind == "buy" else old - amount
            verb = ("earns" if use_money else "buys") if kind == "buy" else ("spends" if use_money else "loses")
            return f"{person.name} {verb} {say(amount)}.", [(person.name, old, "+" if kind == "buy" else "-", amount)]
        if kind == "half" and old.denominator == 1 and old % 2 == 0 and old >= 4:
            have[person.name] = old / 2
            return (
                f"{person.name} gives half of {person.his} {'money' if use_money else items} to charity.",
                [(person.name, old, "/", Fraction(2))],
            )
        if kind == "double" and old <= 80 and "double" not in used:
            used.add("double")  # at most once: two doublings in a row read like a mistake
            have[person.name] = old * 2
            what = "money" if use_money else "number of " + items
            return f"{person.name}'s {what} doubles after a gift.", [(person.name, old, "x", Fraction(2))]


AVERAGE_SETTINGS = (  # unit, what one value is, sentence with {Owner}, {values} and {n}, what the average is of
    ("points", "tests", "{Owner} scores {values} points on {n} tests.", "score per test"),
    ("pages", "days", "{Owner} reads {values} pages on {n} days.", "number of pages per day"),
    ("minutes", "days", "{Owner} practices the violin for {values} minutes on {n} days.", "practice time per day"),
    ("kilometers", "rides", "{Owner} cycles {values} kilometers on {n} rides.", "distance per ride"),
    ("dollars", "days", "{Owner} earns {values} dollars on {n} days.", "earnings per day"),
    ("push-ups", "days", "{Owner} does {values} push-ups on {n} days.", "number of push-ups per day"),
)  # the one-step variant writes the same sentence with the total: "reads 240 pages in all on 6 days"


def _values_with_mean(rng: Random, n: int, mean: Fraction) -> list[Fraction]:
    while True:
        values = [mean + rng.randint(-8, 8) for _ in range(n - 1)]
        last = n * mean - sum(values)
        if last > 0 and all(v > 0 for v in values) and last.denominator == 1:
            return [*values, last]


def averages(rng: Random, steps: int) -> Draft:
    plans = [(1, "given"), (2, "mean"), (3, "missing"), (4, "add"), (5, "groups")]
    variant, extra = pick_plan(rng, steps, plans)
    owner = people(rng, 1)[0]
    unit, per, sentence, what = rng.choice(AVERAGE_SETTINGS)
    n = rng.randint(3, 6)
    mean = Fraction(rng.randint(8, 90))
    values = _values_with_mean(rng, n, mean)
    fill = dict(Owner=owner.name, n=n)
    if variant == "given":
        total = mean * n
        body = [sentence.format(values=f"{num(total)}", **fill).replace(f" {unit} ", f" {unit} in all ", 1)]
        lines = [f"The average is {num(total)} / {n} = {num(mean)} {unit}."]
    elif variant == "missing":
        body = [
            sentence.format(values=join_list([num(v) for v in values[:-1]]), **{**fill, "n": n - 1}),
            f"{owner.He} wants an average of {num(mean)} {unit} over {n} {per}.",
        ]
        lines = [
            f"{owner.He} needs {n} x {num(mean)} = {num(n * mean)} {unit} in all.",
            f"So far {owner.he} has {' + '.join(num(v) for v in values[:-1])} = {num(sum(values[:-1]))} {unit}.",
            f"The last one must be {num(n * mean)} - {num(sum(values[:-1]))} = {num(values[-1])} {unit}.",
        ]
        ask = f"How many {unit} does {owner.name} need on the last of the {n} {per}?"
        target = Target(
            values[-1],
            "count",
            unit,
            f"the {unit} needed on the last of the {per}",
            owner,
            ("project",),
            (("items", per),),
        )
        return extend(Draft(tuple(body), ask, tuple(lines), target), extra, rng)
    elif variant == "groups":
        return extend(_group_average(rng), extra, rng)
    else:
        body = [sentence.format(values=join_list([num(v) for v in values]), **fill)]
        total = sum(values)
        lines = [
            f"The total is {' + '.join(num(v) for v in values)} = {num(total)} {unit}.",
            f"The average is {num(total)} / {n} = {num(mean)} {unit}.",
        ]
        if variant == "add":
            new = Fraction(rng.randint(1, 100))
            while ((total + new) / (n + 1)).denominator != 1:
                new += 1
            body.append(f"The next time, {owner.he} gets {num(new)} {unit}.")
            lines += [
                f"The new total is {num(total)} + {num(new)} = {num(total + new)} {unit}.",
                f"The new average is {num(total + new)} / {n + 1} = {num((total + new) / (n + 1))} {unit}.",
            ]
            mean = (total + new) / (n + 1)
    ask = f"What is {owner.name}'s average {what}{' now' if variant == 'add' else ''}?"
    target = Target(mean, "measure", unit, f"the average {what}", owner, ("project",), (("items", per),))
    return extend(Draft(tuple(body), ask, tuple(lines), target), extra, rng)


def _group_average(rng: Random) -> Draft:
    """Two classes with their own averages; the combined average is whole by construction."""
    for _ in range(50):
        n1, n2, mean = rng.randint(8, 30), rng.randint(8, 30), rng.randint(65, 88)
        g = math.gcd(n1, n2)
        t = rng.choice((-2, -1, 1, 2)) * rng.randint(1, 3)
        a1, a2 = mean + n2 // g * t, mean - n1 // g * t
        if 40 <= a1 <= 100 and 40 <= a2 <= 100:
            break
    else:
        raise NoBuild("no two class averages in range")
    body = (
        f"In one class, {n1} students have an average score of {a1}. In another class, {n2} students have an "
        f"average score of {a2}."
    )
    t1, t2 = n1 * a1, n2 * a2
    mean = Fraction(t1 + t2, n1 + n2)
    lines = (
        f"The first class scores {n1} x {a1} = {t1} points in all.",
        f"The second class scores {n2} x {a2} = {t2} points in all.",
        f"Together they score {t1} + {t2} = {t1 + t2} points.",
        f"There are {n1} + {n2} = {n1 + n2} students.",
        f"The average is {t1 + t2} / {n1 + n2} = {num(mean)} points.",
    )
    target = Target(mean, "measure", "points", "the average score", None, ("project",), (("items", "students"),))
    return Draft((body,), "What is the average score of all the students together?", lines, target)


def ages(rng: Random, steps: int) -> Draft:
    plans = [(r + (ask != "person"), (r, ask)) for r in (1, 2, 3, 4) for ask in ("person", "future", "sum")]
    (relations, ask_kind), extra = pick_plan(rng, steps, plans)
    group = people(rng, relations + 1)
    age = {group[0].name: Fraction(rng.randint(3, 14))}
    facts, lines = [f"{group[0].name} is {num(age[group[0].name])} years old."], []
    for index in range(1, relations + 1):
        base, person = group[rng.randint(max(0, index - 2), index - 1)], group[index]
        old = age[base.name]
        options = ["older", "younger"] + (["times"] if old <= 20 else []) + (["half"] if old % 2 == 0 else [])
        kind = rng.choice(options)
        k = rng.randint(2, 4) if kind == "times" else rng.randint(1, 12)
        if kind == "younger" and old - k < 1:
            kind = "older"
        new = {"older": old + k, "younger": old - k, "times": old * k, "half": old / 2}[kind]
        age[person.name] = check_clean(new, "age")
        facts.append(
            {
                "older": f"{person.name} is {k} years older than {base.name}.",
                "younger": f"{person.name} is {k} years younger than {base.name}.",
                "times": f"{person.name} is {k} times as old as {base.name}.",
                "half": f"{person.name} is half as old as {base.name}.",
            }[kind]
        )
        op = {"older": f"+ {k}", "younger": f"- {k}", "times": f"x {k}", "half": "/ 2"}[kind]
        lines.append(f"{person.name} is {num(old)} {op} = {num(new)} years old.")
    if chance(rng, 30):  # the reader must find the starting fact
        facts = facts[1:] + facts[:1]
    last = group[-1]
    if ask_kind == "future":
        years = rng.randint(2, 20)
        lines.append(
            f"In {years} years, {last.name} will be {num(age[last.name])} + {years} = "
            f"{num(age[last.name] + years)} years old."
        )
        ask = f"How old will {last.name} be in {years} years?"
        target = Target(
            age[last.name] + years,
            "age",
            "years",
            f"{last.name}'s age in {years} years",
            last,
            ("then_older",),
            (("when", f"in {years} years"),),
        )
    elif ask_kind == "sum":
        total = sum(age.values())
        lines.append(f"Together they are {' + '.join(num(age[p.name]) for p in group)} = {num(total)} years old.")
        ask = f"What is the sum of the ages of {join_list([p.name for p in group])}?"
        target = Target(total, "count", "years", "the sum of their ages", None, ("join_sum",))
    else:
        ask = f"How old is {last.name}?"
        target = Target(age[last.name], "age", "years", f"{last.name}'s age", last, ("future_age", "older", "parent"))
    return extend(Draft(tuple(facts), ask, tuple(lines), target), extra, rng)
