"""Problem families about measures: rates and work, time and schedules, unit conversion, perimeter and area,
speed and distance, temperatures."""

from __future__ import annotations

from fractions import Fraction
from random import Random

from orca_ray.core.problems.draft import Draft, NoBuild, Target, check_clean, pick_plan
from orca_ray.core.problems.move_table import COUNT_MADE, DISTANCE, TEMP, TIME_SPENT
from orca_ray.core.problems.moves import extend
from orca_ray.core.problems.wording import cap, chance, dollars, frac, has_decimals, join_list, money, num, people

MACHINES = (  # subject, unit, per, verb (3rd person), past participle
    ("A printer", "pages", "minute", "prints", "printed"),
    ("A bottling machine", "bottles", "minute", "fills", "filled"),
    ("A bakery", "muffins", "hour", "bakes", "baked"),
    ("A toy factory", "toys", "hour", "makes", "made"),
    ("A packing team", "boxes", "hour", "packs", "packed"),
    ("A sewing machine", "stitches", "second", "sews", "sewn"),
    ("A farm stand", "ears of corn", "hour", "sells", "sold"),
)
JOBS = (
    ("paint", "the fence"),
    ("clean", "the house"),
    ("mow", "the lawn"),
    ("fill", "the pool"),
    ("build", "the shed"),
    ("weed", "the garden"),
)


def _segments(rng: Random, steps: int) -> Draft:
    plans = [(k + (k >= 2) + goal, (k, goal)) for k in (1, 2, 3, 4) for goal in (0, 1)]
    (k, goal), extra = pick_plan(rng, steps, plans)
    subject, unit, per, verb, done = rng.choice(MACHINES)
    rates = [rng.randint(3, 40) for _ in range(k)]
    times = [rng.randint(2, 15) for _ in range(k)]
    made = [r * t for r, t in zip(rates, times, strict=True)]
    parts = [f"for {t} {per}s at {r} {unit} per {per}" for r, t in zip(rates, times, strict=True)]
    if k == 1:
        body = [f"{subject} {verb} {rates[0]} {unit} per {per}. It works for {times[0]} {per}s."]
    else:
        body = [f"{subject} works {parts[0]}, then {join_list(parts[1:])}."]
    lines = [
        f"At {r} {unit} per {per} for {t} {per}s, it {verb} {r} x {t} = {m} {unit}."
        for r, t, m in zip(rates, times, made, strict=True)
    ]
    total = sum(made)
    if k >= 2:
        lines.append(f"In all it {verb} {' + '.join(map(str, made))} = {total} {unit}.")
    base = verb[:-1] if verb.endswith("s") else verb
    if goal:
        order = total + rng.randint(5, 200)
        body.append(f"The order is for {order} {unit}.")
        lines.append(f"Still to be {done}: {order} - {total} = {order - total} {unit}.")
        ask = f"How many more {unit} must be {done} to finish the order?"
        target = Target(
            Fraction(order - total),
            "count",
            unit,
            f"the {unit} still to be {done}",
            None,
            ("order_grows",),
            (("made", done),),
        )
    else:
        ask = rng.choice((f"How many {unit} does it {base} in all?", f"How many {unit} are {done} in all?"))
        target = Target(Fraction(total), "count", unit, f"the {unit} {done}", None, COUNT_MADE, (("made", done),))
    return extend(Draft(tuple(body), ask, tuple(lines), target), extra, rng)


def _together(rng: Random, steps: int) -> Draft:
    """Workers with rates per hour finish a job of N units together."""
    subject, unit, per, verb, done = rng.choice(MACHINES[:5])
    workers = people(rng, rng.choice((2, 2, 3)))
    rates = [rng.randint(2, 20) for _ in workers]
    hours = Fraction(rng.randint(2, 16), 2)
    job = sum(rates) * hours
    if job.denominator != 1:
        hours *= 2
        job *= 2
    said = [f"{p.name} can {verb[:-1]} {r} {unit} an hour" for p, r in zip(workers, rates, strict=True)]
    body = (f"{join_list(said)}.", f"They need to {verb[:-1]} {num(job)} {unit}.")
    ask = "Working together, how many hours will it take them?"
    lines = (
        f"Together they {verb[:-1]} {' + '.join(map(str, rates))} = {sum(rates)} {unit} an hour.",
        f"They need {num(job)} / {sum(rates)} = {num(hours)} hours.",
    )
    target = Target(hours, "time", "hours", "the time they need", None, TIME_SPENT)
    return extend(Draft(body, ask, lines, target), steps - 2, rng)


def _shared_job(rng: Random, steps: int) -> Draft:
    """Classic work problem: each alone takes a hours; together 1 / (1/a + 1/b) hours."""
    task, thing = rng.choice(JOBS)
    workers = people(rng, 2)
    for _ in range(50):
        alone = [rng.randint(2, 20) for _ in workers]
        rate = sum(Fraction(1, a) for a in alone)
        if has_decimals(1 / rate) and rate < 1 and alone[0] != alone[1]:
            break
    else:
        raise NoBuild("no clean shared time")
    said = [f"{p.name} can {task} {thing} alone in {a} hours" for p, a in zip(workers, alone, strict=True)]
    body = (f"{join_list(said)}.",)
    lines = (
        f"Together they do {' + '.join(f'1/{a}' for a in alone)} = {frac(rate)} of the job each hour.",
        f"They need 1 / ({frac(rate)}) = {num(1 / rate)} hours.",
    )
    ask = f"How many hours do they need to {task} {thing} working together?"
    target = Target(1 / rate, "time", "hours", "the time they need", None, TIME_SPENT)
    return extend(Draft(body, ask, lines, target), steps - 2, rng)


def rates(rng: Random, steps: int) -> Draft:
    if steps >= 2 and chance(rng, 35):
        return (_together if chance(rng, 50) else _shared_job)(rng, steps)
    return _segments(rng, steps)


ACTIVITIES = (
    "homework",
    "piano practice",
    "soccer practice",
    "reading",
    "chores",
    "cycling",
    "cooking",
    "drawing",
    "swimming",
    "walking the dog",
    "gardening",
    "knitting",
)


def schedules(rng: Random, steps: int) -> Draft:
    plans = []
    for m in (1, 2, 3, 4):
        for mults in range(m + 1):
            for window in (0, 1):
                for hours in (0, 1):
                    plans.append((mults + (m >= 2) + 2 * window + hours, (m, mults, window, hours)))
    (m, mults, window, to_hours), extra = pick_plan(rng, steps, plans)
    owner = people(rng, 1)[0]
    acts = rng.sample(ACTIVITIES, m)
    repeated = set(rng.sample(range(m), mults))
    minutes, said, lines = [], [], []
    for index, act in enumerate(acts):
        if index in repeated and chance(rng, 40):
            h = rng.randint(1, 3)
            said.append(f"{h} {'hour' if h == 1 else 'hours'} on {act}")
            lines.append(
                f"{h} hours of {act} is {h} x 60 = {60 * h} minutes."
                if h > 1
                else f"1 hour of {act} is 1 x 60 = 60 minutes."
            )
            minutes.append(60 * h)
        elif index in repeated:  # with hours asked, quarter hours keep the answer a short decimal
            times, each = rng.randint(2, 4), rng.choice((15, 30, 45) if to_hours else (10, 15, 20, 25, 30, 40, 45))
            said.append(f"{times} sessions of {each} minutes on {act}")
            lines.append(f"{cap(act)} takes {times} x {each} = {times * each} minutes.")
            minutes.append(times * each)
        else:
            each = rng.choice(
                (15, 30, 45, 60, 75, 90) if to_hours else (10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 75, 90)
            )
            said.append(f"{each} minutes on {act}")
            minutes.append(each)
    total = sum(minutes)
    body = [f"On Saturday, {owner.name} spends {join_list(said)}."]
    if m >= 2:
        lines.append(f"In all that is {' + '.join(map(str, minutes))} = {total} minutes.")
    value, phrase, moves = Fraction(total), f"the time {owner.name} spends", TIME_SPENT
    ask = f"How many minutes does {owner.name} spend on {'these activities' if m > 1 else acts[0]}?"
    if window:
        free_hours = total // 60 + rng.randint(1, 4)
        body.append(f"{owner.He} has {free_hours} hours before dinner.")
        lines.append(f"{free_hours} hours is {free_hours} x 60 = {free_hours * 60} minutes.")
        lines.append(f"{owner.He} has {free_hours * 60} - {total} = {free_hours * 60 - total} minutes left over.")
        value, phrase, moves = Fraction(free_hours * 60 - total), "the time left over", ("convert", "free_week")
        ask = f"How many minutes does {owner.name} have left before dinner?"
    unit = "minutes"
    if to_hours:
        if not has_decimals(value / 60):
            raise NoBuild("not a whole number of hundredths of an hour")
        lines.append(f"{num(value)} minutes is {num(value)} / 60 = {num(value / 60)} hours.")
        value, unit = value / 60, "hours"
        ask = ask.replace("How many minutes", "How many hours")
    target = Target(value, "time", unit, phrase, owner, moves)
    return extend(Draft(tuple(body), ask, tuple(lines), target), extra, rng)


CONVERT_STORIES = (  # big unit, small unit, factor, material, what holds it, portion (one, many), sizes, made
    ("meters", "centimeters", 100, "ribbon", "pieces", ("piece", "pieces"), (10, 20, 25, 40, 50, 75), "cut"),
    ("liters", "milliliters", 1000, "juice", "bottles", ("glass", "glasses"), (125, 200, 250, 500), "filled"),
    ("kilograms", "grams", 1000, "flour", "bags", ("cake", "cakes"), (100, 125, 200, 250, 400, 500), "baked"),
    ("yards", "feet", 3, "rope", "pieces", ("piece", "pieces"), (1, 2, 3), "cut"),
    ("feet", "inches", 12, "wire", "pieces", ("piece", "pieces"), (2, 3, 4, 6, 8), "cut"),
    ("kilograms", "grams", 1000, "rice", "sacks", ("bag", "bags"), (250, 500), "filled"),
    ("liters", "milliliters", 1000, "soup", "pots", ("bowl", "bowls"), (250, 300, 400, 500), "filled"),
)


def units(rng: Random, steps: int) -> Draft:
    plans = []
    for m in (1, 2, 3):
        for big in range(1, m + 1):
            for portion in (0, 1):
                for sell in (0, portion):
                    plans.append((big + (m >= 2) + portion + sell, (m, big, portion, sell)))
    (m, big, portion, sell), extra = pick_plan(rng, steps, plans)
    big_unit, small_unit, factor, material, holders, (per, noun), sizes, made = rng.choice(CONVERT_STORIES)
    owner = people(rng, 1)[0]
    size = rng.choice(sizes)
    amounts, said, lines, small = [], [], [], []
    in_big = set(rng.sample(range(m), big))
    for index in range(m):
        if index in in_big:
            amount = Fraction(rng.randint(1, 12), rng.choice((1, 1, 2, 4)))
            if (amount * factor).denominator != 1:
                amount = Fraction(rng.randint(1, 12))
            big_name = SINGULAR[big_unit] if amount == 1 else big_unit
            said.append(f"{num(amount)} {big_name}")
            lines.append(f"{num(amount)} {big_name} is {num(amount)} x {factor} = {num(amount * factor)} {small_unit}.")
            small.append(amount * factor)
        else:
            amount = Fraction(size * rng.randint(1, 20))
            said.append(f"{num(amount)} {small_unit}")
            small.append(amount)
        amounts.append(amount)
    total = sum(small)
    if m == 1:
        body = [f"{owner.name} has {said[0]} of {material}."]
    else:
        body = [f"{owner.name} has {m} {holders} of {material}: {join_list(said)}."]
    if m >= 2:
        lines.append(f"In all that is {' + '.join(num(s) for s in small)} = {num(total)} {small_unit}.")
    ask = f"How many {small_unit} of {material} does {owner.name} have?"
    words = (("made", made),)
    target = Target(total, "measure", small_unit, f"the amount of {material}", owner, ("convert", "use_part"), words)
    if portion:
        sizes_fit = [s for s in sizes if (total / s).denominator == 1]
        if not sizes_fit:
            raise NoBuild("no portion size divides the total")
        size = rng.choice(sizes_fit)
        body.append(f"Each {per} uses {size} {small_unit}.")
        lines.append(f"{owner.He} can make {num(total)} / {size} = {num(total / size)} {noun}.")
        ask = f"How many {noun} can {owner.name} make?"
        target = Target(total / size, "count", noun, f"the {noun}", None, COUNT_MADE, words)
        if sell:
            price = Fraction(rng.randint(2, 24), 4)
            body.append(f"{owner.He} sells each one for {dollars(price)}.")
            lines.append(
                f"{owner.He} makes {num(total / size)} x {money(price)} = {money(total / size * price)} dollars."
            )
            ask = f"How much money does {owner.name} make?"
            target = Target(total / size * price, "money", "dollars", "the money", owner, ("spend", "earn_more"))
    return extend(Draft(tuple(body), ask, tuple(lines), target), extra, rng)


SINGULAR = {"meters": "meter", "liters": "liter", "kilograms": "kilogram", "yards": "yard", "feet": "foot"}
SQUARES = (
    ("lawn", "grass seed"),
    ("field", "grass seed"),
    ("patio", "paving"),
    ("playground", "rubber matting"),
    ("garden", "mulch"),
)
PLOTS = (
    ("garden", "fencing", "meter"),
    ("yard", "fencing", "meter"),
    ("field", "fencing", "meter"),
    ("pool", "tiles for the edge", "meter"),
    ("playground", "fencing", "meter"),
)
FLOORS = (
    ("carpet", "room", "A cupboard"),
    ("tiles", "kitchen", "A kitchen island"),
    ("wood flooring", "hall", "A built-in shelf"),
    ("grass seed", "lawn", "A flower bed"),
    ("paint", "wall", "A window"),
)


def geometry(rng: Random, steps: int) -> Draft:
    plans = [(1 + two + cost, ("perimeter", two, cost, 0)) for two in (0, 1) for cost in (0, 1)]
    plans += [
        (k + (k >= 2) + cost + cut, ("area", k, cost, cut)) for k in (1, 2, 3) for cost in (0, 1) for cut in (0, 1)
    ]
    plans += [(2 + cost, ("square", 0, cost, 0)) for cost in (0, 1)]
    (shape, k, cost, cut), extra = pick_plan(rng, steps, plans)
    owner = people(rng, 1)[0]
    if shape == "perimeter":
        plot, material, per = rng.choice(PLOTS)
        length, width = sorted(rng.sample(range(4, 60), 2), reverse=True)
        body = [f"{owner.name}'s {plot} is a rectangle {length} meters long and {width} meters wide."]
        perimeter = 2 * (length + width)
        if k:
            lines = [
                f"Length plus width is {length} + {width} = {length + width} meters.",
                f"The perimeter is 2 x {length + width} = {perimeter} meters.",
            ]
        else:
            lines = [f"The perimeter is 2 x {length} + 2 x {width} = {perimeter} meters."]
        ask = f"What is the perimeter of the {plot}, in meters?"
        target = Target(
            Fraction(perimeter),
            "measure",
            "meters",
            f"the perimeter of the {plot}",
            owner,
            ("cost_per",),
            (("material", material), ("unit_one", per)),
        )
    elif shape == "square":
        plot, material = rng.choice(SQUARES)
        side = rng.randint(3, 40)
        body = [f"A square {plot} has a perimeter of {4 * side} meters."]
        lines = [
            f"Each side is {4 * side} / 4 = {side} meters.",
            f"The area is {side} x {side} = {side * side} square meters.",
        ]
        ask = f"What is the area of the {plot} in square meters?"
        target = Target(
            Fraction(side * side),
            "measure",
            "square meters",
            f"the area of the {plot}",
            owner,
            ("cost_per",),
            (("material", material), ("unit_one", "square meter")),
        )
    else:
        material, room, obstacle = rng.choice(FLOORS)
        dims = [(rng.randint(3, 15), rng.randint(2, 12)) for _ in range(k)]
        names = [f"{room} {i + 1}" for i in range(k)] if k > 1 else [f"the {room}"]
        if k > 1:
            body = [
                f"{owner.name} is covering {k} {room}s with {material}. They measure "
                f"{join_list([f'{a} m by {b} m' for a, b in dims])}."
            ]
        else:
            body = [
                f"{owner.name} is covering a {room} that measures {dims[0][0]} m by {dims[0][1]} m with {material}."
            ]
        areas = [a * b for a, b in dims]
        lines = [
            f"The area of {n} is {a} x {b} = {a * b} square meters." for n, (a, b) in zip(names, dims, strict=True)
        ]
        area = sum(areas)
        if k > 1:
            lines.append(f"The total area is {' + '.join(map(str, areas))} = {area} square meters.")
        if cut:
            hole = rng.randint(1, max(1, area // 4))
            body.append(f"{obstacle} takes up {hole} square meters that need no {material}.")
            lines.append(f"{material.capitalize()} is needed for {area} - {hole} = {area - hole} square meters.")
            area -= hole
        ask = f"How many square meters of {material} does {owner.name} need?"
        target = Target(
            Fraction(area),
            "measure",
            "square meters",
            "the area to cover",
            owner,
            ("cost_per",),
            (("material", material), ("unit_one", "square meter")),
        )
    if cost:
        price = Fraction(rng.randint(2, 40), rng.choice((1, 2, 4)))
        material, per = dict(target.words)["material"], dict(target.words)["unit_one"]
        body.append(f"The {material} costs {dollars(price)} per {per}.")
        spent = check_clean(target.value * price, "money")
        lines.append(f"The {material} costs {num(target.value)} x {money(price)} = {money(spent)} dollars.")
        ask = f"How much does the {material} cost?"
        target = Target(
            spent, "money", "dollars", f"the cost of the {material}", owner, ("tax", "discount", "split_cost")
        )
    return extend(Draft(tuple(body), ask, tuple(lines), target), extra, rng)


MODES = (
    ("drives", "kilometers", 40, 90),
    ("cycles", "kilometers", 10, 24),
    ("walks", "kilometers", 3, 6),
    ("rides the train", "miles", 50, 120),
    ("drives", "miles", 30, 70),
    ("rows a boat", "kilometers", 4, 9),
)
HALF_HOURS = (Fraction(1, 2), Fraction(1), Fraction(3, 2), Fraction(2), Fraction(5, 2), Fraction(3), Fraction(4))


def travel(rng: Random, steps: int) -> Draft:
    plans = [(k + (k >= 2), ("legs", k)) for k in (1, 2, 3)]
    plans += [(k + 1 + 2, ("average", k)) for k in (2, 3)] + [(1, ("time", 0)), (2, ("time", 1)), (2, ("left", 1))]
    (variant, k), extra = pick_plan(rng, steps, plans)
    traveler = people(rng, 1)[0]
    verb, unit, low, high = rng.choice(MODES)
    per = "hour"
    words = (("goes", verb),)
    if variant == "time":
        speed, hours = rng.randint(low, high), rng.choice(HALF_HOURS)
        distance = speed * hours
        body = (f"{traveler.name} {verb} {num(distance)} {unit} at {speed} {unit} per {per}.",)
        lines = [f"It takes {num(distance)} / {speed} = {num(hours)} hours."]
        value, time_unit = hours, "hours"
        ask = "How many hours does the trip take?"
        if k:
            lines.append(f"{num(hours)} hours is {num(hours)} x 60 = {num(hours * 60)} minutes.")
            value, time_unit, ask = hours * 60, "minutes", "How many minutes does the trip take?"
        target = Target(value, "time", time_unit, "the travel time", traveler, ("repeat_time", "extra_time"))
        return extend(Draft(body, ask, tuple(lines), target), extra, rng)
    count = max(k, 1)
    for _ in range(30):  # an average speed must come out as a short decimal
        speeds = [rng.randint(low, high) for _ in range(count)]
        times = [rng.choice(HALF_HOURS) for _ in range(count)]
        if variant != "average" or has_decimals(sum(s * t for s, t in zip(speeds, times, strict=True)) / sum(times)):
            break
    dists = [s * t for s, t in zip(speeds, times, strict=True)]
    legs = [
        f"for {num(t)} {'hour' if t == 1 else 'hours'} at {s} {unit} per {per}"
        for s, t in zip(speeds, times, strict=True)
    ]
    body = [f"{traveler.name} {verb} {legs[0]}" + (f", then {join_list(legs[1:])}." if count > 1 else ".")]
    lines = [
        f"At {s} {unit} per {per} for {num(t)} {'hour' if t == 1 else 'hours'}, {traveler.he} goes "
        f"{s} x {num(t)} = {num(d)} {unit}."
        for s, t, d in zip(speeds, times, dists, strict=True)
    ]
    total = sum(dists)
    if count >= 2:
        lines.append(f"In all {traveler.he} goes {' + '.join(num(d) for d in dists)} = {num(total)} {unit}.")
    ask = f"How many {unit} does {traveler.name} travel in all?" if count > 1 else f"How far does {traveler.name} go?"
    target = Target(total, "measure", unit, "the distance", traveler, DISTANCE, words)
    if variant == "left":
        trip = total + rng.randint(5, 300)
        body.insert(0, f"{traveler.name} is on a {trip}-{unit[:-1]} trip.")
        lines.append(f"{traveler.He} still has {trip} - {num(total)} = {num(trip - total)} {unit} to go.")
        ask = f"How many {unit} are left to go?"
        target = Target(
            trip - total, "measure", unit, "the distance left", traveler, ("convert", "extra_distance"), words
        )
    elif variant == "average":
        hours, speed = sum(times), total / sum(times)
        if not has_decimals(speed):
            raise NoBuild("no clean average speed")
        lines.append(f"The trip takes {' + '.join(num(t) for t in times)} = {num(hours)} hours.")
        lines.append(f"The average speed is {num(total)} / {num(hours)} = {num(speed)} {unit} per {per}.")
        ask = f"What is {traveler.name}'s average speed for the whole trip, in {unit} per {per}?"
        target = Target(
            speed,
            "measure",
            f"{unit} per {per}",
            "the average speed",
            traveler,
            ("speed_far",),
            (("dist_unit", unit), *words),
        )
    return extend(Draft(tuple(body), ask, tuple(lines), target), extra, rng)


CITIES = ("Oslo", "Denver", "Winnipeg", "Helsinki", "Chicago", "Moscow", "Calgary", "Boston", "Reykjavik", "Toronto")


def _signed(value: int) -> str:
    return f"({value})" if value < 0 else str(value)


def temperature(rng: Random, steps: int) -> Draft:
    city, temp = rng.choice(CITIES), rng.randint(-12, 20)
    body, lines = [f"At 6 AM the temperature in {city} is {temp} degrees."], []
    budget, low, high = steps - (1 if steps >= 3 and chance(rng, 40) else 0), temp, temp
    while len(lines) < budget:
        if budget - len(lines) >= 2 and chance(rng, 50):
            rate, hours = rng.randint(1, 4), rng.randint(2, 6)
            up = chance(rng, 50)
            body.append(f"It then {'rises' if up else 'falls'} {rate} degrees every hour for {hours} hours.")
            lines.append(f"In {hours} hours it {'rises' if up else 'falls'} {rate} x {hours} = {rate * hours} degrees.")
            change = rate * hours if up else -rate * hours
        else:
            up = chance(rng, 50)
            change = rng.randint(2, 12) * (1 if up else -1)
            body.append(f"{'Then' if lines else 'By noon'} it {'rises' if up else 'drops'} by {abs(change)} degrees.")
        lines.append(f"The temperature is {temp} {'+' if change > 0 else '-'} {abs(change)} = {temp + change} degrees.")
        temp += change
        low, high = min(low, temp), max(high, temp)
    ask = "What is the temperature now?"
    target = Target(Fraction(temp), "temp", "degrees", "the temperature", None, TEMP)
    if len(lines) < steps:
        if high == low:
            raise NoBuild("no change to compare")
        lines.append(f"The difference is {high} - {_signed(low)} = {high - low} degrees.")
        ask = "How many degrees apart are the highest and the lowest temperatures of the day so far?"
        target = Target(Fraction(high - low), "measure", "degrees", "the difference", None, ("spread_more",))
    return Draft(tuple(body), ask, tuple(lines), target)
